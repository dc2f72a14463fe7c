"""Administration: reload the model now. Registered only when an admin token is configured."""

from __future__ import annotations

from fastapi import Depends, FastAPI, HTTPException
from fastapi.security import HTTPBearer

from streamrec.serving.deps import StoreDep
from streamrec.serving.reload import ReloadError
from streamrec.serving.schemas import ReloadResponse

GUARDED = frozenset({("POST", "/admin/reload")})
"""The routes (method, path) that need the admin token: see :func:`register`."""


async def reload_model(store: StoreDep) -> ReloadResponse:
    """Load model_path in the background, check it and swap it in; requests keep flowing."""
    try:
        result = await store.reload()
    except ReloadError as exc:
        raise HTTPException(409, detail=f"model file {store.path} was not loaded: {exc}") from exc
    return ReloadResponse(
        model_version=result.model_version,
        previous_version=result.previous_version,
        seconds=round(result.seconds, 3),
    )


def register(app: FastAPI) -> None:
    """Add the admin routes to ``app``.

    Each needs ``Authorization: Bearer <admin_token>``, checked by
    :class:`streamrec.serving.security.BearerTokenGuard` for the routes in :data:`GUARDED` (the app
    adds it); the dependency here only declares the scheme in the OpenAPI schema.
    """
    bearer = HTTPBearer(
        auto_error=False, scheme_name="admin_token", description="The admin_token setting."
    )
    app.post(
        "/admin/reload",
        response_model=ReloadResponse,
        summary="Reload the model from model_path now",
        responses={
            401: {"description": "Missing or wrong admin token."},
            429: {"description": "Too many wrong tokens from this client; see Retry-After."},
            409: {"description": "The file is not a usable model; the old model keeps serving."},
        },
        dependencies=[Depends(bearer)],
        tags=["admin"],
    )(reload_model)

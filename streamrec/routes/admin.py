"""Administration: reload the model now. Registered only when an admin token is configured."""

from __future__ import annotations

from fastapi import Depends, FastAPI, HTTPException

from streamrec.deps import StoreDep, bearer_token
from streamrec.reload import ReloadError
from streamrec.schemas import ReloadResponse


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
    """Add the admin routes to ``app``; each requires the bearer token (a client that keeps
    sending wrong ones is locked out for a while, see :class:`streamrec.security.FailureThrottle`).
    """
    require_admin = bearer_token("admin_token", "admin routes")
    app.post(
        "/admin/reload",
        response_model=ReloadResponse,
        summary="Reload the model from model_path now",
        responses={
            401: {"description": "Missing or wrong admin token."},
            429: {"description": "Too many wrong tokens from this client; see Retry-After."},
            409: {"description": "The file is not a usable model; the old model keeps serving."},
        },
        dependencies=[Depends(require_admin)],
        tags=["admin"],
    )(reload_model)

"""Administration: reload the model now. Registered only when an admin token is configured."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from streamrec.deps import SettingsDep, StoreDep
from streamrec.reload import ReloadError
from streamrec.schemas import ReloadResponse
from streamrec.security import FailureThrottle, client_of, too_many_failures

_bearer = HTTPBearer(auto_error=False, description="The admin_token setting.")


async def require_admin(
    request: Request,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Let the request through only with ``Authorization: Bearer <admin_token>``.

    A client that keeps sending wrong tokens is locked out for a while (429, see
    :class:`streamrec.security.FailureThrottle`).
    """
    throttle: FailureThrottle = request.app.state.admin_throttle
    client = client_of(request.scope)
    wait = throttle.retry_after(client)
    if wait > 0:
        status, headers, detail = too_many_failures(wait, "admin token")
        raise HTTPException(status, detail=detail, headers=headers)
    expected = settings.admin_token.get_secret_value().encode()
    given = credentials.credentials.encode() if credentials else b""
    if not expected or not secrets.compare_digest(given, expected):
        if credentials:  # a wrong token is a guess; no token at all is not
            throttle.failed(client)
        raise HTTPException(
            401,
            detail="admin routes need the header 'Authorization: Bearer <admin_token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    throttle.succeeded(client)


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
    """Add the admin routes to ``app``; each requires the bearer token."""
    app.state.admin_throttle = FailureThrottle()
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

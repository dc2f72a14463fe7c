"""Administration: reload the model now. Registered only when an admin token is configured."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from streamrec.deps import SettingsDep, StoreDep
from streamrec.reload import ReloadError
from streamrec.schemas import ReloadResponse

_bearer = HTTPBearer(auto_error=False, description="The admin_token setting.")


async def require_admin(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Let the request through only with ``Authorization: Bearer <admin_token>``."""
    expected = settings.admin_token.get_secret_value().encode()
    given = credentials.credentials.encode() if credentials else b""
    if not expected or not secrets.compare_digest(given, expected):
        raise HTTPException(
            401,
            detail="admin routes need the header 'Authorization: Bearer <admin_token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )


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
    app.post(
        "/admin/reload",
        response_model=ReloadResponse,
        summary="Reload the model from model_path now",
        responses={
            401: {"description": "Missing or wrong admin token."},
            409: {"description": "The file is not a usable model; the old model keeps serving."},
        },
        dependencies=[Depends(require_admin)],
        tags=["admin"],
    )(reload_model)

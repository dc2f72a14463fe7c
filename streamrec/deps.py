"""Dependencies shared by the routes: the model being served, the settings, the metrics.

They are ``async`` so that FastAPI calls them on the event loop instead of a worker thread.
The two hot routes skip FastAPI's dependency machinery (about 15 µs per dependency per request,
measured, against a whole request of about 100 µs) and call :func:`serving` instead, and they
render their JSON with :func:`json_response` rather than through a response model.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import orjson
from fastapi import Depends, HTTPException, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from streamrec.monitoring import Monitoring
from streamrec.recommender import Recommender
from streamrec.reload import ModelStore
from streamrec.security import FailureThrottle, client_of, too_many_failures
from streamrec.settings import Settings


async def get_store(request: Request) -> ModelStore:
    return request.app.state.store


async def get_recommender(request: Request) -> Recommender:
    """The model at the start of the request; the request keeps it even if a reload swaps."""
    return request.app.state.store.current


async def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_monitoring(request: Request) -> Monitoring:
    return request.app.state.monitoring


def serving(request: Request) -> tuple[Recommender, Settings, Monitoring]:
    """The model at the start of the request, the settings and the metrics, in one call."""
    state = request.app.state
    return state.store.current, state.settings, state.monitoring


def json_response(payload: dict[str, Any]) -> Response:
    """A JSON response rendered by orjson, skipping response-model validation."""
    return Response(orjson.dumps(payload), media_type="application/json")


StoreDep = Annotated[ModelStore, Depends(get_store)]
RecommenderDep = Annotated[Recommender, Depends(get_recommender)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
MonitoringDep = Annotated[Monitoring, Depends(get_monitoring)]


def bearer_token(setting: str, routes: str) -> Callable[..., Awaitable[None]]:
    """A dependency that lets a request through only with ``Authorization: Bearer <token>``.

    The token is the secret setting named ``setting``; ``routes`` names the routes in the 401
    ("admin routes need ..."). Each call makes its own :class:`FailureThrottle`, so a client
    that keeps sending wrong tokens is locked out for a while (429) from these routes.
    """
    bearer = HTTPBearer(
        auto_error=False, scheme_name=setting, description=f"The {setting} setting."
    )
    throttle = FailureThrottle()

    # A default rather than Annotated: FastAPI resolves string annotations in the module's
    # globals, where this function's ``bearer`` is not.
    async def require(
        request: Request,
        credentials: HTTPAuthorizationCredentials | None = Depends(bearer),  # noqa: B008
    ) -> None:
        client = client_of(request.scope)
        wait = throttle.retry_after(client)
        if wait > 0:
            status, headers, detail = too_many_failures(wait, setting.replace("_", " "))
            raise HTTPException(status, detail=detail, headers=headers)
        secret = getattr(request.app.state.settings, setting)
        expected = secret.get_secret_value().encode()
        given = credentials.credentials.encode() if credentials else b""
        if not expected or not secrets.compare_digest(given, expected):
            if credentials:  # a wrong token is a guess; no token at all is not
                throttle.failed(client)
            raise HTTPException(
                401,
                detail=f"{routes} need the header 'Authorization: Bearer <{setting}>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        throttle.succeeded(client)

    return require

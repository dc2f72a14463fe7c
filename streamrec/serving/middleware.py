"""Request plumbing: refuse oversized bodies early, and render every validation error."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_BODYLESS = frozenset({"GET", "HEAD", "OPTIONS"})


class BodySizeLimit:
    """Answer 422 to a request whose body exceeds ``max_bytes``.

    A declared ``Content-Length`` over the limit is refused without reading the body (the
    server never delivers more than the declared length); a body without one (chunked) is read
    up to the limit and refused as soon as it goes over. The
    error has FastAPI's validation shape, so clients handle every limit the same way. Requests
    without a body pass straight through, so the hot GET path pays nothing.

    Parameters
    ----------
    app : ASGI application
        The wrapped application.
    max_bytes : int
        Largest accepted body.
    paths : mapping of str to int, optional
        A different limit for these paths (e.g. the live set's writes).
    """

    def __init__(
        self, app: ASGIApp, max_bytes: int, paths: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.paths = dict(paths or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in _BODYLESS:
            await self.app(scope, receive, send)
            return
        limit = self.paths.get(scope["path"], self.max_bytes)
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit():
                if int(value) > limit:
                    await self._refuse(send, limit, f"got {int(value)}")
                    return
                # The server delivers no more than the declared length: nothing to count.
                await self.app(scope, receive, send)
                return
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > limit:
                await self._refuse(send, limit, "got more")
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send, limit: int, got: str) -> None:
        detail = [
            {
                "type": "body_too_large",
                "loc": ["body"],
                "msg": f"Request body must be at most {limit} bytes, {got}",
            }
        ]
        body = orjson.dumps({"detail": detail})
        await send(
            {
                "type": "http.response.start",
                "status": 422,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


async def validation_error_handler(request: Request, exc: RequestValidationError) -> Response:
    """FastAPI's 422 response, but one that can always be rendered.

    The default handler echoes the bad input with ``json.dumps(allow_nan=False)``, so
    ``{"watch_time": NaN}`` (which the JSON parser accepts) became a 500; non-finite numbers
    are echoed as strings instead. A body that is not JSON gets FastAPI's generic message
    "JSON decode error" followed by what is wrong (see
    :func:`streamrec.serving.routing.decode_json`).
    """
    errors = [_explained(error) for error in exc.errors()]
    body = json.dumps({"detail": _finite(jsonable_encoder(errors))})
    return Response(body, status_code=422, media_type="application/json")


def _explained(error: dict[str, Any]) -> dict[str, Any]:
    reason = (error.get("ctx") or {}).get("error")
    if error.get("type") == "json_invalid" and isinstance(reason, str):
        return error | {"msg": f"{error['msg']}: {reason}"}
    return error


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value

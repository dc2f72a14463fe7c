"""How requests reach the routes: JSON bodies decoded strictly, and a 405 that lists every method.

FastAPI turns a JSON syntax error into a 422, but any other failure to decode a body (bytes that
are not UTF-8, arrays nested thousands deep, an integer of thousands of digits) into a 400 that
names nothing. :class:`JSONBodyRoute` decodes bodies itself and reports each of those as the
same 422 as a syntax error, saying what is wrong. :func:`method_not_allowed` answers a 405 with
the methods of every route on the path: Starlette names only those of the first route that
matched, so ``OPTIONS /recomendations/user/1`` said ``Allow: GET`` though POST exists too.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.routing import Match

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def decode_json(body: bytes) -> Any:
    """Decode a request body as JSON, with an exact error for every way it can fail.

    Parameters
    ----------
    body : bytes
        The request body; it must be UTF-8 (RFC 8259), a leading byte-order mark is ignored.

    Returns
    -------
    object
        The decoded value (``NaN`` and ``Infinity`` are decoded as Python does; the request
        models refuse them).

    Raises
    ------
    json.JSONDecodeError
        Its ``msg`` says what is wrong: the JSON syntax, a byte that is not UTF-8, nesting too
        deep for the parser, or an integer with more digits than Python converts.

    Examples
    --------
    >>> decode_json(b'{"k": 3}')
    {'k': 3}
    >>> decode_json(b'{"k": "\\xff"}')
    Traceback (most recent call last):
    json.decoder.JSONDecodeError: the body is not UTF-8: byte 0xff at position 7: ...
    """
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        byte = body[exc.start : exc.start + 1].hex()
        message = f"the body is not UTF-8: byte 0x{byte} at position {exc.start}"
        raise json.JSONDecodeError(message, "", 0) from None
    try:
        return json.loads(text)
    except RecursionError:
        raise json.JSONDecodeError("arrays or objects nested too deeply", "", 0) from None
    except json.JSONDecodeError:
        raise
    except ValueError as exc:  # int(): "Exceeds the limit (4300 digits) for integer string ..."
        raise json.JSONDecodeError(f"a number is too long: {exc}".split(";")[0], "", 0) from None


class _JSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = decode_json(await self.body())
        return self._json


class JSONBodyRoute(APIRoute):
    """An ``APIRoute`` whose JSON body is decoded by :func:`decode_json`.

    FastAPI reports a ``json.JSONDecodeError`` as a 422 of type ``json_invalid``; any other
    error while decoding became a 400. Routes without a body are left as they are, so the hot
    GET path pays nothing.
    """

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()
        if self.body_field is None:
            return handler

        async def decode_strictly(request: Request) -> Response:
            return await handler(_JSONRequest(request.scope, request.receive))

        return decode_strictly


async def method_not_allowed(request: Request, exc: Exception) -> Response:
    """A 405 whose ``Allow`` header lists the methods of every route on the request's path."""
    allowed: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            allowed |= getattr(route, "methods", None) or set()
    allow = ", ".join(sorted(allowed))
    detail = f"method {request.method} is not allowed on {request.url.path}; allowed: {allow}"
    headers = dict(exc.headers or {}) if isinstance(exc, HTTPException) else {}
    return Response(
        json.dumps({"detail": detail}),
        status_code=405,
        headers=headers | {"Allow": allow},
        media_type="application/json",
    )

"""Credentials: the API key of the read routes, the write routes' own tokens, and back-off.

The tokens of the service (``api_key`` for the read routes, ``admin_token`` for
``/admin/reload``, ``live_token`` for writing the live set) are compared in constant time, and
a client that sends wrong ones is slowed down: without that, guesses ran at 1,205 per second.
:class:`FailureThrottle` lets each client (by IP address) send a few wrong ones, then locks it
out for a time that doubles with each further wrong one; a locked-out client gets 429 with
``Retry-After`` whatever it sends, so guessing during a lock-out learns nothing. A request
without any credentials is refused (401) but not counted: it guesses nothing.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

OPEN_PATHS = frozenset({"/health", "/ready", "/metrics", "/openapi.json", "/docs"})
"""Paths that never need the API key: probes, metrics and the API's documentation."""
OPEN_PREFIXES = ("/docs/", "/admin/")
"""Path prefixes that never need it: documentation assets; admin routes have their own token."""
OWN_TOKEN_ROUTES = frozenset({("PUT", "/live"), ("PATCH", "/live"), ("POST", "/events")})
"""Routes (method, path) that never need it: the live layer's writes have their own token."""


class FailureThrottle:
    """Per-client exponential back-off after failed credentials.

    Parameters
    ----------
    free : int
        Failures in a row a client may make before it is locked out.
    base_seconds : float
        First lock-out; each further failure doubles it.
    max_seconds : float
        Longest lock-out.
    max_clients : int
        Clients remembered at most; past that, those no longer locked out are forgotten first.
    clock : callable
        Monotonic time in seconds.

    Examples
    --------
    >>> throttle = FailureThrottle(free=1, base_seconds=2, clock=lambda: 0.0)
    >>> throttle.failed("10.0.0.1"); throttle.retry_after("10.0.0.1")
    2.0
    """

    def __init__(
        self,
        free: int = 3,
        base_seconds: float = 1.0,
        max_seconds: float = 300.0,
        max_clients: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.free = free
        self.base_seconds = base_seconds
        self.max_seconds = max_seconds
        self.max_clients = max_clients
        self._clock = clock
        self._clients: dict[str, tuple[int, float]] = {}  # client -> (failures, locked until)

    def retry_after(self, client: str) -> float:
        """Seconds ``client`` must still wait before its credentials are checked; 0 = none."""
        entry = self._clients.get(client)
        return 0.0 if entry is None else max(0.0, entry[1] - self._clock())

    def failed(self, client: str) -> None:
        """Record a failed attempt of ``client``."""
        failures = self._clients.pop(client, (0, 0.0))[0] + 1
        now = self._clock()
        lock = 0.0
        if failures >= self.free:
            lock = min(self.base_seconds * 2.0 ** (failures - self.free), self.max_seconds)
        if len(self._clients) >= self.max_clients:
            self._forget(now)
        self._clients[client] = (failures, now + lock)

    def succeeded(self, client: str) -> None:
        """Forget ``client``'s failures."""
        self._clients.pop(client, None)

    def _forget(self, now: float) -> None:
        self._clients = {c: e for c, e in self._clients.items() if e[1] > now}
        while len(self._clients) >= self.max_clients:  # all locked out: drop the oldest
            del self._clients[next(iter(self._clients))]


def client_of(scope: Scope) -> str:
    """The client's address as the server saw it (behind a proxy: the proxy's)."""
    client = scope.get("client")
    return client[0] if client else ""


def too_many_failures(seconds: float, what: str) -> tuple[int, dict[str, str], str]:
    """Status, headers and detail of the 429 for a locked-out client."""
    wait = max(1, math.ceil(seconds))
    detail = f"too many failed {what} attempts from this client; retry after {wait} s"
    return 429, {"Retry-After": str(wait)}, detail


class APIKeyGuard:
    """ASGI middleware: every route but the open ones needs the API key.

    The key is accepted as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``. Added only
    when a key is configured, so an open server pays nothing for it.

    Parameters
    ----------
    app : ASGI application
        The wrapped application.
    api_key : str
        The key; must not be empty.
    throttle : FailureThrottle
        Slows down clients that send wrong keys.
    """

    def __init__(self, app: ASGIApp, api_key: str, throttle: FailureThrottle) -> None:
        if not api_key:
            raise ValueError("api_key must not be empty")
        self.app = app
        self._key = api_key.encode()
        self._bearer = b"bearer " + self._key
        self.throttle = throttle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] != "http"
            or path in OPEN_PATHS
            or path.startswith(OPEN_PREFIXES)
            or (scope["method"], path) in OWN_TOKEN_ROUTES
        ):
            await self.app(scope, receive, send)
            return
        client = client_of(scope)
        wait = self.throttle.retry_after(client)
        if wait > 0:
            status, headers, detail = too_many_failures(wait, "API key")
            await _refuse(send, status, headers, detail)
            return
        presented, valid = self._check(scope["headers"])
        if valid:
            self.throttle.succeeded(client)
            await self.app(scope, receive, send)
            return
        if presented:  # a wrong key is a guess; no key at all is not
            self.throttle.failed(client)
        detail = (
            "this route needs the API key: 'Authorization: Bearer <api_key>' or "
            "'X-API-Key: <api_key>'"
        )
        await _refuse(send, 401, {"WWW-Authenticate": "Bearer"}, detail)

    def _check(self, headers: list[tuple[bytes, bytes]]) -> tuple[bool, bool]:
        """Whether the request presents a key at all, and whether one is the right key."""
        presented = valid = False
        for name, value in headers:
            if name == b"x-api-key":
                presented = True
                valid |= secrets.compare_digest(value, self._key)
            elif name == b"authorization":
                scheme, _, token = value.partition(b" ")
                if scheme.lower() == b"bearer":
                    presented = True
                    valid |= secrets.compare_digest(token, self._key)
        return presented, valid


class BearerTokenGuard:
    """ASGI middleware: a few routes need a bearer token of their own, checked before the body.

    For write routes that take large bodies (``PUT /live``): checked in a route dependency,
    the token would be checked only after FastAPI had read and decoded the body, so anyone
    could make the server parse megabytes of JSON. Wrong tokens are throttled as the API key
    is (:class:`FailureThrottle`).

    Parameters
    ----------
    app : ASGI application
        The wrapped application.
    routes : set of (str, str)
        The ``(method, path)`` pairs that need the token.
    token : str
        The token; must not be empty.
    setting : str
        The setting that holds it, named in the 401 and the 429 (``live_token``).
    label : str
        What the routes are, for the 401 ("live write routes").
    throttle : FailureThrottle
        Slows down clients that send wrong tokens.
    """

    def __init__(
        self,
        app: ASGIApp,
        routes: frozenset[tuple[str, str]],
        token: str,
        setting: str,
        label: str,
        throttle: FailureThrottle,
    ) -> None:
        if not token:
            raise ValueError(f"{setting} must not be empty")
        self.app = app
        self.routes = routes
        self._token = token.encode()
        self.setting = setting
        self.label = label
        self.throttle = throttle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (scope["method"], scope.get("path", "")) not in self.routes:
            await self.app(scope, receive, send)
            return
        client = client_of(scope)
        wait = self.throttle.retry_after(client)
        if wait > 0:
            status, headers, detail = too_many_failures(wait, self.setting.replace("_", " "))
            await _refuse(send, status, headers, detail)
            return
        presented = valid = False
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, token = value.partition(b" ")
                if scheme.lower() == b"bearer":
                    presented = True
                    valid |= secrets.compare_digest(token, self._token)
        if valid:
            self.throttle.succeeded(client)
            await self.app(scope, receive, send)
            return
        if presented:  # a wrong token is a guess; no token at all is not
            self.throttle.failed(client)
        detail = f"{self.label} need the header 'Authorization: Bearer <{self.setting}>'"
        await _refuse(send, 401, {"WWW-Authenticate": "Bearer"}, detail)


async def _refuse(send: Send, status: int, headers: dict[str, str], detail: str) -> None:
    body = orjson.dumps({"detail": detail})
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(name.lower().encode(), value.encode()) for name, value in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})

"""The HTTP server: uvicorn with a cap on request headers and no ``server`` header.

uvicorn parses HTTP/1.1 with httptools when it is installed (it is, and it is the faster
parser), and httptools has no limit on the size of request headers: four concurrent requests
with a 64 MiB header took the server from 219 to 516 MB. h11, uvicorn's other parser, has a
limit (``h11_max_incomplete_event_size``) but costs throughput. :class:`HeaderLimitedHttpTools`
keeps httptools and enforces the same limit: a request whose request line and headers exceed
``max_header_bytes`` is answered ``431 Request Header Fields Too Large`` and its connection is
closed, having buffered at most the limit plus one read from the socket.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import httptools
import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from streamrec.settings import Settings

logger = logging.getLogger(__name__)

DEFAULT_MAX_HEADER_BYTES = 16 * 1024
"""The limit when none is configured: h11's own default, as nginx's and Node's are of its order."""


class _HeadersTooLarge(Exception):
    pass


class HeaderLimitedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol, refusing request headers over a size limit.

    The limit is the config's ``h11_max_incomplete_event_size``, so both of uvicorn's parsers
    enforce the same one. Bytes are counted twice over: exactly, from the parsed URL and
    headers (an over-long request that arrives in one read), and as read from the socket while
    a request's headers are incomplete (httptools holds a header until it ends, so a single
    64 MiB header would otherwise be buffered whole before it could be counted).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_header_bytes = (
            self.config.h11_max_incomplete_event_size or DEFAULT_MAX_HEADER_BYTES
        )
        self._header_bytes = 0  # parsed: request line and headers of the current request
        self._unparsed_bytes = 0  # read while the current request's headers are incomplete
        self._in_headers = True
        self._restarted = False  # a request began during the current read

    def data_received(self, data: bytes) -> None:
        if self._in_headers and self._unparsed_bytes > self.max_header_bytes:
            self._refuse()
            return
        self._unset_keepalive_if_required()
        self._restarted = False
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self._header_bytes > self.max_header_bytes:  # raised by _count
                self._refuse()
                return
            self.logger.warning("Invalid HTTP request received.")
            self.send_400_response("Invalid HTTP request received.")
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        # Only bytes read while no request began are surely header bytes: undercount, never
        # over (a request that began in this read may share it with the end of the last one).
        if self._in_headers and not self._restarted:
            self._unparsed_bytes += len(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_bytes = 0

    def on_url(self, url: bytes) -> None:
        self._count(len(url) + 16)  # the method, the version and the line end, about
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)  # ": " and the line end
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_headers = False
        self._unparsed_bytes = 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_headers = True
        self._restarted = True
        super().on_message_complete()

    def _count(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > self.max_header_bytes:
            raise _HeadersTooLarge

    def _refuse(self) -> None:
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
        logger.warning(
            "refused a request from %s: headers over %d bytes", client, self.max_header_bytes
        )
        detail = f"request line and headers must be at most {self.max_header_bytes} bytes"
        body = json.dumps({"detail": detail}).encode()
        content = [STATUS_LINE[431]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: application/json\r\n",
                b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
                b"connection: close\r\n",
                b"\r\n",
                body,
            ]
        )
        self.transport.write(b"".join(content))
        self.transport.close()


def uvicorn_config(app: ASGIApp, settings: Settings, **overrides: Any) -> uvicorn.Config:
    """The uvicorn configuration the service runs with (one worker).

    Parameters
    ----------
    app : ASGI application
        Usually :func:`streamrec.serving.api.create_app`'s.
    settings : Settings
        Supplies ``host``, ``port``, ``access_log`` and ``max_header_bytes``.
    **overrides
        Any other :class:`uvicorn.Config` argument (e.g. ``log_level``).

    Examples
    --------
    >>> uvicorn.Server(uvicorn_config(create_app(), get_settings())).run()  # doctest: +SKIP
    """
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "access_log": settings.access_log,
        "http": HeaderLimitedHttpTools,
        "h11_max_incomplete_event_size": settings.max_header_bytes,
        "server_header": False,  # which server and version runs here is nobody's business
    }
    return uvicorn.Config(app, **(options | overrides))

"""The server as the service runs it: header limit, no ``server`` header."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import httpx
import pytest


def raw_request(url: str, request: bytes, chunk: int = 1 << 16) -> bytes:
    """Send ``request`` in chunks over one connection; return all the server answered."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        try:
            for start in range(0, len(request), chunk):
                sock.sendall(request[start : start + chunk])
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before the end: the answer is in the socket
        answer = b""
        try:
            while data := sock.recv(65536):
                answer += data
        except ConnectionResetError:
            pass
    return answer


def test_normal_requests_pass_the_header_limit(api: httpx.Client) -> None:
    headers = {"x-padding": "p" * 12_000}
    assert api.get("/recomendations/user/1000", headers=headers).status_code == 200


@pytest.mark.parametrize("size", [20_000, 200_000])
def test_headers_over_the_limit_are_431(api: httpx.Client, size: int) -> None:
    """Headers had no limit: 4 concurrent 64 MiB headers took 219 -> 516 MB (issue 11)."""
    request = b"GET /health HTTP/1.1\r\nhost: x\r\nx-padding: " + b"p" * size + b"\r\n\r\n"
    answer = raw_request(str(api.base_url), request)
    assert answer.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"), answer[:200]
    assert answer.endswith(b'{"detail": "request line and headers must be at most 16384 bytes"}')
    assert api.get("/health").status_code == 200


def test_endless_header_is_cut_off(api: httpx.Client) -> None:
    """One header that never ends is refused after the limit, not buffered to the end."""
    request = b"GET /health HTTP/1.1\r\nhost: x\r\nx-padding: " + b"p" * (32 << 20)
    answer = raw_request(str(api.base_url), request)
    assert answer == b"" or answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert api.get("/health").status_code == 200


def test_long_url_is_431(api: httpx.Client) -> None:
    answer = raw_request(str(api.base_url), b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 431 ")


def test_pipelined_requests_with_bodies_pass(api: httpx.Client) -> None:
    body = b'{"k": 2, "exclude": ["' + b"x" * 100_000 + b'"]}'
    one = (
        b"POST /recomendations/user/1000 HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    answer = raw_request(
        str(api.base_url), one * 3 + b"GET /health HTTP/1.1\r\nconnection: close\r\n\r\n"
    )
    assert answer.count(b"HTTP/1.1 200 OK\r\n") == 4, answer[:300]


def test_no_server_header(api: httpx.Client) -> None:
    """Every response said ``server: uvicorn`` (issue 11)."""
    response = api.get("/health")
    assert "server" not in response.headers and "date" in response.headers

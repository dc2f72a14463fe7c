"""A bounded HTTP/1.1 load generator, used by ``bench/serve.py`` when wrk is not installed.

A fixed number of keep-alive connections each send one request, wait for the whole response,
and send the next, for a fixed time (the closed-loop model wrk uses). On the 2-core benchmark
machine it loaded the floor app to the same ~3,900 requests/s as wrk, but it spends more CPU per
request on the cores it shares with the server, so wrk is the reference: install it
(``apt-get install wrk``) for the numbers in the README.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LoadResult:
    """Requests completed, errors and latency percentiles of one run."""

    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def request_bytes(host: str, method: str, path: str, body: bytes | None) -> bytes:
    """One raw HTTP/1.1 keep-alive request."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


async def _connection(
    host: str, port: int, requests: list[bytes], deadline: float, seed: int
) -> tuple[list[float], int]:
    reader, writer = await asyncio.open_connection(host, port)
    pick = random.Random(seed).choice
    latencies: list[float] = []
    errors = 0
    try:
        while (started := time.perf_counter()) < deadline:
            writer.write(pick(requests))
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if not head.startswith(b"HTTP/1.1 2"):
                errors += 1
    finally:
        writer.close()
    return latencies, errors


async def _run(
    host: str, port: int, requests: list[bytes], connections: int, seconds: float
) -> LoadResult:
    started = time.perf_counter()
    deadline = started + seconds
    done = await asyncio.gather(
        *(_connection(host, port, requests, deadline, seed) for seed in range(connections))
    )
    elapsed = time.perf_counter() - started
    latencies = np.concatenate([np.asarray(lat) for lat, _ in done]) * 1e3
    p50, p99 = np.percentile(latencies, [50, 99]) if len(latencies) else (np.nan, np.nan)
    return LoadResult(len(latencies), elapsed, sum(e for _, e in done), float(p50), float(p99))


def run(
    host: str, port: int, requests: list[bytes], connections: int, seconds: float
) -> LoadResult:
    """Load ``host:port`` with ``connections`` connections for ``seconds``.

    Parameters
    ----------
    requests : list of bytes
        Raw requests (see :func:`request_bytes`); each connection picks them at random.
    """
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is in requirements.txt
        return asyncio.run(_run(host, port, requests, connections, seconds))
    return uvloop.run(_run(host, port, requests, connections, seconds))

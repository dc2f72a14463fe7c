"""Process helpers the benchmarks share: a free loopback port, a process's memory (Linux)."""

from __future__ import annotations

import socket
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def memory_kb(pid: int) -> dict[str, int]:
    """``VmRSS`` (resident now) and ``VmHWM`` (resident at peak) of process ``pid``, in kB.

    Empty when the process is gone or ``/proc`` is missing.
    """
    found = {}
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0])
    return found


def rss_bytes(pid: int) -> int:
    """Resident set size of process ``pid`` in bytes (0 when unknown)."""
    return memory_kb(pid).get("VmRSS", 0) * 1024

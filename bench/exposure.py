"""Exposure of the running server: credential guessing, huge headers, and the GET's CPU cost.

Starts ``python platform.py`` (with an admin token) from this checkout, and from ``--before``
(another checkout, e.g. of an earlier commit) when given, alternately, and measures for each:

- admin-token guesses: sequential ``POST /admin/reload`` with wrong tokens for 2 s, by status;
- memory: resident and peak memory around 4 concurrent requests with a 64 MiB header each;
- CPU per GET: server CPU time per ``GET /recomendations/user/{id}?k=10`` at 16 connections.

    python -m bench exposure -- --model models/model.npz --data data/sessions.csv \\
        [--before ../checkout-of-main] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

from bench import _loadgen
from bench._process import free_port, memory_kb

HERE = Path(__file__).resolve().parent.parent
HEADER_BYTES = 64 << 20


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def _server(checkout: Path, model: Path) -> Iterator[tuple[int, int]]:
    """``platform.py`` of ``checkout`` on a free port, once its lists are ready: (port, pid)."""
    port = free_port()
    env = {**os.environ, "ADMIN_TOKEN": "bench-token", "RELOAD_INTERVAL": "0"}
    command = [sys.executable, "platform.py", "--model", str(model), "--port", str(port)]
    with subprocess.Popen(
        command, cwd=checkout, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    ) as proc:
        try:
            deadline = time.monotonic() + 600
            while True:
                try:
                    info = httpx.get(f"http://127.0.0.1:{port}/model", timeout=5).json()
                    if info["serving"]["precompute_state"] in ("ready", "off"):
                        break
                except httpx.HTTPError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"server of {checkout} did not start")
                time.sleep(0.1)
            yield port, proc.pid
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def guesses(port: int, seconds: float = 2.0) -> Counter[int]:
    """Statuses of wrong-token reload requests sent one after another for ``seconds``."""
    statuses: Counter[int] = Counter()
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            wrong = {"Authorization": f"Bearer guess-{sum(statuses.values())}"}
            statuses[http.post("/admin/reload", headers=wrong).status_code] += 1
    return statuses


def huge_headers(port: int, pid: int, clients: int = 4) -> tuple[float, float, float]:
    """Resident MB before and after ``clients`` concurrent 64 MiB headers, and the peak."""
    before = memory_kb(pid)["VmRSS"] / 1024
    request = b"GET /health HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * HEADER_BYTES + b"\r\n\r\n"

    def send() -> None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=120) as sock:
                sock.sendall(request)
                sock.recv(100)
        except OSError:
            pass  # refused before the end

    threads = [threading.Thread(target=send) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    time.sleep(0.5)
    after = memory_kb(pid)
    return before, after["VmRSS"] / 1024, after["VmHWM"] / 1024


def get_cpu(port: int, pid: int, users: list[int], seconds: float) -> tuple[float, float]:
    """Requests/s and server CPU µs per GET of random known users at 16 connections."""
    requests = [
        _loadgen.request_bytes("127.0.0.1", "GET", f"/recomendations/user/{u}?k=10", None)
        for u in users
    ]
    _loadgen.run("127.0.0.1", port, requests, 16, 1.0)  # warm-up
    cpu = _cpu_seconds(pid)
    result = _loadgen.run("127.0.0.1", port, requests, 16, seconds)
    cpu = _cpu_seconds(pid) - cpu
    return result.rps, cpu / max(result.requests, 1) * 1e6


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench exposure", description=__doc__)
    parser.add_argument("--model", type=Path, required=True, help="model artifact to serve")
    parser.add_argument("--data", type=Path, required=True, help="its sessions CSV (user ids)")
    parser.add_argument("--before", type=Path, help="another checkout to compare with")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of the GET")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per GET run")
    args = parser.parse_args(argv)
    checkouts = {"this": HERE} | ({"before": args.before.resolve()} if args.before else {})
    lines = args.data.read_text().splitlines()
    users = sorted({int(line.split(",", 1)[0]) for line in lines[:: max(1, len(lines) // 500)]})
    model = args.model.resolve()
    cpu: dict[str, list[float]] = {name: [] for name in checkouts}
    for round_ in range(args.rounds):
        for name, checkout in checkouts.items():
            with _server(checkout, model) as (port, pid):
                if round_ == 0:
                    print(f"{name}: admin-token guesses in 2 s by status {dict(guesses(port))}")
                    before, after, peak = huge_headers(port, pid)
                    print(
                        f"{name}: resident {before:.0f} MB -> {after:.0f} MB (peak {peak:.0f}"
                        " MB) around 4 concurrent 64 MiB headers"
                    )
                rps, micros = get_cpu(port, pid, users, args.duration)
                cpu[name].append(micros)
                print(f"{name}: GET round {round_ + 1}: {rps:,.0f} requests/s, {micros:.0f} µs CPU")
    for name, values in cpu.items():
        print(f"{name}: server CPU per GET {', '.join(f'{v:.0f}' for v in values)} µs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Server start-up: seconds from launch to the open port, the first answer, the lists, ready.

Starts the real server (``python platform.py --model MODEL``) and polls it every 0.1 s: the
time until ``GET /health`` answers (the port is open), until ``GET
/recomendations/user/{id}?k=10`` for a known user answers 200 (the first answer), until
``GET /model`` reports the precomputed lists ready (a server that reports no
``precompute_state`` has them ready before its port opens), and until the server is ready:
``GET /ready`` answers 200, or, on a server without that route (404), the lists are ready.
Then it times one request. One row per ``--repeat``.

    python -m streamrec.data.synth --preset twitch-100k --out bench/out/twitch-100k.csv
    python als_fit.py --data bench/out/twitch-100k.csv --model bench/out/twitch-100k.npz
    python -m bench startup -- --model bench/out/twitch-100k.npz
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench._process import free_port, rss_bytes
from streamrec.model import artifact

ROOT = Path(__file__).resolve().parent.parent
POLL_SECONDS = 0.1


@dataclass(frozen=True)
class Startup:
    """Seconds from launching the server to each milestone, its resident memory once it is
    ready, and the milliseconds of one request then (k=10). ``ready_probe`` says how readiness
    was seen: ``/ready``, or ``/model`` when the server has no ``/ready`` route."""

    health: float
    first_answer: float
    lists_ready: float
    ready: float
    ready_probe: str
    rss_bytes: int
    request_ms: float


def measure(model_path: Path, user_id: int, timeout: float = 1800.0) -> Startup:
    """Launch ``platform.py`` on ``model_path`` and time its start-up (see the module)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "platform.py", "--model", str(model_path), "--port", str(port)]
    started = time.perf_counter()
    with (
        subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        ) as proc,
        httpx.Client(base_url=url, timeout=60) as http,
    ):
        try:

            def until(check: str) -> float:
                while True:
                    if proc.poll() is not None:
                        raise RuntimeError(f"server exited with {proc.returncode} during start-up")
                    if time.perf_counter() - started > timeout:
                        raise RuntimeError(f"no {check} within {timeout:g} s")
                    try:
                        if _passes(http, check, user_id):
                            return time.perf_counter() - started
                    except httpx.TransportError:
                        pass  # the port is not open yet
                    time.sleep(POLL_SECONDS)

            health = until("health")
            first_answer = until("answer")
            lists_ready = until("lists")
            has_ready = http.get("/ready").status_code != 404
            ready = until("ready") if has_ready else lists_ready
            rss = rss_bytes(proc.pid)
            t = time.perf_counter()
            http.get(f"/recomendations/user/{user_id}", params={"k": 10}).raise_for_status()
            request_ms = (time.perf_counter() - t) * 1000
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    probe = "/ready" if has_ready else "/model"
    return Startup(health, first_answer, lists_ready, ready, probe, rss, request_ms)


def _passes(http: httpx.Client, check: str, user_id: int) -> bool:
    if check == "health":
        return http.get("/health").status_code == 200
    if check == "answer":
        got = http.get(f"/recomendations/user/{user_id}", params={"k": 10})
        return got.status_code == 200 and got.json()["source"] == "als"
    if check == "ready":
        return http.get("/ready").status_code == 200
    serving = http.get("/model").json()["serving"]
    return serving.get("precompute_state", "ready") in ("ready", "off", "failed")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench startup",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--model", type=Path, required=True, help="model artifact to serve")
    parser.add_argument("--repeat", type=int, default=1, help="server starts to time")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error(f"--repeat must be >= 1, got {args.repeat}")
    model = artifact.load(args.model)
    user_id, counts = int(model.user_ids[0]), model.metadata.get("counts", {})
    del model
    print(
        f"model: {args.model.name}, {counts.get('users', 0):,} users x "
        f"{counts.get('streamers', 0):,} streamers, {counts.get('factors', 0)} factors; "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}"
    )
    print()
    print(
        "| run | port open (/health) s | first answer s | lists ready s | ready s (probe) "
        "| server RSS GB | one request ms |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for run in range(1, args.repeat + 1):
        result = measure(args.model, user_id)
        print(
            f"| {run} | {result.health:.1f} | {result.first_answer:.1f} | "
            f"{result.lists_ready:.1f} | {result.ready:.1f} ({result.ready_probe}) | "
            f"{result.rss_bytes / 1e9:.2f} | {result.request_ms:.1f} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

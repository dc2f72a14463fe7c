"""Live-only lists: the server's own live set (GET live_only=true) against sending the names.

Starts the real server (``python platform.py``, with a ``live_token``) on a ``--preset``
model (generated and trained under ``bench/out/`` when missing, as ``bench/serve.py`` does),
feeds it a live set of ``--live`` streamer names with ``PUT /live``, and loads it, the
workloads alternating for ``--repeat`` rounds, with:

- ``GET /recomendations/user/{id}?k=10&live_only=true``: the server ranks among its live set;
- ``POST /recomendations/user/{id}`` with the same names as ``available`` (what a client had
  to do before), the JSON body parsed and the names resolved on every request;
- the plain ``GET`` (every streamer), and with ``live_only=false``, for reference;

each with watched streamers left out (the default) and kept (``exclude_watched=false``, the
live ranker's lists). The table shows medians of requests/s, latency and the server's CPU time
per request.

    python -m bench live                                        # twitch-100k, 3 x 10 s
    python -m bench live -- --preset small --duration 3 --repeat 3   # a quick look
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import statistics
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bench.serve import (
    ROOT,
    Measured,
    Workload,
    _loader_name,
    _measure,
    _process,
    _wait_for_lists,
    prepare,
)

DEFAULT = False
TOKEN = "bench-live-token"
logger = logging.getLogger("bench.live")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench live",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--preset", default="twitch-100k", help="streamrec.data.synth preset")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    p.add_argument("--duration", type=float, default=10.0, help="seconds per load run")
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--repeat", type=int, default=3, help="rounds; the table shows medians")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--live", type=int, default=1000, help="streamers in the live set")
    p.add_argument("--put-size", type=int, default=100_000, help="names in the timed large PUT")
    p.add_argument("--loader", choices=["auto", "wrk", "python"], default="auto")
    return p


def workloads(users: list[int], live: list[str], k: int) -> list[Workload]:
    """The requests compared, watched streamers left out and kept."""
    found = []
    for kept, suffix in ((False, ""), (True, ", watched kept")):
        query = f"?k={k}" + ("&exclude_watched=false" if kept else "")
        body: dict[str, object] = {"k": k, "available": live}
        if kept:
            body["exclude_watched"] = False
        found += [
            Workload(
                f"GET live_only=true{suffix}",
                "GET",
                [f"/recomendations/user/{u}{query}&live_only=true" for u in users],
            ),
            Workload(
                f"POST {len(live):,} available{suffix}",
                "POST",
                [f"/recomendations/user/{u}" for u in users],
                json.dumps(body).encode(),
            ),
            Workload(
                f"GET all streamers{suffix}",
                "GET",
                [f"/recomendations/user/{u}{query}" for u in users],
            ),
        ]
    # The parameter parsed but off: what the GET pays for the option alone.
    found.append(
        Workload(
            "GET live_only=false",
            "GET",
            [f"/recomendations/user/{u}?k={k}&live_only=false" for u in users],
        )
    )
    return found


def put_live(url: str, names: list[str]) -> dict:
    """``PUT /live`` with the benchmark's token; the server's answer."""
    request = urllib.request.Request(
        url + "/live",
        data=json.dumps({"streamers": names}).encode(),
        method="PUT",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    prepared = prepare(args)
    if prepared is None:
        return 2
    loader, _, model_path = prepared

    from streamrec.model import artifact

    model = artifact.load(model_path)
    rng = np.random.default_rng(0)
    users = rng.choice(model.user_ids, size=min(10_000, len(model.user_ids)), replace=False)
    size = min(args.live, len(model.streamer_names))
    live = rng.choice(model.streamer_names, size=size, replace=False).tolist()
    counts = model.metadata.get("counts", {})
    del model
    compared = workloads(users.tolist(), live, args.k)

    results: dict[str, list[Measured]] = {}
    command = [sys.executable, "platform.py", "--model", str(model_path)]
    # With a live_token the server keeps an event log: under bench/out, not in data/.
    env = {"LIVE_TOKEN": TOKEN, "EVENT_LOG_DIR": str(args.out / "live-events")}
    with _process(command, args.out / "server-live.log", "/health", env=env) as server:
        serving = _wait_for_lists(server)
        fed = put_live(server.url, live)
        logger.info(
            "live set: %d streamers, %d unknown", fed["streamers"], fed["unknown_streamers"]
        )
        # What a write costs: PUT of a large set, then of the benchmark's set again.
        big = [f"streamer_{i:06d}" for i in range(args.put_size)]
        put_ms = []
        for names in (big, live, big, live, big, live):
            started = time.perf_counter()
            put_live(server.url, names)
            put_ms.append((time.perf_counter() - started) * 1e3)
        for workload in compared:  # warm-up: page in, fill caches
            loader(server.port, workload, args.connections, 2.0, args.out)
        for round_ in range(args.repeat):
            for workload in compared:
                result = _measure(loader, server, workload, args)
                results.setdefault(workload.name, []).append(result)
                logger.info(
                    "round %d %s: %.0f req/s, p99 %.2f ms, %.0f us CPU, %d errors",
                    round_ + 1,
                    workload.name,
                    result.rps,
                    result.p99_ms,
                    result.cpu_us,
                    result.errors,
                )

    def median(name: str, attr: str) -> float:
        return statistics.median(getattr(r, attr) for r in results[name])

    lines = [
        f"Live-only benchmark, {dt.date.today().isoformat()}: preset {args.preset} "
        f"({counts.get('users', 0):,} users, {counts.get('streamers', 0):,} streamers, "
        f"{counts.get('factors', 0)} factors), a live set of {len(live):,} streamers, "
        f"{os.cpu_count()} cores; lists that keep watched streamers ordered by the "
        f"{serving.get('live_ranking', 'blend')}.",
        f"Client: {_loader_name(loader)}, {args.connections} connections, {args.duration:g} s "
        f"per run, median of {args.repeat} alternating runs; random known users, k={args.k}. "
        f"Load average before the run: {args.load_average}.",
        "",
        "| request | requests/s | p50 ms | p99 ms | server CPU/request | errors |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for workload in compared:
        name = workload.name
        lines.append(
            f"| {name} | {median(name, 'rps'):,.0f} | {median(name, 'p50_ms'):.2f} | "
            f"{median(name, 'p99_ms'):.2f} | {median(name, 'cpu_us'):,.0f} µs | "
            f"{sum(r.errors for r in results[name])} |"
        )
    lines += [
        "",
        f"PUT /live of {len(big):,} names (unknown to the model): "
        f"{statistics.median(put_ms[0::2]):.0f} ms; of the {len(live):,} names back: "
        f"{statistics.median(put_ms[1::2]):.0f} ms (medians of 3, sequential).",
        "CPU/request is the server process's CPU time per request (all threads).",
        "Reproduce: `python -m bench live` (`-- --help` for the options).",
    ]
    report = "\n".join(lines)
    print(report)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    (args.out / f"live-{stamp}.md").write_text(report + "\n")
    return 0

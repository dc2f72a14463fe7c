"""End-to-end training at full size on one machine, phase by phase: time and peak memory.

``python -m bench.scale --preset twitch-full`` generates the sample if it is missing (about 5 GB
of CSV under ``bench/out/``), then loads it, builds the matrix, fits ALS, precomputes the top
lists for the serving settings (as ``als_fit.py`` does), saves the artifact, starts the real
server on it and asks for one user's recommendations. It prints one row per phase with wall
time and the process's peak resident memory up to the end of that phase (sampled every 20 ms,
and the kernel's own high-water mark), then the server's start-up milestones
(:mod:`bench.startup`).

``--load-only`` stops after the load and the matrix (no fit, no artifact, no server).

Run by ``make bench-scale``; not part of ``make bench`` or the tests.
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from bench._process import rss_bytes
from bench.startup import measure as measure_startup
from streamrec import data
from streamrec.data import synth
from streamrec.model import artifact
from streamrec.model.als import ALSParams, fit_als
from streamrec.ranking.precompute import with_top_lists
from streamrec.settings import get_settings

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"


class PeakMemory:
    """Samples this process's resident set size in a background thread."""

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes(os.getpid()))
            time.sleep(self.interval)

    def take(self) -> int:
        """Peak so far, including the kernel's high-water mark (which the sampler may miss)."""
        kernel = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        self.peak = max(self.peak, kernel, rss_bytes(os.getpid()))
        return self.peak


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scale",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--preset", choices=sorted(synth.PRESETS), default="twitch-full")
    parser.add_argument("--data", type=Path, help="sessions CSV (default: bench/out/PRESET.csv)")
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--iterations", type=int, default=15)
    parser.add_argument(
        "--load-only", action="store_true", help="stop after the load and the matrix"
    )
    args = parser.parse_args(argv)

    data_path = args.data or OUT / f"{args.preset}.csv"
    model_path = OUT / f"{data_path.stem}.npz"
    if not data_path.exists():
        print(f"generating {args.preset} into {data_path} ...", flush=True)
        t = time.perf_counter()
        stats = synth.write_sessions(synth.PRESETS[args.preset], data_path)
        print(f"  {stats.summary()} in {time.perf_counter() - t:.0f}s", flush=True)

    rows: list[tuple[str, float, int]] = []
    settings = get_settings()  # the server's precomputed lists, stored as als_fit.py does
    params = ALSParams(factors=args.factors, iterations=args.iterations)
    with PeakMemory() as memory:

        def phase(name: str, started: float) -> float:
            now = time.perf_counter()
            rows.append((name, now - started, memory.take()))
            peak_gb = memory.peak / 1e9
            print(f"  {name:<14} {now - started:8.1f}s  peak {peak_gb:6.2f} GB", flush=True)
            return now

        t = time.perf_counter()
        sessions, report = data.read_sessions(data_path)
        t = phase("load", t)
        interactions = data.build_interactions(sessions)
        first_user = int(sessions["user_id"].iloc[0])
        del sessions
        gc.collect()
        t = phase("build matrix", t)
        if args.load_only:
            return _print_phases(data_path, report, interactions, rows)
        user_factors, item_factors = fit_als(interactions.user_items, params, show_progress=True)
        t = phase("fit", t)
        model = artifact.from_training(
            interactions, user_factors, item_factors, engine="implicit", params=params.as_dict()
        )
        model = with_top_lists(model, settings.precompute_top_n, settings.precompute_max_users)
        t = phase("lists", t)
        artifact.save(model, model_path)
        t = phase("save", t)
        del model, user_factors, item_factors
        gc.collect()

    server = measure_startup(model_path, first_user)
    users, items = interactions.shape
    fit_seconds = next(seconds for name, seconds, _ in rows if name == "fit")
    print()
    print(f"data: {data_path.name}, {report.summary()}")
    nnz = interactions.user_items.nnz
    print(f"matrix: {users:,} users x {items:,} streamers, {nnz:,} non-zeros")
    print(f"params: {params.as_dict()}")
    print()
    print("| phase | wall s | peak RSS GB |")
    print("| --- | ---: | ---: |")
    for name, seconds, peak in rows:
        print(f"| {name} | {seconds:.1f} | {peak / 1e9:.2f} |")
    print(f"| fit per iteration | {fit_seconds / params.iterations:.1f} | |")
    print(f"| server start to open port (/health) | {server.health:.1f} | |")
    print(f"| server start to first answer | {server.first_answer:.1f} | |")
    rss = server.rss_bytes / 1e9
    print(f"| server start to precomputed lists | {server.lists_ready:.1f} | {rss:.2f} (server) |")
    print(f"| server start to ready ({server.ready_probe}) | {server.ready:.1f} | |")
    print(f"| one request (k=10), lists ready | {server.request_ms / 1000:.3f} | |")
    print(f"\nartifact: {model_path} ({model_path.stat().st_size / 1e9:.2f} GB)")
    return 0


def _print_phases(
    data_path: Path,
    report: data.LoadReport,
    interactions: data.Interactions,
    rows: list[tuple[str, float, int]],
) -> int:
    users, items = interactions.shape
    print(f"\ndata: {data_path.name}, {report.summary()}")
    nnz = interactions.user_items.nnz
    print(f"matrix: {users:,} users x {items:,} streamers, {nnz:,} non-zeros\n")
    print("| phase | wall s | peak RSS GB |")
    print("| --- | ---: | ---: |")
    for name, seconds, peak in rows:
        print(f"| {name} | {seconds:.1f} | {peak / 1e9:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

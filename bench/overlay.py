"""The watch-event path in process: reading a batch, the overlay's memory and speed, an fsync.

Prints, for the figures the README's "Watch events" section quotes:

- reading a plain 250-row batch (``streamrec.data.events.from_csv``) in Python and through the
  loader's Polars plan, median ms of ``--repeats``;
- the overlay holding ``--sessions`` sessions of ``--viewers`` viewers (a fifth open): bytes a
  session (``tracemalloc``), sessions added a second, µs to summarise a viewer;
- the event log's append of one batch (write and fsync) in a temporary folder, median ms.

    python -m bench overlay
    python -m bench overlay -- --sessions 1000000 --viewers 100000
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from streamrec.data import events
from streamrec.data.event_log import EventLog
from streamrec.serving.overlay import Overlay

DEFAULT = False


def _median_ms(run: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1e3)
    return statistics.median(times)


def _batches(sessions: int, viewers: int, seed: int) -> list[events.EventBatch]:
    rng = np.random.default_rng(seed)
    users = rng.integers(0, viewers, sessions)
    names = rng.integers(0, 3000, sessions)
    starts = np.sort(rng.integers(0, 1000, sessions))
    lines = [
        f"{u},{i},s{m},{a},{'' if i % 5 == 0 else a + 3}"
        for i, (u, m, a) in enumerate(
            zip(users.tolist(), names.tolist(), starts.tolist(), strict=True)
        )
    ]
    return [
        events.from_csv(("\n".join(lines[i : i + 5000]) + "\n").encode())
        for i in range(0, sessions, 5000)
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench overlay", description=__doc__)
    parser.add_argument("--sessions", type=int, default=200_000)
    parser.add_argument("--viewers", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args(argv)

    batch = b"".join(
        b"%d,%d,s%d,%d,%d\n" % (i, 10**6 + i, i % 300, 5000 + i, 5003 + i) for i in range(250)
    )
    python_ms = _median_ms(lambda: events.from_csv(batch), args.repeats)
    plan_ms = _median_ms(lambda: events._from_plan(batch, False), args.repeats)

    batches = _batches(args.sessions, args.viewers, seed=0)
    overlay = Overlay(max_events=args.sessions * 2)
    started = time.perf_counter()
    for part in batches:
        overlay.add(part, 1)
    add_rate = overlay.events / (time.perf_counter() - started)
    users = list(range(0, args.viewers, max(1, args.viewers // 2000)))
    started = time.perf_counter()
    for user in users:
        overlay.viewer(user)
    summary_us = (time.perf_counter() - started) / len(users) * 1e6
    del overlay
    tracemalloc.start()
    held = Overlay(max_events=args.sessions * 2)
    for part in batches:
        held.add(part, 1)
    per_session = tracemalloc.get_traced_memory()[0] / held.events
    tracemalloc.stop()

    lines = events.log_lines(events.from_csv(batch))
    with tempfile.TemporaryDirectory(prefix="bench-overlay-") as folder:
        log = EventLog(Path(folder))
        log.open()
        append_ms = _median_ms(lambda: log.append(lines), args.repeats)
        log.close()

    print(f"load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("| measure | value |")
    print("| --- | ---: |")
    print(f"| read a plain 250-row batch, in Python (ms) | {python_ms:.2f} |")
    print(f"| the same through the loader's plan (ms) | {plan_ms:.2f} |")
    scale = f"{held.events:,} sessions, {held.viewers:,} viewers"
    print(f"| overlay: bytes a session ({scale}) | {per_session:.0f} |")
    print(f"| overlay: sessions added a second | {add_rate:,.0f} |")
    print(f"| overlay: summarise a viewer (µs) | {summary_us:.0f} |")
    print(f"| event log: append one 250-row batch, write and fsync (ms) | {append_ms:.2f} |")
    return 0

"""Replay: the last window of real sessions against the real server, events off and on.

Splits ``--data`` at ``T - --window`` steps, trains a model on the sessions before the cut with
``python als_fit.py`` (reused on reruns while the before-file's fingerprint is the same), starts
the real server (``python platform.py``) and replays the window over HTTP in time order, step by
step: ``PUT /live`` with the streamers live then, and for every session starting then
``GET /recomendations/user/{id}?k=10&live_only=true&exclude_watched=false``, recording the rank
of the streamer actually watched (a miss past 10). Three setups answer the same requests:

- **frozen**: the server without events, only the live set;
- **live**: the sessions posted as they happen (``POST /events``, ``text/csv`` per step: the
  closing rows of those stopped by the step before its requests, its new sessions open after);
- **repeat**: computed here, no server: the viewer's most-watched live streamer (history and the
  window's sessions started so far; ties by recency), then popularity among the live.

It reports HR@1, HR@10 and NDCG@10 on all / new / repeat targets over every window session and
over the sessions after each viewer's first, and McNemar's test of frozen against live on HR@1;
then ingestion throughput (all window sessions in batches of 500, from 1 and 4 clients, a fresh
server per run) and list latency at 16 connections with and without one client ingesting
5,000 events/s. Tables go to stdout and ``bench/out/replay-<UTC time>.md``.

    python -m bench replay                                        # the real slice when present
    python -m bench replay -- --no-tune --skip-latency --skip-ingest  # quality only, quickly
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
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from bench import _replay_data as rd
from bench import _replay_http as rh
from bench.serve import ROOT, Workload, _loader_name, _measure, _pick_loader
from streamrec import data
from streamrec.data.live import LiveIndex
from streamrec.evaluation.protocols import paired_hits

DEFAULT = False  # trains a model and replays for minutes: run when named
logger = logging.getLogger("bench.replay")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench replay",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data", type=Path, help="sessions (default: the real slice, else `small`)")
    p.add_argument("--window", type=int, default=250, help="steps replayed (the last ones)")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    p.add_argument("--duration", type=float, default=10.0, help="seconds per load run")
    p.add_argument("--repeat", type=int, default=3, help="rounds; the tables show medians")
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--skip-latency", action="store_true", help="skip latency while ingesting")
    p.add_argument("--skip-ingest", action="store_true", help="skip ingestion throughput")
    p.add_argument("--no-tune", action="store_true", help="train the fixed defaults, no search")
    p.add_argument("--tune-budget", type=float, help="als_fit.py's --tune-budget")
    p.add_argument("--loader", choices=["auto", "wrk", "python"], default="auto")
    return p


def _data_path(args: argparse.Namespace) -> tuple[Path, str]:
    if args.data is not None:
        return args.data, args.data.name
    real = rd.default_data(ROOT)
    if real is not None:
        return real, "the real Twitch slice (shared/data/twitch-real-slice.csv)"
    from bench.quality import sample_path

    print("the real slice is not here: using the generator's `small` preset")
    return sample_path("small"), "generator preset small"


def quality(
    args: argparse.Namespace, history: pd.DataFrame, win: rd.Window, live: LiveIndex, model: Path
) -> tuple[list[str], str | None]:
    """Part 1: the three setups on the window's requests; the lines, and the live setup's
    failure (None when it ran)."""
    ranks = {"repeat": rd.repeat_ranks(history, win, live)}
    runs: dict[str, rh.Replayed] = {}
    failure = None
    for setup, post in (("frozen", False), ("live", True)):
        with rh.server(model, args.out / "replay" / f"server-{setup}.log") as running:
            try:
                runs[setup] = rh.replay(running.port, win, live, post=post)
            except rh.NoEventRoute as exc:
                failure = str(exc)
                print(f"error: live setup: {failure}", file=sys.stderr)
                continue
        ranks[setup] = runs[setup].ranks
        logger.info("%s: %d requests in %.1f s", setup, runs[setup].requests, runs[setup].seconds)
    shown = {name: ranks[name] for name in ("frozen", "live", "repeat") if name in ranks}
    lines = [
        "### Replay quality",
        "",
        f"Window [{win.cut}, {win.end}]: {len(win):,} sessions of "
        f"{len(np.unique(win.user)):,} viewers ({win.cold_sessions:,} sessions of viewers "
        f"without history before the cut), {len(win.query_user):,} requests (one per viewer and "
        f"start step); {win.is_new.mean():.1%} of sessions go to a streamer new to the viewer; "
        f"{np.mean([len(live.live(int(t))) for t in np.unique(win.start)]):.0f} live per step "
        "on average. Ranks among the live streamers, k=10, watched streamers kept.",
        "",
        *rd.QUALITY_HEADER,
        *rd.quality_rows(shown, win),
        "",
    ]
    if failure is not None:
        lines.append(f"**live setup FAILED**: {failure}; its rows are missing.")
    else:
        for subset, mask in (("every session", slice(None)), ("after first", win.after_first)):
            pair = paired_hits(ranks["live"][mask], ranks["frozen"][mask], k=1)
            lines.append(
                f"Frozen vs live, HR@1, {subset}: b = {pair.lost} (frozen hits, live misses), "
                f"c = {pair.gained} (live hits, frozen misses), exact McNemar p = "
                f"{pair.p_value:.3g}."
            )
    window_only = ~win.is_new & ~win.in_history
    hits = ", ".join(f"{name} {(r[window_only] <= 1).mean():.4f}" for name, r in shown.items())
    lines.append(
        f"Repeat targets watched only earlier in the window, not before the cut (what only "
        f"events can tell the server): {int(window_only.sum()):,} sessions; HR@1 {hits}."
    )
    for setup, run in runs.items():
        events = ", ".join(f"{k} {v:,}" for k, v in run.events.items())
        lines.append(
            f"{setup}: replayed in {run.seconds:.1f} s; {run.requests:,} GETs, p50 / p99 "
            f"{rh.percentiles(run.get_ms)} ms"
            + (
                f"; {run.posts:,} POST /events, p50 / p99 {rh.percentiles(run.post_ms)} ms "
                f"({events})"
                if run.posts
                else ""
            )
            + "."
        )
    return lines, failure


def ingestion(args: argparse.Namespace, win: rd.Window, model: Path) -> list[str]:
    """Part 4: events/s posting every window session (closed rows, batches of 500)."""
    bodies = rh.batches(win, 500)
    lines = [
        "### Ingestion throughput",
        "",
        f"All {len(win):,} window sessions as closed rows, {len(bodies)} POST /events of up "
        f"to 500 rows, as fast as the clients go; a fresh server per run; median of "
        f"{args.repeat}.",
        "",
        "| clients | events/s | server CPU s / 1,000 events | wall s | 503 retried |",
        "|---:|---:|---:|---:|---:|",
    ]
    for clients in (1, 4):
        runs = []
        for round_ in range(args.repeat):
            log = args.out / "replay" / f"server-ingest-{clients}.log"
            with rh.server(model, log) as running:
                runs.append(rh.ingest(running, bodies, clients))
            logger.info(
                "ingest %d clients, round %d: %.0f events/s", clients, round_ + 1, runs[-1].rate
            )
        lines.append(
            f"| {clients} | {statistics.median(r.rate for r in runs):,.0f} | "
            f"{statistics.median(r.cpu_seconds / r.events * 1e3 for r in runs):.3f} | "
            f"{statistics.median(r.seconds for r in runs):.2f} | "
            f"{sum(r.retries for r in runs)} |"
        )
    return lines


def latency(args: argparse.Namespace, win: rd.Window, model: Path) -> list[str]:
    """Part 5: lists at 16 connections, alone and while one client ingests 5,000 events/s."""
    loader = _pick_loader(args.loader)
    if loader is None:
        raise SystemExit("error: --loader wrk but wrk is not installed")
    from streamrec.model import artifact

    names = artifact.load(model).streamer_names
    rng = np.random.default_rng(0)
    available = rng.choice(names, size=min(1000, len(names)), replace=False).tolist()
    users = np.unique(win.query_user).tolist()
    query = "?k=10&live_only=true&exclude_watched=false"
    body = {"k": 10, "available": available, "exclude_watched": False}
    compared = [
        Workload("GET live_only=true", "GET", [f"/recomendations/user/{u}{query}" for u in users]),
        Workload(
            f"POST {len(available):,} available",
            "POST",
            [f"/recomendations/user/{u}" for u in users],
            json.dumps(body).encode(),
        ),
    ]
    results: dict[tuple[str, bool], list] = {}
    with rh.server(model, args.out / "replay" / "server-latency.log") as running:
        client = rh.Client(running.port)
        client.put_live(available)
        client.close()
        steady = rh.SteadyIngest(running.port, win)
        for workload in compared:  # warm-up
            loader(running.port, workload, args.connections, 2.0, args.out)
        for round_ in range(args.repeat):
            for workload in compared:
                for ingesting in (False, True):
                    if ingesting:
                        with steady:
                            measured = _measure(loader, running, workload, args)
                        rate, posts = steady.rate, steady.post_ms
                    else:
                        measured, rate, posts = _measure(loader, running, workload, args), 0.0, []
                    results.setdefault((workload.name, ingesting), []).append(
                        (measured, rate, posts)
                    )
                    logger.info(
                        "round %d %s%s: %.0f req/s, p99 %.2f ms",
                        round_ + 1,
                        workload.name,
                        " + ingest" if ingesting else "",
                        measured.rps,
                        measured.p99_ms,
                    )
    lines = [
        "### Latency while ingesting",
        "",
        f"{_loader_name(loader)}, {args.connections} connections, {args.duration:g} s per run, "
        f"median of {args.repeat} rounds; the window's {len(users):,} viewers at random; a live "
        f"set of {len(available):,} streamers. Ingesting: one client posting 250 closed rows "
        "every 50 ms (target 5,000 events/s), cycling through the window with new stream ids.",
        "",
        "| request | ingesting | events/s achieved | POST /events p50 / p99 ms | requests/s | "
        "p50 ms | p99 ms | server CPU/request | errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (name, ingesting), runs in results.items():

        def med(attr: str, runs=runs) -> float:
            return statistics.median(getattr(m, attr) for m, _, _ in runs)

        rate = statistics.median(r for _, r, _ in runs)
        posts = rh.percentiles([ms for _, _, p in runs for ms in p])
        lines.append(
            f"| {name} | {'yes' if ingesting else 'no'} | "
            f"{f'{rate:,.0f}' if ingesting else '–'} | {posts} | {med('rps'):,.0f} | "
            f"{med('p50_ms'):.2f} | {med('p99_ms'):.2f} | {med('cpu_us'):,.0f} µs | "
            f"{sum(m.errors for m, _, _ in runs)} |"
        )
    lines.append(
        "CPU/request while ingesting includes the ingestion's share of the server; POST /events "
        "latencies are over all rounds. The ingesting client posts its next batch at once when "
        "the last one took longer than 50 ms, so a rate under 5,000 is what one sequential "
        "client got through."
    )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    began = time.perf_counter()
    load_before = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    path, title = _data_path(args)
    work = args.out / "replay"
    work.mkdir(parents=True, exist_ok=True)
    sessions, _ = data.read_sessions(path)
    history, win, live = rd.split(sessions, args.window)
    del sessions
    before = rd.write_history(history, work / "before.csv")
    train_args = ["--no-tune"] if args.no_tune else []
    if args.tune_budget is not None:
        train_args += ["--tune-budget", f"{args.tune_budget:g}"]
    tag = "-".join(a.lstrip("-") for a in train_args) or "tuned"
    model = work / f"model-{tag}.npz"  # one per training set-up, each reused on reruns
    started = time.perf_counter()
    trained = rd.ensure_model(ROOT, before, model, train_args)
    fit_seconds = time.perf_counter() - started

    lines, failure = quality(args, history, win, live, model)
    sections = [lines]
    if args.skip_ingest:
        sections.append(["Ingestion throughput: not run (--skip-ingest)."])
    elif failure is not None:
        sections.append([f"Ingestion throughput: not run: {failure}."])
    else:
        sections.append(ingestion(args, win, model))
    if args.skip_latency:
        sections.append(["Latency while ingesting: not run (--skip-latency)."])
    elif failure is not None:
        sections.append([f"Latency while ingesting: not run: {failure}."])
    else:
        sections.append(latency(args, win, model))
    load_after = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    head = [
        f"## Replay benchmark, {dt.date.today().isoformat()}: {title}",
        "",
        f"History before step {win.cut} ({len(history):,} sessions, {win.history_users:,} "
        f"viewers) trained by `als_fit.py {' '.join(train_args) or '(tuned)'}` "
        + (f"in {fit_seconds:.0f} s" if trained else "(reused: same fingerprint)")
        + f"; {os.cpu_count()} cores; load average {load_before} before, {load_after} after; "
        f"wall time {time.perf_counter() - began:.0f} s.",
        "",
    ]
    parts = [Path(a).name if "/" in a else a for a in argv]  # file names, never folders
    command = "python -m bench replay" + (" -- " + " ".join(parts) if parts else "")
    sections.append([f"Reproduce: `{command}`."])
    report = "\n".join(head + [line for section in sections for line in [*section, ""]])
    print(report)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    (args.out / f"replay-{stamp}.md").write_text(report + "\n")
    return 1 if failure is not None else 0

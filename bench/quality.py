"""Model quality, real data first: every model, the served configuration included, per data set.

For each data set (the real Twitch slice at ``../shared/data/twitch-real-slice.csv`` when it is
there, then the generator's ``--presets``, or ``--data`` files) it runs the evaluation of
``python metrics.py`` on the test window (fit before ``T - W``, evaluate ``[T - W, T]``) with
every model: popularity, repeat, the seed's gradient-descent MF, ALS with the fixed defaults,
BPR, the ALS + repeat blend, and ``served``, trained exactly as ``python als_fit.py`` trains
(its own validation window inside the history, the search, the live ranker). It prints one
table per data set, the served configuration's paired test against repeat, and, for the real
slice, the quality targets with their margins.

    python -m bench quality                               # real slice + the small preset
    python -m bench quality -- --presets small,twitch-100k   # + the 100k-user shape (slow)
    python -m bench quality -- --data FILE --no-real

It is a benchmark, not a test: it prints tables and asserts nothing.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Sequence
from pathlib import Path

from streamrec import data
from streamrec.data.split import DEFAULT_WINDOW
from streamrec.data.synth import PRESETS, write_sessions
from streamrec.evaluation.evaluate import Evaluation, default_models, evaluate
from streamrec.evaluation.protocols import paired_hits
from streamrec.model.als import ALSParams
from streamrec.training.pipeline import TrainingPlan
from streamrec.training.served import Served

DEFAULT = False  # minutes: run when named
ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
REAL_SLICE = ROOT.parent / "shared" / "data" / "twitch-real-slice.csv"


def sample_path(preset: str) -> Path:
    """The generated sample of ``preset`` under ``bench/out/``, written if missing."""
    path = OUT / f"{preset}.csv"
    if not path.is_file():
        OUT.mkdir(parents=True, exist_ok=True)
        print(write_sessions(PRESETS[preset], path).summary())
    return path


def table(evaluation: Evaluation, served_model: Served, title: str) -> str:
    """One data set's results: protocol 1 (watched excluded) and protocol 2, every model."""
    c = evaluation.counts
    lines = [
        f"### {title}",
        "",
        f"Test window [{evaluation.fold.cut}, {evaluation.fold.stop - 1}]: {c['users']:,} viewers "
        f"with history, {c['streamers']:,} streamers, {c['repeat_share']:.1%} of next sessions "
        f"return to a watched streamer, {c['live_per_step']:.0f} live per target step.",
        "",
        "| model | NDCG@10 new, watched excl. | recall@10 new | live HR@1 | HR@1 new | "
        "HR@1 repeat | live HR@10 | live NDCG@10 | fit s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for m in evaluation.models:
        new = m.topk["exclude"]["new"]
        lines.append(
            f"| {m.name} | {new['ndcg'][9]:.4f} | {new['recall'][9]:.4f} "
            f"| {m.live['all']['hit_rate@1']:.4f} | {m.live['new']['hit_rate@1']:.4f} "
            f"| {m.live['repeat']['hit_rate@1']:.4f} | {m.live['all']['hit_rate@10']:.4f} "
            f"| {m.live['all']['ndcg@10']:.4f} | {m.fit_seconds:.1f} |"
        )
    served, repeat = evaluation.model("served"), evaluation.model("repeat")
    pair = paired_hits(served.live_ranks, repeat.live_ranks, k=1)
    lines += [
        "",
        f"served vs repeat, live HR@1 on the same targets: served hits {pair.gained} that "
        f"repeat misses and misses {pair.lost} that repeat hits (exact McNemar p = "
        f"{pair.p_value:.2g}).",
    ]
    validation = served_model.run_.validation
    lines.append(
        f"served: ALS {served_model.run_.params.as_dict()}, chosen on its own validation "
        f"window (the latest {validation.get('window', '-')} steps of the history)."
    )
    return "\n".join(lines)


def targets(evaluation: Evaluation) -> str:
    """The real-slice targets of the quality issue, each with its margin."""

    def ndcg(name: str) -> float:
        return float(evaluation.model(name).topk["exclude"]["new"]["ndcg"][9])

    served = evaluation.model("served").live
    repeat = evaluation.model("repeat").live
    checks = [
        (
            "served live HR@1 beats repeat by >= 0.05",
            served["all"]["hit_rate@1"] - repeat["all"]["hit_rate@1"],
            0.05,
        ),
        ("served live HR@1 on new targets >= 0.25", served["new"]["hit_rate@1"], 0.25),
        (
            "served NDCG@10 new (excl.) >= the best of BPR and MF",
            ndcg("served") - max(ndcg("bpr"), ndcg("mf-gd")),
            0.0,
        ),
        (
            "served NDCG@10 new (excl.) >= 3x popularity",
            ndcg("served") / max(ndcg("popularity"), 1e-12),
            3.0,
        ),
    ]
    lines = ["| target | measured | needed | met |", "|---|---:|---:|---|"]
    for label, value, needed in checks:
        lines.append(
            f"| {label} | {value:.4f} | {needed:g} | {'yes' if value >= needed else 'NO'} |"
        )
    return "\n".join(lines)


def run(path: Path, window: int) -> tuple[Evaluation, Served]:
    """Every model, the served configuration last, on the test window of ``path``."""
    sessions, _ = data.read_sessions(path)
    served = Served(TrainingPlan())
    return evaluate(sessions, [*default_models(ALSParams()), served], window=window), served


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench quality",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--presets", default="small", help="generator presets to run too (comma-separated)"
    )
    parser.add_argument("--data", type=Path, action="append", default=[], help="more CSV files")
    parser.add_argument("--no-real", action="store_true", help="skip the real slice")
    parser.add_argument("--window", type=int, default=DEFAULT_WINDOW, help="W in steps")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    sets: list[tuple[str, Path]] = []
    if not args.no_real:
        if REAL_SLICE.is_file():
            sets.append(("real Twitch slice (../shared/data/twitch-real-slice.csv)", REAL_SLICE))
        else:
            print(f"the real slice is not here ({REAL_SLICE.name}): generator only\n")
    for preset in filter(None, (p.strip() for p in args.presets.split(","))):
        if preset not in PRESETS:
            print(f"error: unknown preset {preset!r}; choose from {sorted(PRESETS)}")
            return 2
        sets.append((f"generator, preset {preset}", sample_path(preset)))
    sets += [(str(path), path) for path in args.data]
    for title, path in sets:
        started = time.perf_counter()
        evaluation, served = run(path, args.window)
        print(table(evaluation, served, title))
        if path == REAL_SLICE:
            print()
            print(targets(evaluation))
        print(f"\n({time.perf_counter() - started:.0f} s)\n", flush=True)
    return 0

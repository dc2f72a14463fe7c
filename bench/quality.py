"""Model quality on a Twitch-like sample: the blend-weight sweep and the evaluation report.

1. Generates the sample into ``bench/out/`` if it is missing (``--preset``, default
   ``twitch-100k``), or uses ``--data``.
2. On the validation window (fit before ``T - 2W``, evaluate ``[T - 2W, T - W)``), fits ALS with
   the project's settings once and scores the ALS + repeat blend for each ``--weights`` value:
   protocol 2 (next session among live streamers) and protocol 1 with watched streamers kept,
   next to the repeat baseline.
   This is how the blend's default weight was chosen; the test window is not looked at.
3. Runs the whole evaluation on the test window, as ``python metrics.py`` does, and writes the
   report into ``--out``.

Run from the repository root (several minutes at the 100k-user scale)::

    python -m bench quality
    python -m bench quality -- --preset small --weights 0,1,10

It is a benchmark, not a test: it prints tables and asserts nothing.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

from streamrec import data
from streamrec.baselines import ALS, Blend, Repeat
from streamrec.cli import load_settings
from streamrec.cli.evaluate import main as evaluate_main
from streamrec.evaluate import evaluate_topk, live_metrics, live_ranks, prepare_fold
from streamrec.live import LiveIndex
from streamrec.split import DEFAULT_WINDOW, TimeSplit
from streamrec.synth import PRESETS, write_sessions
from streamrec.train import ALSParams

DEFAULT = False  # minutes at the 100k-user scale: run when named
OUT = Path(__file__).resolve().parent / "out"


def sample_path(preset: str) -> Path:
    """The generated sample of ``preset`` under ``bench/out/``, written if missing."""
    path = OUT / f"{preset}.csv"
    if not path.is_file():
        OUT.mkdir(parents=True, exist_ok=True)
        print(write_sessions(PRESETS[preset], path).summary())
    return path


def blend_sweep(path: Path, weights: Sequence[float], window: int) -> str:
    """The blend's validation numbers per weight, as a Markdown table."""
    sessions, _ = data.read_sessions(path)
    fold = prepare_fold(sessions, TimeSplit.from_sessions(sessions, window=window).valid)
    live = LiveIndex.from_sessions(sessions)
    is_repeat = fold.next_is_repeat()
    als = ALS(ALSParams.from_settings(load_settings())).fit(fold.history)
    lines = [
        f"Blend weight on the validation window ({len(fold.users):,} users, "
        f"{is_repeat.mean():.1%} repeat targets); ALS {als.params.as_dict()}",
        "",
        "| weight | HR@1 | HR@1 new | HR@1 repeat | HR@10 | NDCG@10 | NDCG@10 all kept (P1) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    models = [("repeat", Repeat().fit(fold.history))]
    models += [(f"{w:g}", Blend(als, weight=w).fit(fold.history)) for w in weights]
    for label, model in models:
        p2 = live_metrics(live_ranks(model, fold, live), is_repeat)
        p1 = evaluate_topk(model, fold, max_k=10, modes=("keep",))["keep"]["all"]
        lines.append(
            f"| {label} | {p2['all']['hit_rate@1']:.4f} | {p2['new']['hit_rate@1']:.4f} "
            f"| {p2['repeat']['hit_rate@1']:.4f} | {p2['all']['hit_rate@10']:.4f} "
            f"| {p2['all']['ndcg@10']:.4f} | {p1['ndcg'][9]:.4f} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench quality",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--preset", choices=sorted(PRESETS), default="twitch-100k")
    parser.add_argument("--data", type=Path, default=None, help="sessions CSV (not --preset)")
    parser.add_argument("--window", type=int, default=DEFAULT_WINDOW, help="W in steps")
    parser.add_argument(
        "--weights", default="0,0.3,1,3,10,30", help="blend weights to compare (comma-separated)"
    )
    parser.add_argument("--out", type=Path, default=OUT / "quality", help="report folder")
    parser.add_argument("--skip-report", action="store_true", help="only the blend sweep")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    path = args.data or sample_path(args.preset)
    weights = [float(w) for w in args.weights.split(",") if w.strip()]
    print(blend_sweep(path, weights, args.window), flush=True)
    if args.skip_report:
        return 0
    print()
    return evaluate_main(
        ["--data", str(path), "--window", str(args.window), "--out", str(args.out)]
    )

"""`python metrics.py --data FILE`: evaluate every model on a time split, write the report."""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Sequence
from pathlib import Path

from streamrec import data
from streamrec.cli import fail, load_settings
from streamrec.data.split import DEFAULT_WINDOW
from streamrec.evaluation.baselines import Estimator
from streamrec.evaluation.evaluate import default_models, evaluate
from streamrec.evaluation.protocols import MAX_K
from streamrec.evaluation.report import markdown, write_report
from streamrec.model.als import ALSParams, TrainingError
from streamrec.ranking.blend import DEFAULT_WEIGHT
from streamrec.training.pipeline import TrainingPlan
from streamrec.training.served import Served

MODEL_NAMES = [m.name for m in default_models()] + [Served.name]


def build_parser() -> argparse.ArgumentParser:
    settings = load_settings()
    parser = argparse.ArgumentParser(
        prog="metrics.py",
        description=(
            "Evaluate popularity, repeat, gradient MF, ALS (the project's fixed settings), BPR, "
            "the ALS + repeat blend and the served configuration (trained as als_fit.py "
            "trains: tuned on its own validation window, with the live ranker) on a time "
            "split: top-K over all streamers, and the next session among live streamers. "
            "Prints the tables and writes report.md, results.json and PNG plots."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--data", type=Path, default=settings.data_path, help="sessions CSV")
    parser.add_argument("--k", type=int, default=10, help="cut-off of the top-K table")
    parser.add_argument("--out", type=Path, default=Path("report"), help="report folder")
    parser.add_argument(
        "--window", type=int, default=DEFAULT_WINDOW, help="W: validation and test window, steps"
    )
    parser.add_argument("--end", type=int, default=None, help="T: last step (None: the data's)")
    parser.add_argument(
        "--fold",
        choices=["test", "valid"],
        default="test",
        help="test: fit before T-W, evaluate [T-W, T]; valid: fit before T-2W, eval [T-2W, T-W)",
    )
    parser.add_argument(
        "--models",
        default=",".join(MODEL_NAMES),
        help=f"comma-separated subset of {','.join(MODEL_NAMES)}",
    )
    parser.add_argument(
        "--blend-weight", type=float, default=DEFAULT_WEIGHT, help="weight of the ALS blend"
    )
    parser.add_argument("--max-users", type=int, default=None, help="evaluate a user sample")
    parser.add_argument("--seed", type=int, default=0, help="seed of the user sample")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    return parser


def choose_models(names: str, als_params: ALSParams, blend_weight: float) -> list[Estimator]:
    """The default models named in the comma-separated ``names``, in the default order."""
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    unknown = sorted(set(wanted) - set(MODEL_NAMES))
    if unknown or not wanted:
        raise ValueError(f"--models must name some of {','.join(MODEL_NAMES)}, got {names!r}")
    models = [*default_models(als_params, blend_weight), Served(TrainingPlan(params=als_params))]
    return [m for m in models if m.name in wanted]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO, format="%(asctime)s %(message)s"
    )
    if not 1 <= args.k <= MAX_K:
        return fail(f"--k must be between 1 and {MAX_K}, got {args.k}")
    if args.max_users is not None and args.max_users < 1:
        return fail(f"--max-users must be >= 1, got {args.max_users}")
    started = time.perf_counter()
    try:
        models = choose_models(
            args.models, ALSParams.from_settings(load_settings()), args.blend_weight
        )
        sessions, _ = data.read_sessions(args.data)
        evaluation = evaluate(
            sessions,
            models,
            window=args.window,
            end=args.end,
            fold=args.fold,
            max_users=args.max_users,
            seed=args.seed,
        )
        paths = write_report(evaluation, args.out, k=args.k, title=str(args.data))
    except (data.DataError, TrainingError, ValueError) as exc:
        return fail(str(exc))
    except OSError as exc:
        return fail(f"cannot write the report to {args.out}: {exc}")
    print(markdown(evaluation, k=args.k, title=str(args.data)))
    print(f"wrote {', '.join(str(p) for p in paths.values())}")
    print(f"total time {time.perf_counter() - started:.0f}s")
    return 0

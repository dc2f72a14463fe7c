"""`python als_fit.py`: read sessions, fit ALS, write the model artifact, print a summary."""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Sequence
from pathlib import Path

import implicit

from streamrec import artifact, data
from streamrec.cli import fail, load_settings
from streamrec.train import ALSParams, TrainingError, fit_als

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    settings = load_settings()
    parser = argparse.ArgumentParser(
        prog="als_fit.py",
        description="Train implicit ALS on watch sessions and write the model artifact.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--data", type=Path, default=settings.data_path, help="sessions CSV")
    parser.add_argument("--model", type=Path, default=settings.model_path, help="artifact path")
    parser.add_argument("--factors", type=int, default=settings.factors)
    parser.add_argument("--iterations", type=int, default=settings.iterations)
    parser.add_argument("--regularization", type=float, default=settings.regularization)
    parser.add_argument("--alpha", type=float, default=settings.alpha)
    parser.add_argument(
        "--confidence",
        choices=["linear", "log"],
        default=settings.confidence,
        help="f(watch) in c = 1 + alpha * f(watch)",
    )
    parser.add_argument("--eps", type=float, default=settings.eps, help="scale of 'log'")
    parser.add_argument("--seed", type=int, default=settings.seed)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        params = ALSParams(
            factors=args.factors,
            iterations=args.iterations,
            regularization=args.regularization,
            alpha=args.alpha,
            confidence=args.confidence,
            eps=args.eps,
            seed=args.seed,
        )
    except ValueError as exc:
        return fail(str(exc))
    try:
        summary = train(args.data, args.model, params, show_progress=not args.quiet)
    except (data.DataError, TrainingError, artifact.ArtifactError) as exc:
        return fail(str(exc))
    except OSError as exc:
        return fail(f"cannot write {args.model}: {exc}")
    print(summary)
    return 0


def train(data_path: Path, model_path: Path, params: ALSParams, show_progress: bool = False) -> str:
    """Run the whole pipeline and return the human-readable summary."""
    started = time.perf_counter()
    sessions, report = data.read_sessions(data_path)
    interactions = data.build_interactions(sessions)
    del sessions
    loaded = time.perf_counter()

    user_factors, item_factors = fit_als(interactions.user_items, params, show_progress)
    fitted = time.perf_counter()

    model = artifact.from_training(
        interactions,
        user_factors,
        item_factors,
        engine="implicit",
        implicit_version=implicit.__version__,
        params=params.as_dict(),
        data={
            "path": str(data_path),
            "fingerprint": data.fingerprint(data_path),
            "rows_read": report.rows_read,
            "rows_dropped": report.dropped,
        },
    )
    artifact.save(model, model_path)
    saved = time.perf_counter()

    users, items = interactions.shape
    size_mb = model_path.stat().st_size / 1e6
    return "\n".join(
        [
            f"data       {data_path}: {report.summary()}",
            f"matrix     {users:,} users x {items:,} streamers, "
            f"{interactions.user_items.nnz:,} non-zeros",
            f"params     {params.as_dict()}",
            f"time       load {loaded - started:.1f}s, fit {fitted - loaded:.1f}s, "
            f"save {saved - fitted:.1f}s",
            f"artifact   {model_path} ({size_mb:.1f} MB), version {model.model_version}",
        ]
    )

"""`python als_fit.py`: read sessions, fit ALS, write the model artifact, print a summary."""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import implicit

from streamrec import artifact, data
from streamrec.cli import fail, load_settings
from streamrec.precompute import with_top_lists
from streamrec.spark_train import DEFAULT_REG_PARAM, SparkUnavailableError, fit_spark
from streamrec.split import DEFAULT_WINDOW
from streamrec.train import ALSParams, TrainingError, fit_als

if TYPE_CHECKING:
    import pandas as pd

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
        help="f(watch) in the confidence c = alpha * f(watch)",
    )
    parser.add_argument("--eps", type=float, default=settings.eps, help="scale of 'log'")
    parser.add_argument("--seed", type=int, default=settings.seed)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--engine",
        choices=["implicit", "spark"],
        default="implicit",
        help="implicit: in memory on this machine; spark: Spark MLlib ALS "
        "(pip install -r requirements-spark.txt)",
    )
    parser.add_argument(
        "--spark-master",
        default="local[2]",
        help="Spark master for --engine spark: local[N], spark://host:7077, yarn, ...",
    )
    parser.add_argument(
        "--spark-reg-param",
        type=_reg_param,
        default=settings.spark_reg_param,
        help="Spark's regParam for --engine spark (Spark scales it by each user's and "
        "streamer's number of ratings, so it is not --regularization); 'mapped' = "
        "regularization * users / pairs",
    )
    parser.add_argument(
        "--tune",
        action="store_true",
        help="first search factors, regularization, alpha, iterations and the confidence on "
        "the validation window (random search; the flags above are trial 0), print the "
        "trials, then train on all data with the best setting",
    )
    parser.add_argument("--tune-budget", type=float, default=600.0, help="--tune seconds")
    parser.add_argument("--tune-trials", type=int, default=None, help="--tune max trials")
    parser.add_argument("--window", type=int, default=DEFAULT_WINDOW, help="--tune: W, steps")
    return parser


def _reg_param(text: str) -> float | None:
    """A non-negative finite number, or ``mapped`` (None) for ``--spark-reg-param``."""
    if text.strip().lower() in ("mapped", "none", ""):
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number or 'mapped': {text!r}") from None
    if not (value >= 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text!r}")
    return value


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
    loaded = None
    if args.tune:
        from streamrec.tune import run_tuning

        try:
            loaded = data.read_sessions(args.data)
            params = run_tuning(
                loaded[0],
                params,
                budget_seconds=args.tune_budget,
                max_trials=args.tune_trials,
                window=args.window,
                echo=print,
            )
        except (data.DataError, TrainingError, ValueError, OSError) as exc:
            return fail(_message(exc, args.data, args.model))
    try:
        summary = train(
            args.data,
            args.model,
            params,
            show_progress=not args.quiet,
            engine=args.engine,
            spark_master=args.spark_master,
            spark_reg_param=args.spark_reg_param,
            loaded=loaded,
        )
    except (data.DataError, TrainingError, artifact.ArtifactError, SparkUnavailableError) as exc:
        return fail(_message(exc, args.data, args.model))
    except OSError as exc:
        return fail(_message(exc, args.data, args.model))
    print(summary)
    return 0


def _message(exc: Exception, data_path: Path, model_path: Path) -> str:
    """The one-line error for a failed run: which file it is about, and why."""
    if isinstance(exc, data.DataError) and data_path.is_dir():
        return f"data path is a directory, not a sessions file: {data_path}"
    if isinstance(exc, OSError):
        if exc.filename is not None and Path(exc.filename) == data_path:
            return f"cannot read data file {data_path}: {exc.strerror or exc}"
        return f"cannot write {model_path}: {exc}"
    return str(exc)


def train(
    data_path: Path,
    model_path: Path,
    params: ALSParams,
    show_progress: bool = False,
    engine: str = "implicit",
    spark_master: str = "local[2]",
    spark_reg_param: float | None = DEFAULT_REG_PARAM,
    loaded: tuple[pd.DataFrame, data.LoadReport] | None = None,
) -> str:
    """Run the whole pipeline with ``engine`` ("implicit" or "spark"); return the summary.

    ``spark_reg_param`` is Spark's ``regParam`` (None: mapped from ``params.regularization``
    by :func:`streamrec.spark_train.spark_reg_param`); the implicit engine ignores it.
    ``loaded`` is ``data_path`` already read by :func:`streamrec.data.read_sessions` (e.g. for
    ``--tune``), so the implicit engine does not read it again; Spark reads the file itself.
    """
    if engine not in ("implicit", "spark"):
        raise ValueError(f"engine must be 'implicit' or 'spark', got {engine!r}")
    started = time.perf_counter()
    if engine == "spark":
        run = fit_spark(data_path, params, master=spark_master, reg_param=spark_reg_param)
        interactions, report = run.interactions, run.report
        user_factors, item_factors = run.user_factors, run.item_factors
        loaded = started + run.load_seconds
        engine_info = {
            "engine": "spark",
            "spark_version": run.spark_version,
            "spark_master": spark_master,
            "spark_reg_param": run.reg_param,
        }
        engine_name = f"spark {run.spark_version} on {spark_master} (regParam {run.reg_param:.4g})"
    else:
        sessions, report = loaded or data.read_sessions(data_path)
        interactions = data.build_interactions(sessions)
        del sessions
        loaded = time.perf_counter()
        user_factors, item_factors = fit_als(interactions.user_items, params, show_progress)
        engine_info = {"engine": "implicit", "implicit_version": implicit.__version__}
        engine_name = f"implicit {implicit.__version__}"
    fitted = time.perf_counter()

    model = artifact.from_training(
        interactions,
        user_factors,
        item_factors,
        **engine_info,
        params=params.as_dict(),
        data={
            "path": str(data_path),
            "fingerprint": data.fingerprint(data_path),
            "rows_read": report.rows_read,
            "rows_dropped": report.dropped,
        },
    )
    settings = load_settings()  # the server's lists, computed here where there is time
    model = with_top_lists(model, settings.precompute_top_n, settings.precompute_max_users)
    listed = time.perf_counter()
    artifact.save(model, model_path)
    saved = time.perf_counter()

    users, items = interactions.shape
    size_mb = model_path.stat().st_size / 1e6
    return "\n".join(
        [
            f"data       {data_path}: {report.summary()}",
            f"matrix     {users:,} users x {items:,} streamers, "
            f"{interactions.user_items.nnz:,} non-zeros",
            f"params     {engine_name}: {params.as_dict()}",
            f"time       load {loaded - started:.1f}s, fit {fitted - loaded:.1f}s, "
            f"lists {listed - fitted:.1f}s, save {saved - listed:.1f}s",
            f"artifact   {model_path} ({size_mb:.1f} MB), version {model.model_version}",
        ]
    )

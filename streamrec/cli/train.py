"""`python als_fit.py`: read sessions, fit ALS, write the model artifact, print a summary."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

from streamrec import data
from streamrec.cli import fail, load_settings
from streamrec.model import artifact
from streamrec.model.als import ALSParams, TrainingError
from streamrec.model.spark_session import SparkUnavailableError
from streamrec.settings import Settings
from streamrec.training.pipeline import TrainingPlan
from streamrec.training.run import train

logger = logging.getLogger(__name__)


class _DefaultsShown(argparse.ArgumentDefaultsHelpFormatter):
    """Defaults in the help, except the None and on/off ones, which the text explains."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or isinstance(action.default, bool):
            return action.help
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    settings = load_settings()
    parser = argparse.ArgumentParser(
        prog="als_fit.py",
        description="Train on watch sessions and write the model artifact: search the ALS "
        "hyperparameters on the latest sessions, learn the live ranker, refit on all data.",
        formatter_class=_DefaultsShown,
    )
    parser.add_argument(
        "--data",
        type=Path,
        action="append",
        default=None,
        help="sessions CSV or Parquet file, or a folder of them (such as the event log's, "
        "whose sealed segments are read); give it several times to read them together "
        f"(default {settings.data_path})",
    )
    parser.add_argument("--model", type=Path, default=settings.model_path, help="artifact path")
    fixed = "; giving any hyperparameter trains exactly what is given, without the search"
    for name, kind, extra in (
        ("factors", int, ""),
        ("iterations", int, ""),
        ("regularization", float, " (lambda)"),
        ("alpha", float, ""),
        ("eps", float, ", the scale of 'log'"),
    ):
        parser.add_argument(
            f"--{name}",
            type=kind,
            default=None,
            help=f"ALS {name}{extra}: searched when not given, from the fixed default "
            f"{getattr(settings, name)}{fixed if name == 'factors' else ''}",
        )
    parser.add_argument(
        "--confidence",
        choices=["linear", "log"],
        default=None,
        help=f"f(watch) in the confidence c = alpha * f(watch); searched when not given "
        f"(fixed default {settings.confidence})",
    )
    parser.add_argument("--seed", type=int, default=settings.seed, help="seed of every fit")
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
    search = parser.add_mutually_exclusive_group()
    search.add_argument(
        "--tune",
        dest="tune",
        action="store_true",
        default=None,
        help="search the hyperparameters on the validation window (the default, unless "
        "hyperparameters are given or the tune setting is false)",
    )
    search.add_argument(
        "--no-tune",
        dest="tune",
        action="store_false",
        help="train the fixed defaults (or the given hyperparameters) without a search",
    )
    parser.add_argument(
        "--tune-budget",
        type=float,
        default=settings.tune_budget,
        help="search budget in plain fits (trial 0, the fixed defaults, costs 1); the same "
        "trials run for a given seed on any machine",
    )
    parser.add_argument(
        "--tune-seconds",
        type=float,
        default=None,
        help="also stop the search after this many seconds (then the trials depend on the "
        "machine's speed)",
    )
    parser.add_argument("--tune-trials", type=int, default=None, help="at most this many trials")
    parser.add_argument(
        "--window",
        type=int,
        default=None,
        help="validation window in steps (default: chosen from the data, see the README)",
    )
    parser.add_argument(
        "--no-ranker",
        dest="ranker",
        action="store_false",
        default=settings.ranker,
        help="train no live ranker: lists that keep watched streamers use the repeat blend",
    )
    return parser


_HYPERPARAMETERS = ("factors", "iterations", "regularization", "alpha", "confidence", "eps")


def training_plan(args: argparse.Namespace, settings: Settings) -> TrainingPlan:
    """What the command line asks for: the fixed setting, and whether to search from it.

    Hyperparameters given as flags, or set in the environment or ``.env``, are trained
    exactly as given; the search runs only when none is (and neither ``--no-tune`` nor
    ``tune=false`` says otherwise).
    """
    given = {n: getattr(args, n) for n in _HYPERPARAMETERS if getattr(args, n) is not None}
    configured = settings.model_fields_set & set(_HYPERPARAMETERS)
    params = ALSParams.from_settings(settings, seed=args.seed, **given)
    tune = settings.tune if args.tune is None else args.tune
    if given or configured:
        if args.tune:
            raise ValueError(
                "--tune searches the hyperparameters, so it cannot be combined with fixed "
                f"ones ({', '.join(sorted(set(given) | configured))})"
            )
        tune = False
    return TrainingPlan(
        params=params,
        tune=tune,
        budget_fits=args.tune_budget,
        max_seconds=args.tune_seconds,
        max_trials=args.tune_trials,
        window=args.window,
        ranker=args.ranker,
    )


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
    if args.data is None:
        args.data = [load_settings().data_path]
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        plan = training_plan(args, load_settings())
    except ValueError as exc:
        return fail(str(exc))
    try:
        summary = train(
            args.data,
            args.model,
            plan,
            show_progress=not args.quiet,
            engine=args.engine,
            spark_master=args.spark_master,
            spark_reg_param=args.spark_reg_param,
            echo=print if not args.quiet else logger.info,
            settings=load_settings(),
        )
    except (data.DataError, TrainingError, artifact.ArtifactError, SparkUnavailableError) as exc:
        return fail(_message(exc, args.data, args.model))
    except ValueError as exc:
        return fail(str(exc))
    except OSError as exc:
        return fail(_message(exc, args.data, args.model))
    print(summary)
    return 0


def _message(exc: Exception, data_paths: Sequence[Path], model_path: Path) -> str:
    """The one-line error for a failed run: which file it is about, and why."""
    if isinstance(exc, data.DataError):
        for path in data_paths:
            if str(exc) == f"no *.csv or *.parquet files in folder {path}":
                return (
                    "data path is a directory with no sessions file (*.csv, *.csv.gz, "
                    f"*.parquet): {path}"
                )
    if isinstance(exc, OSError):
        if exc.filename is not None and _is_input(Path(exc.filename), data_paths):
            return f"cannot read data file {exc.filename}: {exc.strerror or exc}"
        return f"cannot write {model_path}: {exc}"
    return str(exc)


def _is_input(file: Path, data_paths: Sequence[Path]) -> bool:
    """``file`` is one of the inputs, or a file in an input folder."""
    return any(file == path or (path.is_dir() and file.parent == path) for path in data_paths)

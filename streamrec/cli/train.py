"""`python als_fit.py`: read sessions, fit ALS, write the model artifact, print a summary."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import implicit
import numpy as np

from streamrec import data
from streamrec.cli import fail, load_settings
from streamrec.data import event_log, events, loader
from streamrec.model import artifact
from streamrec.model.als import ALSParams, TrainingError
from streamrec.model.spark import DEFAULT_REG_PARAM, fit_spark
from streamrec.model.spark_session import SparkUnavailableError
from streamrec.ranking.precompute import with_top_lists
from streamrec.settings import Settings
from streamrec.training.pipeline import TrainingPlan, train_pipeline

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


def train(
    data_path: Path | Sequence[Path],
    model_path: Path,
    plan: TrainingPlan | ALSParams,
    show_progress: bool = False,
    engine: str = "implicit",
    spark_master: str = "local[2]",
    spark_reg_param: float | None = DEFAULT_REG_PARAM,
    echo: Callable[[str], None] = logger.info,
) -> str:
    """Run the whole pipeline with ``engine`` ("implicit" or "spark"); return the summary.

    ``plan`` says what to train (:class:`~streamrec.training.pipeline.TrainingPlan`; plain
    ``ALSParams`` train exactly those, with the live ranker). The implicit engine runs
    :func:`streamrec.training.pipeline.train_pipeline`, reporting its trials through ``echo``; Spark
    fits the plan's parameters as given, with ``spark_reg_param`` as its ``regParam`` (None:
    mapped from ``regularization`` by :func:`streamrec.model.spark.spark_reg_param`), and
    trains no ranker.

    ``data_path`` is one input or several, read together (:func:`streamrec.data.read_sessions`;
    the Spark engine reads one). The artifact's ``data`` metadata records them (``path`` is the
    first, ``paths`` all), a fingerprint of the files read, and the sealed event-log segments
    among them (``event_segments``, :func:`streamrec.data.event_log.consumed_segments`); with
    such segments, the artifact keeps the sessions still open in them (``open_sessions``,
    :func:`_still_open`), for a restarted server to hold.
    """
    if engine not in ("implicit", "spark"):
        raise ValueError(f"engine must be 'implicit' or 'spark', got {engine!r}")
    inputs = [Path(data_path)] if isinstance(data_path, str | Path) else list(map(Path, data_path))
    if not inputs:
        raise data.DataError("no data file given")
    if engine == "spark" and len(inputs) > 1:
        shown = ", ".join(map(str, inputs))
        raise ValueError(f"--engine spark reads one --data input, got {len(inputs)}: {shown}")
    if isinstance(plan, ALSParams):
        plan = TrainingPlan(params=plan, tune=False)
    started = time.perf_counter()
    extra: dict[str, Any] = {}
    report_lines: list[str] = []
    if engine == "spark":
        params = plan.params
        run = fit_spark(inputs[0], params, master=spark_master, reg_param=spark_reg_param)
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
        sessions, report = data.read_sessions(_readable(inputs, echo))
        loaded = time.perf_counter()
        training = train_pipeline(sessions, plan, show_progress, echo)
        del sessions
        interactions, params = training.interactions, training.params
        user_factors, item_factors = training.user_factors, training.item_factors
        engine_info = {"engine": "implicit", "implicit_version": implicit.__version__}
        engine_name = f"implicit {implicit.__version__}"
        extra["evaluation"] = {"validation": training.validation}
        if training.ranker_model is not None:
            extra["ranker"] = {"kind": "lightgbm-lambdarank", "now": training.history.now}
        report_lines = [training.report()]
        if training.tuning is not None:
            report_lines.append(training.tuning.table(limit=10))
    fitted = time.perf_counter()
    # The files read, not the folders resolved again: a segment sealed meanwhile was not read.
    files = [Path(f) for f in report.inputs] or _resolve(inputs)
    open_sessions, open_line = _still_open(files)
    opened = time.perf_counter()

    model = artifact.from_training(
        interactions,
        user_factors,
        item_factors,
        **engine_info,
        params=params.as_dict(),
        data={
            "path": str(inputs[0]),
            "paths": [str(path) for path in inputs],
            "fingerprint": data.fingerprint(files),
            "rows_read": report.rows_read,
            "rows_dropped": report.dropped,
            "event_segments": event_log.consumed_segments(files),
        },
        **extra,
    )
    model = dataclasses.replace(model, open_sessions=open_sessions)
    if engine == "implicit" and training.ranker_model is not None:
        model = dataclasses.replace(
            model,
            ranker_model=training.ranker_model,
            watch_sessions=training.history.sessions,
            watch_last_step=training.history.last_step,
        )
    settings = load_settings()  # the server's lists, computed here where there is time
    model = with_top_lists(model, settings.precompute_top_n, settings.precompute_max_users)
    listed = time.perf_counter()
    artifact.save(model, model_path)
    saved = time.perf_counter()

    users, items = interactions.shape
    size_mb = model_path.stat().st_size / 1e6
    served = "live ranker" if model.ranker_model is not None else "repeat blend"
    return "\n".join(
        [
            *report_lines,
            f"data       {', '.join(map(str, inputs))}: {report.summary()}",
            f"matrix     {users:,} users x {items:,} streamers, "
            f"{interactions.user_items.nnz:,} non-zeros",
            f"params     {engine_name}: {params.as_dict()}",
            f"live lists {served}",
            *open_line,
            f"time       load {loaded - started:.1f}s, train {fitted - loaded:.1f}s, "
            f"{f'still open {opened - fitted:.1f}s, ' if open_line else ''}"
            f"lists {listed - opened:.1f}s, save {saved - listed:.1f}s",
            f"artifact   {model_path} ({size_mb:.1f} MB), version {model.model_version}",
        ]
    )


def _still_open(files: Sequence[Path]) -> tuple[artifact.OpenSessions | None, list[str]]:
    """The sessions still open in the sealed event-log segments among ``files`` (the ones the
    artifact records as consumed), and the summary's line about them; None and no line when
    no segment was read.

    Training skips open rows, so without these a server restarted on the model would hold
    none of them until their closing rows arrive (:func:`streamrec.data.events.still_open`).
    """
    segments = [f for f in files if event_log.is_sealed(f)]
    if not segments:
        return None, []
    try:
        batch, where = events.still_open(segments)
    except events.EventsError as exc:
        raise data.DataError(str(exc)) from exc
    seqs = np.array([event_log.segment_seq(f) for f in segments], dtype=np.int64)
    sessions = artifact.OpenSessions(
        user_ids=batch.user_id,
        stream_keys=batch.stream_key,
        streamer_names=np.array(batch.streamer_name, dtype=object),
        time_starts=batch.time_start,
        segments=seqs[where],
    )
    line = f"events     {len(sessions):,} sessions still open in {len(segments):,} segments"
    return sessions, [line]


def _resolve(inputs: Sequence[Path]) -> list[Path]:
    try:
        return loader.resolve(inputs)
    except loader.InputError as exc:
        raise data.DataError(str(exc)) from exc


def _readable(inputs: Sequence[Path], echo: Callable[[str], None]) -> list[Path]:
    """The inputs less event-log folders with no sealed segment yet (a log just started)."""
    kept = []
    for path in inputs:
        found = list(path.iterdir()) if path.is_dir() else []
        if any(event_log.segment_seq(f) is not None for f in found) and not any(
            f.name.endswith(_DATA_SUFFIXES) for f in found
        ):
            echo(f"data       {path}: no sealed event segment yet, skipped")
            continue
        kept.append(path)
    return kept or list(inputs)  # nothing else: the reader's error names them


_DATA_SUFFIXES = (".csv", ".csv.gz", ".parquet")  # what a folder stands for (loader.resolve)

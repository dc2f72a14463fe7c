"""One training run: read the sessions, fit (implicit or Spark), write the model artifact.

What ``python als_fit.py`` runs after its arguments are read (:mod:`streamrec.cli.train`):
:func:`train` reads the inputs, fits with the chosen engine (the implicit engine through
:func:`streamrec.training.pipeline.train_pipeline`: validation window, search, ranker, refit),
records what the model was trained on (the inputs, a fingerprint, the event-log segments
consumed and the sessions still open in them), precomputes the server's lists and saves the
artifact, returning a summary.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import implicit
import numpy as np

from streamrec import data
from streamrec.data import event_log, events, loader
from streamrec.model import artifact
from streamrec.model.als import ALSParams
from streamrec.model.spark import DEFAULT_REG_PARAM, fit_spark
from streamrec.ranking.precompute import with_top_lists
from streamrec.settings import Settings, get_settings
from streamrec.training.pipeline import TrainingPlan, train_pipeline

logger = logging.getLogger(__name__)


def train(
    data_path: Path | Sequence[Path],
    model_path: Path,
    plan: TrainingPlan | ALSParams,
    show_progress: bool = False,
    engine: str = "implicit",
    spark_master: str = "local[2]",
    spark_reg_param: float | None = DEFAULT_REG_PARAM,
    echo: Callable[[str], None] = logger.info,
    settings: Settings | None = None,
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
    :func:`_still_open`), for a restarted server to hold. The lists precomputed for the
    server follow ``settings`` (default: the process's).
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
    settings = get_settings() if settings is None else settings
    # The server's lists, computed here where there is time.
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

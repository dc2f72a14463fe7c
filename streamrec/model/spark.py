"""Train the same implicit ALS model with Apache Spark MLlib, for more sessions than pandas holds.

:func:`fit_spark` reads a sessions CSV with Spark, cleans it with the rules of
:func:`streamrec.data.read_sessions`, aggregates watch steps per (user, streamer), indexes users
and streamers exactly as :func:`streamrec.data.sessions.build_interactions` does, fits
``pyspark.ml.recommendation.ALS`` and brings the factors back to the driver as float32 arrays, so
the caller writes the one artifact format with :func:`streamrec.model.artifact.from_training`.

What runs where
---------------
Distributed (Spark executors): reading, cleaning and counting bad rows, de-duplicating,
aggregating, indexing (a sort plus a zipWithIndex-style offset per partition) and the ALS fit.
On the driver: collecting the id maps, the (user, streamer, watch steps) pairs and both factor
matrices, and building the users x streamers CSR matrix the artifact stores. The driver therefore
needs about ``nnz * 16 + (users + streamers) * factors * 4`` bytes (plus the id maps), e.g.
~1.6 GB for 20 M pairs, 5 M users, 100 k streamers and 64 factors: the raw sessions may be far
larger than one machine holds, but the model is bounded by what the server (which keeps the whole
artifact in memory) can load anyway.

Hyperparameters
---------------
``f(w)`` (``w`` itself or ``log(1 + w / eps)``) is Spark's rating, ``alpha`` its ``alpha``,
``implicitPrefs=True``, ``rank=factors``, ``maxIter=iterations`` and ``seed=seed``; a watched
pair's confidence is ``alpha * f(w)`` in implicit and ``1 + alpha * f(w)`` in Spark (both give
unwatched pairs confidence 1). Giving Spark the rating ``f(w) - 1 / alpha`` instead, i.e.
implicit's confidence exactly, changed NDCG@10 by at most 0.01 (lower at regParam 1, higher
at 0.3; below the table), so ``alpha`` and ``f`` are passed as they are.

Regularisation differs: implicit adds ``regularization * I`` (lambda) to every least-squares
solve, Spark adds ``regParam * n * I`` where ``n`` is the number of streamers of the user (or
viewers of the streamer) being solved ("ALS-WR"). No mapping of lambda held up at the project's
default lambda = 70 (tuned for implicit at 100k users):

* on the mean user, ``regParam = lambda * users / nnz`` (:func:`spark_reg_param`): 6.0 on the
  5k-user sample, 4.7 on the 100k one. A streamer with ``n`` viewers then gets
  ``n / (nnz / users)`` times implicit's penalty (about 100 times for 1,500 viewers at 100k
  users) and the model collapses: NDCG@10 0.0002 and 0.0000, far below popularity;
* on the mean streamer, ``lambda * streamers / nnz``: 1.66 on the 5k sample, close to but
  below implicit there (0.241 vs 0.249); it grows with the catalogue's long tail (7.4 at 100k,
  not fitted: above 4, where the 5k sample's validation fold already collapsed);
* Spark's best value on the 5k sample was 0.3 to 1 on both folds and both protocols, and 0.5
  matched implicit at 100k, while implicit's tuned lambda grows with the data (30-50 at 5k
  users, 70-100 at 100k, per ``als_fit.py --tune``): Spark's penalty already grows with the
  counts.

So the Spark engine takes its own setting, ``spark_reg_param`` (``--spark-reg-param``), default
:data:`DEFAULT_REG_PARAM` = 0.5: the best protocol-1 NDCG@10 of the grid on the test fold and
0.011 below the best (1, nearer the collapse) on the validation fold, and within 0.003 of the
best protocol-2 NDCG@10 (0.3) on both. An empty setting (``None``) maps lambda with
:func:`spark_reg_param`, which only suits small lambdas.

Protocol 1 NDCG@10 of new streamers with watched ones excluded (and HR@10 new, protocol 2
NDCG@10), test fold (W = 250 steps) of :mod:`streamrec.evaluation.evaluate`, every other setting the
project's default; ``local[2]`` on a 2-core machine shared with other jobs, 2026-11-22.
5k users (3,905 evaluated, 57,572 pairs), ``python -m bench spark_reg -- data/sessions.csv``:

==========================  ========  ========  ===========  ========  =======
model                       regParam  NDCG@10   HR@10 new    P2 NDCG   fit s
==========================  ========  ========  ===========  ========  =======
popularity                  --        0.0890    0.3063       0.2614    0.0
implicit, lambda = 70       --        0.2486    0.6197       0.4282    1.3
Spark, mapped (users)       6.02      0.0002    0.0015       0.1482    47.6 *
Spark, mapped (streamers)   1.66      0.2412    0.6390       0.4512    19.0
Spark                       0.1       0.2180    0.5746       0.4988    17.0
Spark                       0.3       0.2505    0.6282       0.5064    13.3
Spark (default)             0.5       0.2658    0.6552       0.5041    11.2
Spark                       1         0.2647    0.6603       0.4724    11.1
Spark                       2         0.2247    0.6215       0.4421    16.1
==========================  ========  ========  ===========  ========  =======

(* the first fit in a JVM includes its warm-up.) On the validation fold (``--fold valid``,
which chose the value): implicit 0.2103, Spark mapped 0.0005, 0.3: 0.2623, 0.5: 0.2803,
1: 0.2908, 2: 0.2470, 4: 0.0018; with the ``f - 1/alpha`` rating (``--reg 1+shift,0.3+shift``)
0.2808 at 1 and 0.2654 at 0.3.

100k users (19,491 evaluated, 1,473,410 pairs, 157,206 streamers),
``python -m bench spark_reg -- data/twitch-100k.csv --reg mapped,0.5 --driver-memory 4g``:
popularity 0.0071; implicit 0.0715 (HR@10 new 0.2135, P2 NDCG@10 0.2168, fit 33 s); Spark
mapped (4.74) 0.0000 (fit 293 s); Spark 0.5 0.0721 (HR@10 new 0.2130, P2 NDCG@10 0.2286,
fit 230 s).

Needs ``pip install -r requirements-spark.txt`` and Java 17 or newer; neither is needed to
import this module.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from streamrec.data.sessions import (
    _TIME_PATTERN,
    _USER_ID_PATTERN,
    COLUMNS,
    DROP_REASONS,
    DataError,
    Interactions,
    LoadReport,
    _is_header,
)
from streamrec.model.als import ALSParams, TrainingError

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

logger = logging.getLogger(__name__)

# Spark's regParam when none is given (the ``spark_reg_param`` setting); see the module docstring.
DEFAULT_REG_PARAM = 0.5
# Spark ALS ids are Java ints.
MAX_SPARK_ID = 2**31 - 1
# monotonically_increasing_id(): partition index in the upper 31 bits, row in the lower 33.
_ROW_BITS = 33
_CORRUPT = "_corrupt_record"
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_LOCAL_MASTER = re.compile(r"^local(\[(\d+|\*)(,\d+)?\])?$")
# Unicode-aware trim, as the pandas reader's utf8_trim_whitespace (Spark's trim() only strips
# spaces).
_TRIM = r"(?U)^\s+|\s+$"


class SparkUnavailableError(RuntimeError):
    """pyspark or Java is missing, or the Spark driver could not start."""


@dataclass(frozen=True)
class SparkFit:
    """What a Spark training run returns, ready for :func:`streamrec.model.artifact.from_training`.

    Attributes
    ----------
    interactions : Interactions
        Users x streamers watch steps and both id maps, equal to what
        ``data.build_interactions(data.read_sessions(path)[0])`` gives on the same file.
    user_factors, item_factors : numpy.ndarray
        float32, rows ordered as ``interactions.user_ids`` and ``interactions.streamer_names``.
    report : LoadReport
        Rows read and dropped per reason, as the pandas reader counts them.
    spark_version : str
        Version of the Spark that trained the model.
    reg_param : float
        The ``regParam`` given to Spark (see :func:`spark_reg_param`).
    load_seconds, fit_seconds : float
        Session start, read, clean, aggregate, index and collect; ALS fit and collect factors.
    """

    interactions: Interactions
    user_factors: np.ndarray
    item_factors: np.ndarray
    report: LoadReport
    spark_version: str
    reg_param: float
    load_seconds: float
    fit_seconds: float


def spark_reg_param(regularization: float, n_users: int, nnz: int) -> float:
    """Spark's ``regParam`` for implicit's ``regularization``, matched on the mean user.

    Spark scales ``regParam`` by the number of ratings of each user or item it solves for;
    dividing by the mean number of streamers per user (``nnz / n_users``) gives the average user
    the same penalty as in implicit. Popular streamers then get a far larger penalty than in
    implicit: at the project's default ``regularization`` (70) this collapses the model (see
    the module docstring), so it is used only when asked for (``reg_param=None``).

    Examples
    --------
    >>> spark_reg_param(0.05, n_users=1000, nnz=20000)
    0.0025
    """
    if n_users < 1 or nnz < 1:
        raise ValueError(f"n_users and nnz must be >= 1, got n_users={n_users}, nnz={nnz}")
    return regularization * n_users / nnz


def fit_spark(
    data_path: str | Path,
    params: ALSParams,
    master: str = "local[2]",
    *,
    driver_memory: str | None = None,
    spark_conf: Mapping[str, str] | None = None,
    log_path: str | Path | None = None,
    reg_param: float | None = DEFAULT_REG_PARAM,
) -> SparkFit:
    """Read, clean, aggregate, index and fit ALS with Spark; return factors on the driver.

    Parameters
    ----------
    data_path : str or Path
        Sessions CSV (or a folder of them) in the Twitch format. A local path must exist on the
        driver and, on a cluster, at the same path on every node; a URI (``hdfs://...``,
        ``s3a://...``, ``file:///...``) is passed to Spark as it is.
    params : ALSParams
        The same hyperparameters as the implicit engine (mapping in the module docstring).
    master : str
        Spark master: ``local[2]``, ``local[*]``, ``spark://host:7077``, ``yarn``, ...
    driver_memory : str, optional
        JVM heap of the driver (in local mode also the only executor), e.g. ``"8g"``. Defaults
        to ``$SPARK_DRIVER_MEMORY``, else ``"2g"``.
    spark_conf : mapping of str to str, optional
        Extra Spark settings, applied last (``spark.executor.memory``, ``spark.yarn.queue``,
        ``spark.checkpoint.dir`` for long fits on a cluster, ...).
    log_path : str or Path, optional
        Where the JVM's output (Spark's log) goes. By default a temporary file, named in errors
        and in an INFO log record, and deleted after a successful run.
    reg_param : float or None
        Spark's ``regParam`` as it is (``DEFAULT_REG_PARAM`` unless given); None maps
        ``params.regularization`` with :func:`spark_reg_param`, which only suits small
        regularizations (see the module docstring).

    Returns
    -------
    SparkFit

    Raises
    ------
    DataError
        The file is missing or empty, has no valid row, or has more than 2**31 - 1 users or
        streamers.
    SparkUnavailableError
        pyspark or Java is missing, or the driver could not start.
    TrainingError
        Spark failed while running, or the factors are not finite.
    """
    _require_pyspark()
    _require_java()
    location, local_file = _resolve(data_path)
    log_file = Path(log_path) if log_path else _new_log_file()
    keep_log = log_path is not None
    started = time.perf_counter()
    try:
        with _session(master, driver_memory, spark_conf, log_file) as spark:
            try:
                return _run(spark, location, local_file, str(data_path), params, reg_param, started)
            except (DataError, TrainingError):
                raise
            except Exception as exc:
                if not _is_spark_error(exc):
                    raise
                raise TrainingError(
                    f"Spark failed: {_first_line(exc)} (Spark log: {log_file})"
                ) from exc
    except (SparkUnavailableError, TrainingError):
        keep_log = True  # the error names the log
        raise
    finally:
        if not keep_log:
            log_file.unlink(missing_ok=True)  # a temporary log only serves to explain a failure


def _run(
    spark: SparkSession,
    location: str,
    local_file: Path | None,
    shown_path: str,
    params: ALSParams,
    reg_param: float | None,
    started: float,
) -> SparkFit:
    report = LoadReport(path=shown_path, header_skipped=_has_header(spark, location, local_file))
    flagged = _flag_rows(_read_raw(spark, location, report.header_skipped))
    _count_reasons(flagged, report)
    pairs = _aggregate(flagged.filter("reason IS NULL")).persist()
    users = _dense_index(spark, pairs, "user_id", "u")
    items = _dense_index(spark, pairs, "streamer_name", "i")
    ratings = _ratings(pairs, users, items, params).persist()
    try:
        interactions, sessions = _collect_interactions(users, items, ratings)
        report.dropped["duplicate"] = report.rows_read - report.rows_dropped - sessions
        logger.info("read %s with Spark: %s", shown_path, report.summary())
        loaded = time.perf_counter()
        n_users, n_items = interactions.shape
        if reg_param is None:
            reg_param = spark_reg_param(params.regularization, n_users, interactions.user_items.nnz)
        user_factors, item_factors = _fit(spark, ratings, params, reg_param, n_users, n_items)
    finally:
        for frame in (ratings, pairs, users, items):
            frame.unpersist()
    fitted = time.perf_counter()
    return SparkFit(
        interactions=interactions,
        user_factors=user_factors,
        item_factors=item_factors,
        report=report,
        spark_version=spark.version,
        reg_param=reg_param,
        load_seconds=loaded - started,
        fit_seconds=fitted - loaded,
    )


# --- session ---------------------------------------------------------------------------------


def _require_pyspark() -> None:
    try:
        import pyspark  # noqa: F401
    except ImportError as exc:
        raise SparkUnavailableError(
            "the spark engine needs pyspark: pip install -r requirements-spark.txt"
        ) from exc
    with warnings.catch_warnings():
        # pyspark's py4j argument converters import these helpers on the first call into the
        # JVM, and the import warns once that pandas >= 3 is not fully supported. Nothing here
        # converts to or from pandas (results come back as Arrow), so import them quietly now.
        warnings.filterwarnings(
            "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
        )
        import pyspark.testing.utils  # noqa: F401


def _require_java() -> None:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return
    if shutil.which("java") is None:
        raise SparkUnavailableError(
            "the spark engine needs Java 17 or newer: install a JDK and put java on PATH "
            f"or set JAVA_HOME (JAVA_HOME={java_home!r})"
        )


def _new_log_file() -> Path:
    fd, name = tempfile.mkstemp(prefix="streamrec-spark-", suffix=".log")
    os.close(fd)
    return Path(name)


def _is_local(master: str) -> bool:
    return _LOCAL_MASTER.match(master) is not None


def spark_settings(
    master: str, driver_memory: str | None, extra: Mapping[str, str] | None
) -> dict[str, str]:
    """Spark settings for a short batch job: small shuffles in local mode, no UI, quiet console.

    Examples
    --------
    >>> spark_settings("local[2]", "4g", None)["spark.sql.shuffle.partitions"]
    '4'
    """
    memory = driver_memory or os.environ.get("SPARK_DRIVER_MEMORY") or "2g"
    settings = {
        "spark.master": master,
        "spark.app.name": "streamrec-als",
        "spark.driver.memory": memory,
        # Collecting more than the driver holds fails anyway; fail with Spark's clear error.
        "spark.driver.maxResultSize": memory,
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        # Every column is selected, so pruning cannot hide a row with a wrong field count.
        "spark.sql.csv.parser.columnPruning.enabled": "false",
    }
    if _is_local(master):
        settings.update(
            {
                # The default of 200 shuffle partitions is for clusters; 2 per core is plenty.
                "spark.sql.shuffle.partitions": str(2 * _local_cores(master)),
                "spark.default.parallelism": str(_local_cores(master)),
                "spark.driver.host": "127.0.0.1",
                "spark.driver.bindAddress": "127.0.0.1",
            }
        )
    settings.update(extra or {})
    return settings


def _local_cores(master: str) -> int:
    match = _LOCAL_MASTER.match(master)
    cores = match.group(2) if match else None
    if cores is None:
        return 1
    if cores == "*":
        return os.cpu_count() or 1
    return max(int(cores), 1)


@contextmanager
def _session(
    master: str,
    driver_memory: str | None,
    extra: Mapping[str, str] | None,
    log_file: Path,
) -> Iterator[SparkSession]:
    """A SparkSession whose JVM writes to ``log_file``; stopped, and its JVM ended, on exit."""
    from pyspark import SparkConf, SparkContext
    from pyspark.java_gateway import launch_gateway
    from pyspark.sql import SparkSession

    if SparkContext._active_spark_context is not None:
        raise SparkUnavailableError(
            "a SparkContext is already running in this process; stop it before training"
        )
    conf = SparkConf(loadDefaults=False).setAll(
        list(spark_settings(master, driver_memory, extra).items())
    )
    gateway = None
    with log_file.open("ab") as log:
        try:
            # Our own gateway, so that Spark's console output goes to the log file, not to the
            # terminal of the command that trains.
            gateway = launch_gateway(conf, popen_kwargs={"stdout": log, "stderr": log})
            context = SparkContext(conf=conf, gateway=gateway)
        except Exception as exc:
            _shutdown_gateway(gateway)
            raise SparkUnavailableError(
                f"cannot start Spark with master {master!r}: {_first_line(exc)} "
                f"(Spark log: {log_file})"
            ) from exc
    context.setLogLevel("WARN")
    spark = SparkSession(context)
    logger.info("Spark %s started on %s; its log is %s", spark.version, master, log_file)
    checkpoints = None
    if _is_local(master) and "spark.checkpoint.dir" not in (extra or {}):
        # ALS checkpoints every 10 iterations when a folder is set, keeping lineages short
        # (on a cluster, pass spark.checkpoint.dir on a shared file system).
        checkpoints = tempfile.mkdtemp(prefix="streamrec-spark-ckpt-")
        context.setCheckpointDir(checkpoints)
    try:
        yield spark
    finally:
        spark.stop()
        _shutdown_gateway(gateway)
        if checkpoints:
            shutil.rmtree(checkpoints, ignore_errors=True)


def _shutdown_gateway(gateway: Any) -> None:
    """End the JVM behind ``gateway``, so a later run starts a fresh one with its own settings.

    pyspark keeps the gateway in class attributes of SparkContext and reuses it for every
    later context; resetting them is what pyspark's own test suites do between sessions.
    """
    from pyspark import SparkContext

    if gateway is None:
        return
    proc = getattr(gateway, "proc", None)  # None when spark-submit started the JVM
    try:
        gateway.shutdown()
    finally:
        if SparkContext._gateway is gateway:
            SparkContext._gateway = None
            SparkContext._jvm = None
        if proc is not None:
            proc.stdin.close()  # the JVM exits when its stdin closes
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _is_spark_error(exc: BaseException) -> bool:
    from py4j.protocol import Py4JError
    from pyspark.errors import PySparkException

    return isinstance(exc, Py4JError | PySparkException)


def _first_line(exc: BaseException) -> str:
    """The first line of an error; for a raw Java error, of the Java exception (the JVM must
    still be running)."""
    text = str(exc)
    java = getattr(exc, "java_exception", None)
    if java is not None:
        try:
            text = str(java.toString())
        except Exception:  # the JVM is gone: keep py4j's own text
            pass
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


# --- read and clean (distributed) -------------------------------------------------------------


def _resolve(data_path: str | Path) -> tuple[str, Path | None]:
    """The location Spark reads and, for a local path, the file checked on the driver."""
    text = str(data_path)
    if _SCHEME.match(text):
        return text, None
    path = Path(data_path)
    if not path.exists():
        raise DataError(f"data file not found: {path}")
    if path.is_file() and path.stat().st_size == 0:
        raise DataError(f"data file is empty: {path}")
    return path.resolve().as_uri(), path


def _has_header(spark: SparkSession, location: str, local_file: Path | None) -> bool:
    """The first non-blank line is a header, by the same rule as the pandas reader."""
    from pyspark.sql import functions as F

    if local_file is not None and local_file.is_file():
        with local_file.open("rb") as fh:
            for raw in fh:
                line = raw.decode("utf-8", errors="replace").strip().lstrip("\ufeff")
                if line:
                    return _is_header(line)
        raise DataError(f"data file is empty: {local_file}")
    first = spark.read.text(location).filter(F.trim("value") != "").first()
    if first is None:
        raise DataError(f"data file is empty: {location}")
    return _is_header(first["value"].lstrip("\ufeff"))


def _read_raw(spark: SparkSession, location: str, header: bool) -> DataFrame:
    """Every row as strings; a row with the wrong number of fields has ``_corrupt_record``."""
    from pyspark.sql.types import StringType, StructField, StructType

    schema = StructType([StructField(name, StringType()) for name in (*COLUMNS, _CORRUPT)])
    try:
        return spark.read.csv(
            location,
            schema=schema,
            header=header,
            mode="PERMISSIVE",
            columnNameOfCorruptRecord=_CORRUPT,
            escape='"',
        )
    except Exception as exc:
        if _is_spark_error(exc):
            raise DataError(f"cannot read {location}: {_first_line(exc)}") from exc
        raise


def _trimmed(name: str) -> Column:
    from pyspark.sql import functions as F

    # Spark reads an empty field as null; the pandas reader keeps it as "".
    return F.regexp_replace(F.coalesce(F.col(name), F.lit("")), _TRIM, "")


def _flag_rows(raw: DataFrame) -> DataFrame:
    """Trimmed columns plus ``reason``: the first drop reason that applies, or null."""
    from pyspark.sql import functions as F

    trimmed = raw.select(*(_trimmed(name).alias(name) for name in COLUMNS), _CORRUPT)
    user, name = F.col("user_id"), F.col("streamer_name")
    start, stop = F.col("time_start"), F.col("time_stop")
    checks: list[tuple[str, Column]] = [
        ("wrong_field_count", F.col(_CORRUPT).isNotNull()),
        ("empty_field", (F.length(user) == 0) | (F.length(name) == 0)),
        ("bad_user_id", ~user.rlike(_USER_ID_PATTERN)),
        ("open_session", (F.length(stop) == 0) & start.rlike(_TIME_PATTERN)),
        ("bad_time", ~(start.rlike(_TIME_PATTERN) & stop.rlike(_TIME_PATTERN))),
        ("stop_before_start", start.cast("int") > stop.cast("int")),
    ]
    reason = F.lit(None).cast("string")
    for label, failed in reversed(checks):
        reason = F.when(failed, F.lit(label)).otherwise(reason)
    return trimmed.withColumn("reason", reason).drop(_CORRUPT)


def _count_reasons(flagged: DataFrame, report: LoadReport) -> None:
    """Fill ``report`` with rows read and rows per drop reason (one pass over the data)."""
    counts = {row["reason"]: row["count"] for row in flagged.groupBy("reason").count().collect()}
    report.rows_read = sum(counts.values())
    for reason in DROP_REASONS:
        report.dropped[reason] = counts.get(reason, 0)
    if report.rows_kept == 0:
        raise DataError(f"no valid rows in {report.path}: {report.summary()}")


def _aggregate(valid: DataFrame) -> DataFrame:
    """Distinct sessions summed to ``(user_id, streamer_name, steps, sessions)``."""
    from pyspark.sql import functions as F

    typed = valid.select(
        F.col("user_id").cast("long").alias("user_id"),
        "stream_id",
        "streamer_name",
        F.col("time_start").cast("int").alias("time_start"),
        F.col("time_stop").cast("int").alias("time_stop"),
    ).dropDuplicates()
    steps = F.greatest(F.col("time_stop") - F.col("time_start"), F.lit(1)).cast("long")
    return typed.groupBy("user_id", "streamer_name").agg(
        F.sum(steps).alias("steps"), F.count(F.lit(1)).alias("sessions")
    )


# --- index (distributed) ----------------------------------------------------------------------


def _dense_index(spark: SparkSession, pairs: DataFrame, column: str, index: str) -> DataFrame:
    """``(column, index)``: the 0-based rank of each distinct value, as zipWithIndex would give.

    The distinct values are range-partitioned and sorted by Spark; each row's position in its
    partition comes from ``monotonically_increasing_id`` and the partition offsets (one number
    per partition) from a small aggregate, so no step needs all values in one place. Strings
    sort by UTF-8 bytes, i.e. by code point, as Python sorts them. The result is cached;
    unpersist it when done.
    """
    from pyspark.sql import functions as F

    row_mask = (1 << _ROW_BITS) - 1
    tagged = (
        pairs.select(column)
        .distinct()
        .orderBy(column)
        .withColumn("_id", F.monotonically_increasing_id())
        .select(
            column,
            F.shiftright("_id", _ROW_BITS).alias("_part"),
            F.col("_id").bitwiseAND(F.lit(row_mask)).alias("_pos"),
        )
        .persist()
    )
    sizes = sorted(
        (row["_part"], row["n"])
        for row in tagged.groupBy("_part").agg(F.count(F.lit(1)).alias("n")).collect()
    )
    total = sum(n for _, n in sizes)
    if total > MAX_SPARK_ID:
        tagged.unpersist()
        raise DataError(f"{total:,} distinct {column} values; Spark ALS allows {MAX_SPARK_ID:,}")
    offsets = np.concatenate([[0], np.cumsum([n for _, n in sizes])[:-1]]).tolist()
    offset_frame = spark.createDataFrame(
        [(part, int(off)) for (part, _), off in zip(sizes, offsets, strict=True)],
        "_part long, _offset long",
    )
    indexed = (
        tagged.join(F.broadcast(offset_frame), "_part")
        .select(column, (F.col("_offset") + F.col("_pos")).cast("int").alias(index))
        .persist()
    )
    indexed.count()  # materialise before the positions' cache goes
    tagged.unpersist()
    return indexed


def _ratings(pairs: DataFrame, users: DataFrame, items: DataFrame, params: ALSParams) -> DataFrame:
    """``(u, i, steps, sessions, rating)`` with ``rating = f(steps)``, the confidence transform."""
    from pyspark.sql import functions as F

    steps = F.col("steps").cast("double")
    rating = steps if params.confidence == "linear" else F.log1p(steps / F.lit(params.eps))
    return (
        pairs.join(users, "user_id")
        .join(items, "streamer_name")
        .select("u", "i", "steps", "sessions", rating.alias("rating"))
    )


# --- to the driver ----------------------------------------------------------------------------


def _collect_interactions(
    users: DataFrame, items: DataFrame, ratings: DataFrame
) -> tuple[Interactions, int]:
    """The CSR matrix of watch steps with both id maps, and the number of distinct sessions."""
    user_ids = _collect_ordered(users, "u", "user_id", np.int64)
    names = _collect_ordered(items, "i", "streamer_name", object)
    table = ratings.select("u", "i", "steps", "sessions").toArrow()
    rows = table["u"].to_numpy().astype(np.int32)
    cols = table["i"].to_numpy().astype(np.int32)
    user_items = sp.csr_matrix(
        (table["steps"].to_numpy().astype(np.float32), (rows, cols)),
        shape=(len(user_ids), len(names)),
        dtype=np.float32,
    )
    user_items.sum_duplicates()
    sessions = int(pc.sum(table["sessions"]).as_py() or 0)
    return Interactions(user_items=user_items, user_ids=user_ids, streamer_names=names), sessions


def _collect_ordered(indexed: DataFrame, index: str, column: str, dtype: type) -> np.ndarray:
    """The values of ``column`` as an array ordered by the dense ``index``."""
    table = indexed.select(index, column).toArrow()
    positions = table[index].to_numpy()
    if not np.array_equal(np.sort(positions), np.arange(len(positions))):
        raise TrainingError(f"Spark gave {column} indices that are not 0..{len(positions) - 1}")
    values = np.empty(len(positions), dtype=dtype)
    if dtype is object:
        values[positions] = np.array(table[column].to_pylist(), dtype=object)
    else:
        values[positions] = table[column].to_numpy()
    return values


def _fit(
    spark: SparkSession,
    ratings: DataFrame,
    params: ALSParams,
    reg_param: float,
    n_users: int,
    n_items: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Fit Spark ALS and return float32 factors ordered by our indices."""
    from pyspark.ml.recommendation import ALS

    blocks = max(spark.sparkContext.defaultParallelism, 1)
    als = ALS(
        rank=params.factors,
        maxIter=params.iterations,
        regParam=reg_param,
        alpha=params.alpha,
        implicitPrefs=True,
        seed=params.seed,
        userCol="u",
        itemCol="i",
        ratingCol="rating",
        numUserBlocks=blocks,
        numItemBlocks=blocks,
    )
    model = als.fit(ratings.select("u", "i", "rating"))
    user_factors = _collect_factors(model.userFactors, n_users, params.factors, "user")
    item_factors = _collect_factors(model.itemFactors, n_items, params.factors, "item")
    if not (np.isfinite(user_factors).all() and np.isfinite(item_factors).all()):
        raise TrainingError(
            "Spark ALS produced non-finite factors; lower alpha or raise spark_reg_param "
            f"(alpha={params.alpha}, regParam={reg_param})"
        )
    return user_factors, item_factors


def _collect_factors(factors: DataFrame, n_rows: int, rank: int, kind: str) -> np.ndarray:
    """``(id, features)`` rows into an ``(n_rows, rank)`` float32 array; missing rows are 0."""
    table = factors.toArrow()
    ids = table["id"].to_numpy()
    flat = pc.list_flatten(table["features"].combine_chunks())
    values = np.asarray(flat.cast(pa.float32()).to_numpy(), dtype=np.float32)
    out = np.zeros((n_rows, rank), dtype=np.float32)
    out[ids] = values.reshape(len(ids), rank)
    if len(ids) != n_rows:
        logger.warning("Spark returned %d of %d %s factors; the rest are 0", len(ids), n_rows, kind)
    return out

"""Train the same implicit ALS model with Apache Spark MLlib, for more sessions than pandas holds.

:func:`fit_spark` reads a sessions CSV with Spark, cleans it with the rules of
:func:`streamrec.data.read_sessions`, aggregates watch steps per (user, streamer), indexes users
and streamers exactly as :func:`streamrec.data.build_interactions` does, fits
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

The reading, cleaning and indexing are in :mod:`streamrec.model.spark_read`, the session and
its JVM in :mod:`streamrec.model.spark_session`. Needs ``pip install -r requirements-spark.txt``
and Java 17 or newer; neither is needed to import these modules.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from streamrec.data.sessions import DataError, Interactions, LoadReport
from streamrec.model.als import ALSParams, TrainingError
from streamrec.model.spark_read import (
    _aggregate,
    _collect_interactions,
    _count_reasons,
    _dense_index,
    _flag_rows,
    _has_header,
    _ratings,
    _read_raw,
    _resolve,
)
from streamrec.model.spark_session import (
    SparkUnavailableError,
    _first_line,
    _is_spark_error,
    _new_log_file,
    _require_java,
    _require_pyspark,
    _session,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

logger = logging.getLogger(__name__)

# Spark's regParam when none is given (the ``spark_reg_param`` setting); see the module docstring.
DEFAULT_REG_PARAM = 0.5


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

"""Sessions read, cleaned and indexed by Spark, and the watch-time matrix brought to the driver.

The rules are the pandas reader's (:func:`streamrec.data.read_sessions`): the same header rule,
field patterns and drop reasons, counted per reason in one pass. Distinct sessions are summed
per (user, streamer), users and streamers get dense 0-based indices in sorted order (as
:func:`streamrec.data.build_interactions` gives them), and the CSR matrix with both id maps is
collected on the driver. Used by :mod:`streamrec.model.spark`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow.compute as pc
import scipy.sparse as sp

# The same patterns and header rule as the Polars loader, so both engines give rows one verdict.
from streamrec.data.loader import _TIME_PATTERN, _USER_ID_PATTERN, COLUMNS, DROP_REASONS
from streamrec.data.loader import is_header as _is_header
from streamrec.data.sessions import DataError, Interactions, LoadReport
from streamrec.model.als import ALSParams, TrainingError
from streamrec.model.spark_session import _first_line, _is_spark_error

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

# Spark ALS ids are Java ints.
MAX_SPARK_ID = 2**31 - 1
# monotonically_increasing_id(): partition index in the upper 31 bits, row in the lower 33.
_ROW_BITS = 33
_CORRUPT = "_corrupt_record"
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
# Unicode-aware trim, as the pandas reader's utf8_trim_whitespace (Spark's trim() only strips
# spaces).
_TRIM = r"(?U)^\s+|\s+$"


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

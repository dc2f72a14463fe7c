"""The Polars plan behind :func:`streamrec.data.read_sessions`: raw lines in, a reason per row out.

A CSV file is read as raw lines, not through a CSV parser: one line is one row, so a bad byte,
an over-long row or an unbalanced quote costs only the row it is in, and every row gets exactly
one verdict. Every line is split at its commas, and almost every line of a real file is plain
(no space, quote, sign or U+FFFD; five fields whose numbers, stream id too, cast, ``time_stop``
perhaps empty: an open session) and takes its fields from that split alone; only the others go
through the careful path (quotes, spaces, a pattern check of each field), on a column null for
the plain rows: its cost follows the bad rows.

Parquet files (the same five columns) skip the line step and get the same field checks.

Nothing here knows about models.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Sequence
from pathlib import Path

# Polars' allocator (jemalloc) keeps freed pages for 0.5-1 s, so the lines' buffers of the
# streaming read were still resident while the matrix was built (6.1M rows: 0.77 GB of peak,
# 0.59 with none kept; pola-rs/polars#23128); none kept costs a page fault per buffer reused
# (12M rows: 1.3M faults, 3 s of system time), 100 ms keeps the reuse (0.5M, 1.5 s; +0.09 GB).
# Read when Polars is first imported: here (``streamrec.data.sessions`` imports it only through this
# module); an operator's own setting wins.
os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:100,muzzy_decay_ms:0")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import polars as pl  # noqa: E402

COLUMNS = ("user_id", "stream_id", "streamer_name", "time_start", "time_stop")

# Reasons a row is dropped, in the order they are checked: a row counts under the first only.
# ``reason`` codes in the plan are 1 + the index here; 0 is a valid row.
DROP_REASONS = (
    "row_too_long",
    "bad_encoding",
    "bad_quote",
    "wrong_field_count",
    "empty_field",
    "bad_user_id",
    "open_session",
    "bad_time",
    "stop_before_start",
    "duplicate",
)
CODE = {reason: i + 1 for i, reason in enumerate(DROP_REASONS)}

# No valid row is anywhere near this (Twitch rows are ~40 bytes); a longer one is junk such as
# a binary blob, and is dropped as such, whatever is in it.
MAX_ROW_BYTES = 1 << 16

# Twitch user ids are non-negative integers; 18 digits always fit in int64.
_USER_ID_PATTERN = r"^[0-9]{1,18}$"
_TIME_PATTERN = r"^[0-9]{1,9}$"

# A line without any of these needs no quote handling or trimming, and with no sign its fields
# are checked by their casts alone (a character class this small is searched ~5x faster than a
# pattern of the whole row).
_NOT_PLAIN = r'[ \t"+\-\x{FFFD}]'
_MAX_USER_ID = 10**18 - 1  # 18 digits, as _USER_ID_PATTERN
_MAX_TIME = 10**9 - 1  # 9 digits, as _TIME_PATTERN
# One field of the careful path: quoted ("" is a quote inside) or plain, with spaces around.
_FIELD = r'[ \t]*(?:"((?:[^"]|"")*)"|([^,"]*?))[ \t]*'
_ROW = "^" + ",".join([_FIELD] * len(COLUMNS)) + "$"
_QUOTED = r'"(?:[^"]|"")*"'

# Lines as one string column. The separator is NUL, which no text field holds; text after a NUL
# lands in ``nul`` and marks the row as badly encoded. Invalid UTF-8 becomes U+FFFD.
_LINES = {
    "has_header": False,
    "separator": "\x00",
    "quote_char": None,
    "schema": {"line": pl.String, "nul": pl.String},
    "encoding": "utf8-lossy",
    "empty_string_is_null": True,
    "truncate_ragged_lines": True,
    "extra_columns": "ignore",
    "missing_columns": "insert",
}
_COMPRESSED = {
    b"\x28\xb5\x2f\xfd": "zstd",
    b"BZh": "bzip2",
    b"\xfd7zXZ": "xz",
    b"PK\x03\x04": "zip",
}
_GZIP = b"\x1f\x8b"


class InputError(ValueError):
    """An input cannot be read at all (missing, empty, compressed in a format not read, ...)."""


def resolve(paths: str | Path | Sequence[str | Path]) -> list[Path]:
    """Files to read, in order: each path itself, or a folder's ``*.csv[.gz]``/``*.parquet``."""
    given = [paths] if isinstance(paths, str | Path) else list(paths)
    if not given:
        raise InputError("no data file given")
    files: list[Path] = []
    for item in map(Path, given):
        if item.is_dir():
            found = sorted(
                p
                for p in item.iterdir()
                if p.is_file() and p.name.endswith((".csv", ".csv.gz", ".parquet"))
            )
            if not found:
                raise InputError(f"no *.csv or *.parquet files in folder {item}")
            files.extend(found)
        elif item.is_file():
            files.append(item)
        else:
            raise InputError(f"data file not found: {item}")
    return files


def first_line(path: Path) -> str | None:
    """The first non-blank line of a (possibly gzip) CSV, or None for one with only blanks."""
    with path.open("rb") as raw:
        magic = raw.read(4)
    if not magic:
        return None
    for prefix, name in _COMPRESSED.items():
        if magic.startswith(prefix):
            raise InputError(f"{path} is {name}-compressed; decompress it first (gzip is read)")
    opener = gzip.open if magic.startswith(_GZIP) else open
    try:
        with opener(path, "rb") as fh:
            # Bounded, so that a file without line ends is not read whole; blank as the plan
            # sees it: nothing but the line end (a line of spaces is a row, and a bad one).
            while raw_line := fh.readline(MAX_ROW_BYTES + 1):
                line = raw_line.decode("utf-8", errors="replace").rstrip("\r\n").lstrip("\ufeff")
                if line:
                    return line.strip()
    except (OSError, EOFError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from exc
    return None


def is_header(line: str) -> bool:
    """True for a header: none of ``user_id``, ``time_start``, ``time_stop`` is an integer."""
    fields = [f.strip().strip('"') for f in line.split(",")]
    if len(fields) != len(COLUMNS):
        return False
    return not any(fields[i].isdigit() for i in (0, 3, 4))


def is_parquet(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(4) == b"PAR1"


def csv_rows(path: Path | bytes, header: bool, index: int, keep_line: bool = False) -> pl.LazyFrame:
    """One row per non-blank line of ``path`` (a file, or CSV text as bytes): ``input``,
    ``reason`` and the typed fields, and with ``keep_line`` the line itself."""
    lines = pl.scan_csv(path, **_LINES).filter(
        pl.col("line").is_not_null() | pl.col("nul").is_not_null()
    )
    if header:
        lines = lines.slice(1)
    line = pl.col("line").fill_null("")
    lines = lines.with_columns(
        too_long=line.str.len_bytes() > MAX_ROW_BYTES,
        # Split unmasked (masking the text first costs more than the split), into five at
        # most: the last holds any further commas, so a row of too many fails its cast.
        split=line.str.splitn(",", len(COLUMNS)),
    )
    split = pl.col("split").struct
    # Typed once, then used by the check and the output. A plain row's stream id is a
    # non-negative integer (Twitch's are), its own key, so only careful rows hash theirs.
    fields = [split.field(f"field_{i}") for i in range(len(COLUMNS))]
    fast = {
        name: pl.col(f"fast_{name}")
        for name in ("user_id", "stream_key", "streamer_name", "time_start", "time_stop")
    }
    lines = lines.with_columns(
        fast_user_id=fields[0].cast(pl.Int64, strict=False),
        fast_stream_key=fields[1].cast(pl.Int64, strict=False),
        fast_streamer_name=fields[2].cast(pl.Categorical),
        fast_time_start=fields[3].cast(pl.Int32, strict=False),
        fast_time_stop=fields[4].cast(pl.Int32, strict=False),
    )
    plain = (
        pl.col("nul").is_null()
        & ~pl.col("too_long")
        & ~line.str.contains(_NOT_PLAIN)
        & (split.field("field_2") != "")
        & fast["user_id"].is_between(0, _MAX_USER_ID)
        & fast["stream_key"].is_not_null()
        & fast["time_start"].is_between(0, _MAX_TIME)
        # An empty time_stop too: an open session (about half of an event log's rows).
        & (fast["time_stop"].is_between(0, _MAX_TIME) | (fields[4] == ""))
    )
    lines = lines.with_columns(clean=plain.fill_null(False))  # null: a field's cast failed
    clean, too_long = pl.col("clean"), pl.col("too_long")
    careful = pl.when(~clean & ~too_long).then(line).str.strip_chars_start("\ufeff")
    lines = lines.with_columns(
        groups=careful.str.extract_groups(_ROW),
        unpaired=careful.str.replace_all(_QUOTED, "").str.contains('"', literal=True),
        bad_encoding=pl.col("nul").is_not_null() | careful.str.contains("\ufffd", literal=True),
    )
    groups = pl.col("groups").struct
    careful_fields = [
        pl.coalesce(
            groups.field(str(2 * i + 1)).str.replace_all('""', '"', literal=True),
            groups.field(str(2 * i + 2)),
        )
        for i in range(len(COLUMNS))
    ]
    matched = careful_fields[0].is_not_null()
    reason = (
        pl.when(clean & fast["time_stop"].is_null())
        .then(CODE["open_session"])
        .when(clean)
        .then(0)
        .when(too_long)
        .then(CODE["row_too_long"])
        .when(pl.col("bad_encoding"))
        .then(CODE["bad_encoding"])
        .when(~matched & pl.col("unpaired"))
        .then(CODE["bad_quote"])
        .when(~matched)
        .then(CODE["wrong_field_count"])
        .otherwise(_field_reason(*careful_fields))
    )
    # Typed first, then picked by the row's path: choosing between integers and categories is
    # cheap, between strings it is not.
    slow = _typed(*careful_fields)
    rows = lines.select(
        reason=reason.cast(pl.UInt8),
        **{name: pl.when(clean).then(fast[name]).otherwise(slow[name]) for name in fast},
        **({"line": line} if keep_line else {}),
    )
    return _finish(rows, index)


def parquet_rows(path: Path, index: int) -> pl.LazyFrame:
    """One row per row of ``path``: ``input``, ``reason`` and the typed fields."""
    frame = pl.scan_parquet(path)
    missing = [name for name in COLUMNS if name not in frame.collect_schema()]
    if missing:
        raise InputError(f"{path} has no column {', '.join(missing)} (needs {', '.join(COLUMNS)})")
    fields = [pl.col(name).cast(pl.String).fill_null("").str.strip_chars(" \t") for name in COLUMNS]
    rows = frame.select(reason=_field_reason(*fields).cast(pl.UInt8), **_typed(*fields))
    return _finish(rows, index)


def _field_reason(
    user: pl.Expr, stream: pl.Expr, name: pl.Expr, start: pl.Expr, stop: pl.Expr
) -> pl.Expr:
    """The first of the field checks a row fails (0: none); ``stop_before_start`` comes later."""
    del stream  # any text is a stream id; it only tells exact duplicates apart
    return (
        pl.when((user == "") | (name == ""))
        .then(CODE["empty_field"])
        .when(~user.str.contains(_USER_ID_PATTERN))
        .then(CODE["bad_user_id"])
        .when((stop == "") & start.str.contains(_TIME_PATTERN))
        .then(CODE["open_session"])
        .when(~(start.str.contains(_TIME_PATTERN) & stop.str.contains(_TIME_PATTERN)))
        .then(CODE["bad_time"])
        .otherwise(0)
    )


def _typed(
    user: pl.Expr, stream: pl.Expr, name: pl.Expr, start: pl.Expr, stop: pl.Expr
) -> dict[str, pl.Expr]:
    """The output columns from string fields (whatever a field holds on a row found bad).

    ``stream_key`` stands for the stream id, which only tells exact duplicates apart: the id
    itself when it is a non-negative integer (Twitch's are), else a negative 63-bit hash of it.
    """
    number = stream.str.to_integer(strict=False)
    hashed = -1 - (stream.hash(seed=_STREAM_SEED) // 2).cast(pl.Int64)
    return {
        "user_id": user.cast(pl.Int64, strict=False),
        "stream_key": pl.when(number >= 0).then(number).otherwise(hashed),
        # Categorical: four bytes a row, and no reference into the lines' text, which a string
        # split from a line keeps alive (the whole file, at 124M rows).
        "streamer_name": name.cast(pl.Categorical),
        "time_start": start.cast(pl.Int32, strict=False),
        "time_stop": stop.cast(pl.Int32, strict=False),
    }


# What makes two rows the same: every field, the stream id as its key.
DUPLICATE_KEYS = ("user_id", "stream_key", "streamer_name", "time_start", "time_stop")
_STREAM_SEED = 20210927  # any fixed seed: keys only need to agree within one read


def _finish(rows: pl.LazyFrame, index: int) -> pl.LazyFrame:
    """Decide ``stop_before_start`` and tag the rows with their input's index."""
    backwards = (pl.col("reason") == 0) & (pl.col("time_stop") < pl.col("time_start"))
    return rows.with_columns(
        input=pl.lit(index, dtype=pl.UInt16),
        reason=pl.when(backwards).then(CODE["stop_before_start"]).otherwise("reason"),
    )


def scan(files: Sequence[Path]) -> tuple[pl.DataFrame, bool] | None:
    """All rows of ``files`` (``input``, ``reason``, typed fields) and whether a header was
    skipped; None when every file is empty."""
    frames, header_skipped = [], False
    try:
        for index, file in enumerate(files):
            if is_parquet(file):
                frames.append(parquet_rows(file, index))
                continue
            line = first_line(file)
            if line is None:  # an empty segment of a folder costs nothing
                continue
            header = is_header(line)
            header_skipped |= header
            frames.append(csv_rows(file, header, index))
        if not frames:
            return None
        return pl.concat(frames).collect(engine="streaming"), header_skipped
    except pl.exceptions.PolarsError as exc:
        where = str(files[0]) if len(files) == 1 else f"{files[0]} or one of {len(files) - 1} more"
        raise InputError(f"cannot read {where}: {_one_line(exc)}") from exc


def _one_line(exc: Exception) -> str:
    """The first line of an engine error, with any non-ASCII byte escaped."""
    lines = str(exc).strip().splitlines() or [type(exc).__name__]
    return lines[0][:300].encode("ascii", "backslashreplace").decode("ascii")


def count(rows: pl.DataFrame, inputs: int) -> tuple[np.ndarray, pl.DataFrame]:
    """Rows per input (axis 0) and reason code (axis 1, 0: valid), and the valid rows."""
    width = len(DROP_REASONS) + 1
    index, reasons = rows["input"].to_numpy(), rows["reason"].to_numpy()
    counts = np.zeros(inputs * width, dtype=np.int64)
    for lo in range(0, len(index), _CHUNK):  # in chunks, to bound the temporary arrays
        cell = index[lo : lo + _CHUNK].astype(np.int64) * width
        cell += reasons[lo : lo + _CHUNK]
        counts += np.bincount(cell, minlength=len(counts))
    counts = counts.reshape(inputs, width)
    if counts[:, 1:].any():
        rows = rows.filter(pl.col("reason") == 0)
    return counts, rows.drop("input", "reason")


def to_pandas(valid: pl.DataFrame, keep: np.ndarray | None) -> pd.DataFrame:
    """The sessions frame of the ``keep`` rows, one column at a time to bound the copies;
    ``valid`` is emptied on the way.

    Names get the codes of their rank among the distinct names, so categories come out sorted.
    """
    distinct = valid["streamer_name"].unique()
    text = distinct.cast(pl.String)
    # Sorted by Polars (UTF-8 byte order is code point order, as Python's), 4x numpy's sort.
    order = text.arg_sort()
    # An object index, as the callers use it: with pandas' own string dtype the categorical
    # took 4x as long to build (46 ms against 11 on 3M rows), and 12 ms more to read back.
    names = pd.Index(text.gather(order).to_numpy(), dtype=object, copy=False)
    ids = distinct.gather(order).to_physical().to_numpy()
    rank = np.zeros(int(ids.max()) + 1, dtype=np.int32)
    rank[ids] = np.arange(len(ids), dtype=np.int32)
    del distinct, text, order
    columns = {}
    for name, dtype in (
        ("user_id", np.int64),
        ("streamer_name", np.uint32),
        ("time_start", np.int32),
        ("time_stop", np.int32),
    ):
        # Taken out of ``valid`` (in place, so the caller's frame lets go of it too).
        column = valid.drop_in_place(name).to_physical().to_numpy()
        columns[name] = (column if keep is None else column[keep]).astype(dtype, copy=False)
        del column
    codes = rank[columns.pop("streamer_name")]
    columns["streamer_name"] = pd.Categorical.from_codes(codes, categories=names, validate=False)
    return pd.DataFrame(
        {name: columns[name] for name in ("user_id", "streamer_name", "time_start", "time_stop")},
        copy=False,
    )


def first_of_each(rows: pl.DataFrame, keys: Sequence[str] = DUPLICATE_KEYS) -> np.ndarray | None:
    """Mask of the rows that do not exactly repeat an earlier row, or None when none does.

    Rows are hashed and the hashes sorted, far cheaper in time and memory than grouping by five
    columns; only rows whose hash is shared are then compared exactly, so a collision of row
    hashes never drops a row.
    """
    # A name by its category id: the same name has the same id in one process, and an id
    # hashes faster than its text.
    digest = rows.select(pl.col(keys).to_physical()).hash_rows().to_numpy()
    ordered = np.sort(digest)
    shared = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
    del ordered
    if len(shared) == 0:
        return None
    found = []
    for lo in range(0, len(digest), _CHUNK):  # in chunks, to bound the temporary arrays
        chunk = digest[lo : lo + _CHUNK]
        at = np.minimum(np.searchsorted(shared, chunk), len(shared) - 1)
        found.append(lo + np.flatnonzero(shared[at] == chunk))
    del digest
    candidates = np.concatenate(found)
    first = rows[candidates].select(pl.struct(keys).is_first_distinct()).to_series().to_numpy()
    keep = np.ones(rows.height, dtype=bool)
    keep[candidates[~first]] = False
    return keep


_CHUNK = 1 << 22

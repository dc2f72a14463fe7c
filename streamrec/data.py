"""Read and validate watch sessions; build the users x streamers watch-time matrix.

The input is the Twitch dataset format (Rappaz, McAuley, Aberer, RecSys 2021): CSV, usually
without a header, five columns ``user_id, stream_id, streamer_name, time_start, time_stop``,
times in 10-minute steps. Bad rows are skipped and counted by reason, never fatal; a file with
no usable row at all is a :class:`DataError`.

Nothing here knows about models.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import scipy.sparse as sp

logger = logging.getLogger(__name__)

COLUMNS = ("user_id", "stream_id", "streamer_name", "time_start", "time_stop")

# Reasons a row is dropped, in the order they are checked: a row counts under the first only.
DROP_REASONS = (
    "wrong_field_count",
    "empty_field",
    "bad_user_id",
    "bad_time",
    "stop_before_start",
    "duplicate",
)

# Twitch user ids are non-negative integers; 18 digits always fit in int64.
_USER_ID_PATTERN = r"^[0-9]{1,18}$"
_TIME_PATTERN = r"^[0-9]{1,9}$"


class DataError(ValueError):
    """The input cannot be used at all: missing, empty, or without a single valid row."""


@dataclass
class LoadReport:
    """What reading a sessions file did: rows seen, and rows dropped per reason."""

    path: str
    rows_read: int = 0
    header_skipped: bool = False
    dropped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DROP_REASONS, 0))

    @property
    def rows_dropped(self) -> int:
        return sum(self.dropped.values())

    @property
    def rows_kept(self) -> int:
        return self.rows_read - self.rows_dropped

    def summary(self) -> str:
        """One line for logs and the training summary."""
        reasons = ", ".join(f"{k}={v}" for k, v in self.dropped.items() if v) or "none"
        return (
            f"rows read {self.rows_read:,}, kept {self.rows_kept:,}, "
            f"dropped {self.rows_dropped:,} ({reasons})"
        )


@dataclass(frozen=True)
class Interactions:
    """The users x streamers matrix of summed watch steps, with both id maps.

    Row ``u`` of ``user_items`` is the user ``user_ids[u]`` (sorted ascending, so a lookup is a
    binary search); column ``i`` is the streamer ``streamer_names[i]`` (sorted).
    """

    user_items: sp.csr_matrix
    user_ids: np.ndarray
    streamer_names: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return self.user_items.shape


def read_sessions(path: str | Path, block_size: int = 1 << 24) -> tuple[pd.DataFrame, LoadReport]:
    """Read a watch-sessions CSV, dropping and counting the rows that cannot be used.

    Parameters
    ----------
    path : str or Path
        CSV in the Twitch dataset format. A header row is detected (none of ``user_id``,
        ``time_start``, ``time_stop`` is an integer) and skipped.
    block_size : int
        Bytes of CSV parsed at a time; memory grows with the valid rows, not the file's text.

    Returns
    -------
    sessions : pandas.DataFrame
        Columns ``user_id`` (int64), ``streamer_name`` (categorical, sorted categories),
        ``time_start`` and ``time_stop`` (int32), one row per distinct valid session.
    report : LoadReport
        Rows read and dropped per reason (see ``DROP_REASONS``).

    Raises
    ------
    DataError
        The file is missing, empty, or has no valid row.

    Examples
    --------
    >>> sessions, report = read_sessions("data/sessions.csv")  # doctest: +SKIP
    >>> report.summary()  # doctest: +SKIP
    'rows read 3,051,733, kept 3,051,733, dropped 0 (none)'
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file not found: {path}")
    first_line = _first_line(path)
    if first_line is None:
        raise DataError(f"data file is empty: {path}")
    report = LoadReport(path=str(path), header_skipped=_is_header(first_line))

    wrong_field_count: list[int] = []

    def skip_invalid(row: pacsv.InvalidRow) -> str:
        wrong_field_count.append(1)  # list.append is atomic under the GIL; reader threads share it
        return "skip"

    # No valid row is shorter than 10 bytes ("1,1,a,1,1\n"); typical Twitch rows are ~40.
    columns = _Columns(expected_rows=path.stat().st_size // 24 + 1024)
    try:
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(
                column_names=list(COLUMNS),
                skip_rows=int(report.header_skipped),
                block_size=block_size,
            ),
            parse_options=pacsv.ParseOptions(invalid_row_handler=skip_invalid),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(COLUMNS, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        # One block at a time: only typed numeric columns are kept, never all raw strings.
        for batch in reader:
            report.rows_read += batch.num_rows
            columns.append(_validate(batch, report))
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise DataError(f"cannot parse {path} as CSV: {exc}") from exc

    report.dropped["wrong_field_count"] = len(wrong_field_count)
    report.rows_read += len(wrong_field_count)
    sessions = columns.to_frame(report)
    if len(sessions) == 0:
        raise DataError(f"no valid rows in {path}: {report.summary()}")
    logger.info("read %s: %s", path, report.summary())
    return sessions, report


def _first_line(path: Path) -> str | None:
    """The first non-blank line, or None for a file with only blank lines."""
    with path.open("rb") as fh:
        for raw in fh:
            line = raw.decode("utf-8", errors="replace").strip().lstrip("\ufeff")
            if line:
                return line
    return None


def _is_header(line: str) -> bool:
    fields = [f.strip().strip('"') for f in line.split(",")]
    if len(fields) != len(COLUMNS):
        return False
    return not any(fields[i].isdigit() for i in (0, 3, 4))


def _validate(batch: pa.RecordBatch, report: LoadReport) -> dict[str, pa.Array]:
    """Drop the unusable rows of an all-string batch, counting each under its first reason.

    Returns the valid rows with user ids as int64 and times as int32; stream ids and names stay
    strings. Exact duplicates are found later, across all batches.
    """
    columns = {name: pc.utf8_trim_whitespace(batch.column(name)) for name in COLUMNS}
    user, name = columns["user_id"], columns["streamer_name"]
    start, stop = columns["time_start"], columns["time_stop"]
    checks = {
        "empty_field": pc.and_(
            pc.greater(pc.utf8_length(user), 0), pc.greater(pc.utf8_length(name), 0)
        ),
        "bad_user_id": pc.match_substring_regex(user, _USER_ID_PATTERN),
        "bad_time": pc.and_(
            pc.match_substring_regex(start, _TIME_PATTERN),
            pc.match_substring_regex(stop, _TIME_PATTERN),
        ),
    }
    keep = pa.array(np.ones(batch.num_rows, dtype=bool))
    for reason, ok in checks.items():
        report.dropped[reason] += pc.sum(pc.and_(keep, pc.invert(ok))).as_py() or 0
        keep = pc.and_(keep, ok)
    valid = {name_: pc.filter(column, keep) for name_, column in columns.items()}
    valid["user_id"] = pc.cast(valid["user_id"], pa.int64())
    valid["time_start"] = pc.cast(valid["time_start"], pa.int32())
    valid["time_stop"] = pc.cast(valid["time_stop"], pa.int32())
    ordered = pc.less_equal(valid["time_start"], valid["time_stop"])
    report.dropped["stop_before_start"] += len(ordered) - (pc.sum(ordered).as_py() or 0)
    return {name_: pc.filter(column, ordered) for name_, column in valid.items()}


class _Columns:
    """Valid rows of all batches as numpy columns, with strings mapped to integer codes.

    Rows are copied straight into arrays sized for the whole file: no list of blocks to
    concatenate, so peak memory is one copy of the valid rows (28 bytes each). The arrays are
    sized from the file's bytes; pages never written are never resident, so a generous size
    costs nothing, and a file with shorter rows than expected grows them.
    """

    DTYPES = {
        "user_id": np.int64,
        "stream_id": np.int64,
        "streamer_name": np.int32,
        "time_start": np.int32,
        "time_stop": np.int32,
    }

    def __init__(self, expected_rows: int) -> None:
        self.rows = 0
        self.arrays = {name: np.empty(expected_rows, dtype) for name, dtype in self.DTYPES.items()}
        self.names = _Codes()
        self.stream_ids = _Codes()

    def append(self, batch: dict[str, pa.Array]) -> None:
        n = len(batch["user_id"])
        if self.rows + n > len(self.arrays["user_id"]):
            capacity = max(self.rows + n, len(self.arrays["user_id"]) * 3 // 2)
            for name, array in self.arrays.items():
                grown = np.empty(capacity, array.dtype)
                grown[: self.rows] = array[: self.rows]
                self.arrays[name] = grown
        at = slice(self.rows, self.rows + n)
        self.arrays["user_id"][at] = batch["user_id"].to_numpy()
        self.arrays["time_start"][at] = batch["time_start"].to_numpy()
        self.arrays["time_stop"][at] = batch["time_stop"].to_numpy()
        self.arrays["streamer_name"][at] = self.names.encode(batch["streamer_name"])
        self.arrays["stream_id"][at] = self._stream_keys(batch["stream_id"])
        self.rows += n

    def _stream_keys(self, stream_id: pa.Array) -> np.ndarray:
        """Twitch stream ids are integers and kept as such; any other text gets a negative code.

        Stream ids only serve to tell exact duplicate rows apart, so any one-to-one key works.
        """
        numeric = pc.match_substring_regex(stream_id, _USER_ID_PATTERN)
        if pc.all(numeric).as_py() is not False:
            return pc.cast(stream_id, pa.int64()).to_numpy()
        keys = -1 - self.stream_ids.encode(stream_id).astype(np.int64)
        digits = np.asarray(numeric.to_numpy(zero_copy_only=False), dtype=bool)
        keys[digits] = pc.cast(pc.filter(stream_id, numeric), pa.int64()).to_numpy()
        return keys

    def to_frame(self, report: LoadReport) -> pd.DataFrame:
        columns = {name: array[: self.rows] for name, array in self.arrays.items()}
        repeated = _repeated_rows(list(columns.values()))
        report.dropped["duplicate"] = len(repeated)
        del columns["stream_id"], self.arrays
        if len(repeated):
            keep = np.ones(self.rows, dtype=bool)
            keep[repeated] = False
            for name in list(columns):  # one column at a time, to bound the extra copy
                columns[name] = columns[name][keep]
        names = np.array(self.names.values, dtype=object)
        order = np.argsort(names, kind="stable")
        rank = np.empty(len(order), dtype=np.int32)
        rank[order] = np.arange(len(order), dtype=np.int32)
        codes = rank[columns.pop("streamer_name")] if len(names) else np.empty(0, np.int32)
        return pd.DataFrame(
            {
                "user_id": columns["user_id"].astype(np.int64, copy=False),
                "streamer_name": pd.Categorical.from_codes(codes, categories=names[order]),
                "time_start": columns["time_start"].astype(np.int32, copy=False),
                "time_stop": columns["time_stop"].astype(np.int32, copy=False),
            },
            copy=False,
        )


class _Codes:
    """A growing string -> int32 code table shared by all batches."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.values: list[str] = []

    def encode(self, strings: pa.Array) -> np.ndarray:
        encoded = strings.dictionary_encode()
        # Only the batch's distinct strings go through Python, not every row.
        batch_codes = np.fromiter(
            (self._code(s) for s in encoded.dictionary.to_pylist()),
            dtype=np.int32,
            count=len(encoded.dictionary),
        )
        return batch_codes[encoded.indices.to_numpy(zero_copy_only=False)]

    def _code(self, value: str) -> int:
        code = self.index.get(value)
        if code is None:
            code = self.index[value] = len(self.values)
            self.values.append(value)
        return code


_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)
_CHUNK = 1 << 22  # rows hashed at a time, to bound temporary arrays


def _row_digests(columns: list[np.ndarray]) -> np.ndarray:
    """A 64-bit hash of each row (splitmix64 folded over the columns)."""
    n = len(columns[0])
    digest = np.zeros(n, dtype=np.uint64)
    for lo in range(0, n, _CHUNK):
        d = digest[lo : lo + _CHUNK]
        for column in columns:
            d ^= column[lo : lo + _CHUNK].astype(np.uint64)
            d ^= d >> np.uint64(30)
            d *= _MIX_1
            d ^= d >> np.uint64(27)
            d *= _MIX_2
            d ^= d >> np.uint64(31)
    return digest


def _repeated_rows(columns: list[np.ndarray]) -> np.ndarray:
    """Indices of the rows that exactly repeat an earlier row.

    Rows are hashed and the hashes sorted, which is far cheaper in time and memory than grouping
    by five columns; only rows whose hash is shared are then compared exactly, so a hash
    collision can never drop a row.
    """
    if len(columns[0]) < 2:
        return np.empty(0, dtype=np.int64)
    digest = _row_digests(columns)
    ordered = np.sort(digest)
    shared = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
    del ordered
    if len(shared) == 0:
        return np.empty(0, dtype=np.int64)
    candidates = []
    for lo in range(0, len(digest), _CHUNK):
        chunk = digest[lo : lo + _CHUNK]
        at = np.minimum(np.searchsorted(shared, chunk), len(shared) - 1)
        candidates.append(lo + np.flatnonzero(shared[at] == chunk))
    rows = np.concatenate(candidates)
    subset = pd.DataFrame({i: column[rows] for i, column in enumerate(columns)})
    return rows[subset.duplicated(keep="first").to_numpy()]


def watch_steps(sessions: pd.DataFrame) -> np.ndarray:
    """Watch time of each session in steps; a zero-length session counts as one step.

    A session with ``time_stop == time_start`` means the user was seen once (e.g. in chat), so
    it is evidence of interest, not nothing.
    """
    start = sessions["time_start"].to_numpy(dtype=np.int32)
    stop = sessions["time_stop"].to_numpy(dtype=np.int32)
    return np.maximum(stop - start, 1).astype(np.float32)


def build_interactions(sessions: pd.DataFrame) -> Interactions:
    """Sum watch steps per (user, streamer) into a users x streamers CSR matrix.

    Parameters
    ----------
    sessions : pandas.DataFrame
        As returned by :func:`read_sessions` (or a row subset of it, e.g. a time window: the
        streamer columns then still cover every category, so indices stay comparable).

    Returns
    -------
    Interactions
        ``user_items`` is float32, users as rows (what implicit >= 0.5 expects).
    """
    if len(sessions) == 0:
        raise DataError("no sessions to build a matrix from")
    # A hash-based factorize needs far less memory than np.unique's sort at 100M+ rows.
    rows, user_ids = pd.factorize(sessions["user_id"].to_numpy(dtype=np.int64), sort=True)
    streamer = sessions["streamer_name"].cat
    cols = streamer.codes.to_numpy()
    names = streamer.categories.to_numpy(dtype=object)
    user_items = sp.csr_matrix(
        (watch_steps(sessions), (rows.astype(np.int32), cols.astype(np.int32))),
        shape=(len(user_ids), len(names)),
        dtype=np.float32,
    )
    user_items.sum_duplicates()
    return Interactions(user_items=user_items, user_ids=user_ids, streamer_names=names)


def fingerprint(path: str | Path) -> str:
    """A content hash of the data file, recorded in the artifact to tell training sets apart."""
    digest = hashlib.blake2b(digest_size=16)
    with Path(path).open("rb") as fh:
        while chunk := fh.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()

"""Read and validate watch sessions; build the users x streamers watch-time matrix.

The input is the Twitch dataset format (Rappaz, McAuley, Aberer, RecSys 2021): CSV, usually
without a header, five columns ``user_id, stream_id, streamer_name, time_start, time_stop``,
times in 10-minute steps, or Parquet with the same columns; several files or folders of them.
Bad rows are skipped and counted by reason, never fatal; input with no usable row at all is a
:class:`DataError`. The reading itself is a Polars plan, in :mod:`streamrec.data.loader`.

Nothing here knows about models.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from streamrec.data import loader
from streamrec.data.loader import COLUMNS, DROP_REASONS

__all__ = [
    "COLUMNS",
    "DROP_REASONS",
    "DataError",
    "Interactions",
    "LoadReport",
    "build_interactions",
    "fingerprint",
    "read_sessions",
    "watch_steps",
]

logger = logging.getLogger(__name__)


class DataError(ValueError):
    """The input cannot be used at all: missing, empty, or without a single valid row."""


@dataclass
class LoadReport:
    """What reading sessions did: rows seen per input, and rows dropped per reason.

    ``path`` is the input as given; ``inputs`` maps each file read to its rows (blank lines and
    a header are not rows).
    """

    path: str
    rows_read: int = 0
    header_skipped: bool = False
    dropped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DROP_REASONS, 0))
    inputs: dict[str, int] = field(default_factory=dict)

    @property
    def rows_dropped(self) -> int:
        return sum(self.dropped.values())

    @property
    def rows_kept(self) -> int:
        return self.rows_read - self.rows_dropped

    def summary(self) -> str:
        """One line for logs and the training summary."""
        reasons = ", ".join(f"{k}={v}" for k, v in self.dropped.items() if v) or "none"
        files = f" from {len(self.inputs)} files" if len(self.inputs) > 1 else ""
        return (
            f"rows read {self.rows_read:,}{files}, kept {self.rows_kept:,}, "
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


def read_sessions(
    path: str | Path | Sequence[str | Path], block_size: int | None = None
) -> tuple[pd.DataFrame, LoadReport]:
    """Read watch sessions, dropping and counting the rows that cannot be used.

    Parameters
    ----------
    path : str, Path or a sequence of them
        CSV files in the Twitch dataset format (gzip is read), Parquet files with the same five
        columns, or folders, which stand for their ``*.csv``, ``*.csv.gz`` and ``*.parquet``
        files in name order. A CSV header row is detected (none of ``user_id``,
        ``time_start``, ``time_stop`` is an integer) and skipped. Rows that repeat a row of
        another input are duplicates too.
    block_size : int, optional
        Unused; the block reader that took it is gone. Accepted so that old calls still work.

    Returns
    -------
    sessions : pandas.DataFrame
        Columns ``user_id`` (int64), ``streamer_name`` (categorical, sorted categories),
        ``time_start`` and ``time_stop`` (int32), one row per distinct valid session, in input
        order.
    report : LoadReport
        Rows read per input and dropped per reason (see ``DROP_REASONS``).

    Raises
    ------
    DataError
        An input is missing or cannot be read, all are empty, or there is no valid row.

    Examples
    --------
    >>> sessions, report = read_sessions("data/sessions.csv")  # doctest: +SKIP
    >>> report.summary()  # doctest: +SKIP
    'rows read 3,051,733, kept 3,051,733, dropped 0 (none)'
    """
    del block_size
    try:
        files = loader.resolve(path)
        report = LoadReport(path=_describe(path))
        scanned = loader.scan(files)
    except loader.InputError as exc:
        raise DataError(str(exc)) from exc
    if scanned is None:
        what = "data file is" if len(files) == 1 else "all data files are"
        raise DataError(f"{what} empty: {report.path}")
    rows, report.header_skipped = scanned
    counts, valid = loader.count(rows, len(files))
    del rows, scanned
    for file, per_input in zip(files, counts, strict=True):
        report.inputs[str(file)] = int(per_input.sum())
    report.rows_read = int(counts.sum())
    for reason, count in zip(DROP_REASONS, counts[:, 1:].sum(axis=0), strict=True):
        report.dropped[reason] = int(count)
    if valid.height == 0:
        raise DataError(f"no valid rows in {report.path}: {report.summary()}")
    keep = loader.first_of_each(valid)
    if keep is not None:
        report.dropped["duplicate"] = int(len(keep) - keep.sum())
    logger.info("read %s: %s", report.path, report.summary())
    return loader.to_pandas(valid, keep), report


def _describe(path: str | Path | Sequence[str | Path]) -> str:
    if isinstance(path, str | Path):
        return str(path)
    return ", ".join(map(str, path))


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
    users = sessions["user_id"].to_numpy(dtype=np.int64)
    streamer = sessions["streamer_name"].cat
    cols = np.array(streamer.codes, dtype=np.int32)  # a copy: the matrix sorts it in place
    names = streamer.categories.to_numpy(dtype=object)
    if bool(np.all(users[1:] >= users[:-1])):
        # Sessions grouped by ascending user (as the Twitch files are): each user's sessions
        # are already one row of the matrix, so the rows need neither hashing nor reordering.
        starts = np.flatnonzero(np.concatenate(([True], users[1:] != users[:-1])))
        user_ids = users[starts]
        indptr = np.append(starts, len(users))
        user_items = sp.csr_matrix(
            (watch_steps(sessions), cols, indptr), shape=(len(user_ids), len(names))
        )
    else:
        # A hash-based factorize needs far less memory than np.unique's sort at 100M+ rows.
        rows, user_ids = pd.factorize(users, sort=True)
        user_items = sp.csr_matrix(
            (watch_steps(sessions), (rows.astype(np.int32), cols)),
            shape=(len(user_ids), len(names)),
            dtype=np.float32,
        )
    if user_items.nnz <= _COUNTING_SORT_MAX:
        # Each row's columns put in order by two counting sorts, to columns and back: 1.6x
        # faster than sorting every row, for a second copy of the matrix while it lasts.
        user_items = user_items.tocsc().tocsr()
    user_items.sum_duplicates()
    return Interactions(user_items=user_items, user_ids=user_ids, streamer_names=names)


# Sessions up to which the copy is worth it: 0.5 GB at most. At full Twitch size (124M) it
# would raise the load's peak memory (by 0.3 GB), so the rows are sorted in place instead.
_COUNTING_SORT_MAX = 1 << 26


def fingerprint(path: str | Path | Sequence[str | Path]) -> str:
    """A hash that tells training inputs apart, recorded in the artifact.

    It covers each input file's name, size, modification time and first and last MiB, not
    every byte: reading 5 GB a second time only to hash it would cost more than the load. The
    same unchanged files always give the same fingerprint; a file rewritten or appended to gets
    a new one (its time or size changes); a copy with a new time does too.
    """
    digest = hashlib.blake2b(digest_size=16)
    for file in loader.resolve(path):
        stat = file.stat()
        digest.update(f"{file.name}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
        with file.open("rb") as fh:
            digest.update(fh.read(_FINGERPRINT_SPAN))
            if stat.st_size > 2 * _FINGERPRINT_SPAN:
                fh.seek(-_FINGERPRINT_SPAN, 2)
                digest.update(fh.read(_FINGERPRINT_SPAN))
    return digest.hexdigest()


_FINGERPRINT_SPAN = 1 << 20

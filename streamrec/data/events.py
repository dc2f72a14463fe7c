"""Watch events as the service receives them: batches of sessions, validated as files are.

A batch holds rows in the Twitch columns (``user_id, stream_id, streamer_name, time_start,
time_stop``), as CSV text or as JSON. Both go through the CSV loader's own plan
(:func:`streamrec.data.loader.csv_rows`), so a row is accepted or dropped for exactly the reasons a
training file's row would be, and counted under the same names; JSON rows are first rendered
as CSV lines (fields quoted by CSV rules).

A row whose only empty field is ``time_stop`` is an **open session**: the viewer is still
watching. The loader drops it from training (``open_session``); here it is accepted, and counts
until a row with the same ``user_id, stream_id, streamer_name, time_start`` and a ``time_stop``
closes it (see :mod:`streamrec.serving.overlay`).

The accepted rows are also returned as the lines to append to the event log: each as it came
(CSV, without its line end) or as rendered (JSON), so the log is training data in the same
format (:func:`log_lines`). :func:`still_open` reads such lines back from log segments, at
training time: the open sessions that no row of those segments closes (the artifact keeps them,
for the server to hold again after a restart).

Nothing here knows about models or HTTP.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import polars as pl

from streamrec.data import loader
from streamrec.data.loader import CODE, COLUMNS, DROP_REASONS

OPEN = -1
"""``time_stop`` of an open session."""

_ACCEPTED = (0, CODE["open_session"])
PYTHON_BYTES = 1 << 20
"""Plain batches up to this size are read in Python; beyond, the plan's speed per row wins."""


class EventsError(ValueError):
    """A batch that cannot be read at all (not JSON, no ``sessions`` list, no rows)."""


@dataclass(frozen=True)
class EventBatch:
    """The accepted rows of a batch, its drop counts, and the lines to log.

    ``time_stop`` is :data:`OPEN` for open sessions; ``stream_key`` is the stream id as the
    loader keys it (the id when it is a non-negative integer, else a hash of it).
    """

    user_id: np.ndarray
    stream_key: np.ndarray
    streamer_name: list[str]
    time_start: np.ndarray
    time_stop: np.ndarray
    lines: list[str]
    rows: int
    dropped: dict[str, int]

    @property
    def accepted(self) -> int:
        return len(self.user_id)

    @property
    def open(self) -> int:
        return int((self.time_stop == OPEN).sum())

    def subset(self, rows: np.ndarray) -> EventBatch:
        """The accepted rows at positions ``rows`` (counts unchanged)."""
        return EventBatch(
            self.user_id[rows],
            self.stream_key[rows],
            [self.streamer_name[j] for j in rows.tolist()],
            self.time_start[rows],
            self.time_stop[rows],
            [self.lines[j] for j in rows.tolist()],
            self.rows,
            self.dropped,
        )


def from_csv(body: bytes) -> EventBatch:
    """Validate CSV text: the five columns, one row a line, an optional header.

    A batch of up to ``PYTHON_BYTES`` whose every row is plain, as the loader defines it (see
    :mod:`streamrec.data.loader`: five fields, no space, quote, sign, NUL or carriage return,
    integer ids and times) is read here in Python: a seventh of the plan's cost for a 250-row batch
    (``python -m bench overlay``). Any other batch goes through the loader's plan whole, so
    both give the same rows, reasons and counts (tested).

    Raises
    ------
    EventsError
        The text holds no row at all.
    """
    header = _has_header(body)
    if len(body) <= PYTHON_BYTES:
        plain = _plain_rows(body, header)
        if plain is not None:
            return plain
    return _from_plan(body, header)


def _from_plan(body: bytes, header: bool) -> EventBatch:
    """:func:`from_csv` through the loader's Polars plan."""
    try:
        rows = loader.csv_rows(body, header, 0, keep_line=True).collect()
    except pl.exceptions.PolarsError as exc:  # pragma: no cover - the plan reads any bytes
        raise EventsError(f"cannot read the rows: {loader._one_line(exc)}") from exc
    if rows.height == 0:
        raise EventsError("the body holds no rows")
    reasons = rows["reason"].to_numpy().copy()
    accepted = np.isin(reasons, _ACCEPTED)
    keep = loader.first_of_each(rows.filter(pl.Series(accepted)))
    if keep is not None:  # exact repeats within the batch
        reasons[np.flatnonzero(accepted)[~keep]] = CODE["duplicate"]
        accepted = np.isin(reasons, _ACCEPTED)
    counts = np.bincount(reasons, minlength=len(DROP_REASONS) + 1)
    dropped = {
        reason: int(counts[code])
        for reason, code in CODE.items()
        if reason != "open_session" and counts[code]
    }
    valid = rows.filter(pl.Series(accepted))
    lines = valid["line"].str.strip_chars_end("\r").str.strip_chars_start("\ufeff")
    return EventBatch(
        user_id=valid["user_id"].to_numpy().astype(np.int64),
        stream_key=valid["stream_key"].to_numpy().astype(np.int64),
        streamer_name=valid["streamer_name"].cast(pl.String).to_list(),
        time_start=valid["time_start"].to_numpy().astype(np.int32),
        time_stop=valid["time_stop"].fill_null(OPEN).to_numpy().astype(np.int32),
        lines=lines.to_list(),
        rows=rows.height,
        dropped=dropped,
    )


SESSION_KEY = ("user_id", "stream_key", "streamer_name", "time_start")
"""What a closing row shares with the open row it closes (the stream id as its key)."""

_SESSION_SEED = 20261201  # any fixed seed: the hashes only need to agree within one read


def open_batch(
    user_id: np.ndarray,
    stream_key: np.ndarray,
    streamer_name: Sequence[str],
    time_start: np.ndarray,
) -> EventBatch:
    """A batch of open sessions known by their keys alone (their log lines are in the log
    already, so ``lines`` are empty: such a batch is never logged again)."""
    names = [str(name) for name in streamer_name]
    return EventBatch(
        user_id=np.asarray(user_id, dtype=np.int64),
        stream_key=np.asarray(stream_key, dtype=np.int64),
        streamer_name=names,
        time_start=np.asarray(time_start, dtype=np.int32),
        time_stop=np.full(len(names), OPEN, dtype=np.int32),
        lines=[""] * len(names),
        rows=len(names),
        dropped={},
    )


def still_open(files: Sequence[Path]) -> tuple[EventBatch, np.ndarray]:
    """The open sessions in the CSV ``files`` (event log segments) that no row of theirs closes,
    and for each the index in ``files`` of the file it is in (its first, for a repeated row).

    An open row is closed by any valid row with its session key (:data:`SESSION_KEY`) and a
    ``time_stop``, before or after it, in any of the files, as in the overlay; a row dropped for
    any other reason (``stop_before_start``, a bad field, ...) closes nothing. An exact repeat
    of an open row counts once, compared on the key itself. The batch's ``lines`` are empty
    (:func:`open_batch`).

    **Cost.** Each file is read once, in order, by one streaming pass of the loader's plan
    (:func:`streamrec.data.loader.csv_rows`, without the lines), and the open rows are
    anti-joined with the closing rows on one 64-bit hash of the session key: what is kept
    across files is 8 bytes a closing row (the hashes, sorted) and the open rows not closed
    so far (a session is mostly closed in its own or the next segment), so memory grows with
    one file's rows plus those hashes, not with the four fields or the lines of every row.

    **Hash collisions** can only make an open session look closed, never the reverse: with
    ``o`` open and ``c`` closing rows, about ``o * c / 2**64`` sessions are lost so, at most
    1.4e-6 sessions (once in 700,000 trainings) at 10^7 rows.

    Raises
    ------
    EventsError
        A file cannot be read.
    """
    key = pl.struct(pl.col(SESSION_KEY).to_physical()).hash(seed=_SESSION_SEED).alias("key")
    closing: list[np.ndarray] = []  # each file's closing rows' hashes
    candidates: list[pl.DataFrame] = []  # open rows not closed by any file read so far
    for index, file in enumerate(files):
        try:
            line = loader.first_line(file)
            if line is None:  # a segment of blank lines holds nothing
                continue
            rows = (
                loader.csv_rows(file, loader.is_header(line), index)
                .filter(pl.col("reason").is_in(_ACCEPTED))
                .select(key, "reason", *SESSION_KEY, "input")
                .collect(engine="streaming")
            )
        except (OSError, loader.InputError) as exc:
            raise EventsError(str(exc)) from exc
        except pl.exceptions.PolarsError as exc:
            raise EventsError(f"cannot read {file}: {loader._one_line(exc)}") from exc
        opened = rows["reason"] == CODE["open_session"]
        keys = rows.filter(~opened)["key"]
        closed = ~pl.col("key").is_in(keys.implode())  # a hash set of this file's keys
        candidates = [c.filter(closed) for c in candidates if c.height]
        candidates.append(rows.filter(opened).drop("reason").filter(closed))
        closing.append(keys.to_numpy())
        del rows, keys
    nowhere = np.zeros(0, dtype=np.int64)
    found = pl.concat(candidates) if candidates else None
    if found is None or found.height == 0:
        return open_batch(nowhere, nowhere, [], nowhere), nowhere
    # Closed by a row of an earlier file (a closing row logged before its open row): the few
    # candidates searched among all the hashes, sorted (no hash set of them all).
    everything = np.concatenate(closing)
    del closing
    everything.sort()
    if len(everything):
        mine = found["key"].to_numpy()
        at = np.minimum(np.searchsorted(everything, mine), len(everything) - 1)
        found = found.filter(pl.Series(everything[at] != mine))
    del everything
    found = found.drop("key")
    keep = loader.first_of_each(found, SESSION_KEY)  # in the files' order: the first file's
    if keep is not None:
        found = found.filter(pl.Series(keep))
    batch = open_batch(
        found["user_id"].to_numpy(),
        found["stream_key"].to_numpy(),
        found["streamer_name"].cast(pl.String).to_list(),
        found["time_start"].to_numpy(),
    )
    return batch, found["input"].to_numpy().astype(np.int64)


_NOT_PLAIN = re.compile('[ \t"+\\-\ufffd\ufeff\x00\r]')
_ID_DIGITS = 18  # as the loader's user id pattern; a stream id of more is hashed there
_TIME_DIGITS = 9  # as its time pattern


def _plain_rows(body: bytes, header: bool) -> EventBatch | None:
    """The batch when every row is plain (see :func:`from_csv`), else None."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    lines = [line for line in text.split("\n") if line]
    if header:
        lines = lines[1:]
    if not lines:
        return None
    kept: list[tuple[int, int, str, int, int]] = []
    kept_lines: list[str] = []
    seen: set[tuple[int, int, str, int, int]] = set()
    dropped: dict[str, int] = {}
    for line in lines:
        if len(line) * 4 > loader.MAX_ROW_BYTES or _NOT_PLAIN.search(line):
            return None
        fields = line.split(",")
        if len(fields) != len(COLUMNS):
            return None
        user, stream, name, start, stop = fields
        if not (
            name
            and _digits(user, _ID_DIGITS)
            and _digits(stream, _ID_DIGITS)
            and _digits(start, _TIME_DIGITS)
            and (stop == "" or _digits(stop, _TIME_DIGITS))
        ):
            return None
        row = (int(user), int(stream), name, int(start), int(stop) if stop else OPEN)
        if stop and row[4] < row[3]:
            dropped["stop_before_start"] = dropped.get("stop_before_start", 0) + 1
        elif row in seen:
            dropped["duplicate"] = dropped.get("duplicate", 0) + 1
        else:
            seen.add(row)
            kept.append(row)
            kept_lines.append(line)
    users, streams, names, starts, stops = zip(*kept, strict=True) if kept else ([],) * 5
    return EventBatch(
        user_id=np.array(users, dtype=np.int64),
        stream_key=np.array(streams, dtype=np.int64),
        streamer_name=list(names),
        time_start=np.array(starts, dtype=np.int32),
        time_stop=np.array(stops, dtype=np.int32),
        lines=kept_lines,
        rows=len(lines),
        dropped={reason: dropped[reason] for reason in DROP_REASONS if reason in dropped},
    )


def _digits(field: str, most: int) -> bool:
    return 0 < len(field) <= most and field.isascii() and field.isdigit()


def from_json(body: bytes, max_rows: int) -> EventBatch:
    """Validate ``{"sessions": [...]}``: each row an object with the five columns as keys (a
    missing or null ``time_stop``: open) or an array of five values.

    Raises
    ------
    EventsError
        The body is not such an object, or holds more than ``max_rows`` rows, or none.
    """
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise EventsError(f"the body is not valid JSON: {exc}") from exc
    sessions = payload.get("sessions") if isinstance(payload, dict) else None
    if not isinstance(sessions, list):
        raise EventsError('the body must be an object with a "sessions" list')
    if len(sessions) > max_rows:
        raise EventsError(f"{len(sessions)} sessions in one batch; at most {max_rows}")
    if not sessions:
        raise EventsError("the body holds no rows")
    return from_csv("".join(_csv_line(row) for row in sessions).encode())


def log_lines(batch: EventBatch, rows: np.ndarray | None = None) -> bytes:
    """The log lines of the batch's accepted rows (or of the positions ``rows``), each ending
    with a line feed."""
    lines = batch.lines if rows is None else [batch.lines[j] for j in rows.tolist()]
    return "".join(f"{line}\n" for line in lines).encode()


def _csv_line(row: Any) -> str:
    """A JSON row as one CSV line; a row that is no row becomes one the loader drops."""
    if isinstance(row, dict):
        values: Sequence[Any] = [row.get(name) for name in COLUMNS]
    elif isinstance(row, list):
        values = row
    else:
        return f"{_field(row)}\n"  # one field: wrong_field_count
    return ",".join(_field(value) for value in values) + "\n"


def _field(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        text = orjson.dumps(value).decode()  # kept as text, so the loader names what is wrong
    else:
        text = str(value)
    if "\n" in text or "\r" in text:
        return '"'  # a line break cannot be one row of the log: an unbalanced quote
    if any(c in text for c in ',"') or text != text.strip():
        return '"' + text.replace('"', '""') + '"'
    return text


def _has_header(body: bytes) -> bool:
    for raw in body[: loader.MAX_ROW_BYTES * 4].splitlines():
        line = raw.decode("utf-8", errors="replace").lstrip("\ufeff").strip()
        if line:
            return loader.is_header(line)
    return False

"""A durable, append-only log of accepted watch events, in CSV segments training can read.

Lines are rows in the five-column sessions format (:data:`streamrec.data.loader.COLUMNS`; an open
session has an empty ``time_stop``), each ending in ``\\n``. They go into numbered segments in
one folder: the segment being written is ``events-<seq:010d>.csv.open``, which the loader's
folder glob (``*.csv``) skips; a full one is *sealed*: fsync'd, renamed to
``events-<seq:010d>.csv`` and the folder fsync'd. A sealed segment never changes again, so
training (``--data <folder>``) reads sealed segments only and records their names and sizes
(:func:`consumed_segments`), and the server learns from a model which ones it already holds
(:func:`consumed_of`).

Durability. :meth:`EventLog.append` returns only after an ``fsync`` of the segment that covers
all of its bytes (the folder entry of a new segment is fsync'd before anything is written to
it), so an acknowledged append survives a crash of the process or the machine. A crash (SIGKILL,
power loss) can lose only bytes whose append had not returned; those may also survive, whole or
as a torn last line, since the caller was never told either way (retries are harmless: exact
repeats are dropped as duplicates). :meth:`EventLog.open` repairs a folder after a crash: it cuts
any ``.open`` segment back to its last ``\\n`` (a torn line is an unacknowledged write), seals
it, and starts the next segment; a write that fails (disk full, ...) is cut back the same way
before its error is raised, and nothing of it is acknowledged.

Group commit. Concurrent appends share one ``os.write`` and one ``os.fsync``: whoever finds no
write in progress becomes the leader and writes everything pending, the others wait on a
condition until the fsync that covers their bytes is done.

Rotation. After a write that brings the active segment to ``segment_bytes`` or more, and before
a write into a segment whose first line is ``segment_seconds`` old, the active segment is
sealed and the next one opened; :meth:`EventLog.rotate` seals an overdue segment of an idle log.
A batch is never split, so a segment may exceed ``segment_bytes`` by one batch.

Retention. The sealed segments that the loaded model consumed are deleted once they are older
than the retention, and the unconsumed bytes are bounded by ``max_bytes``: an append past it
raises :class:`EventLogFull` and writes nothing (:mod:`streamrec.data.event_retention`).

Nothing here knows about models, serving or training.
"""

from __future__ import annotations

import contextlib
import copy
import errno
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from streamrec.data import event_segments
from streamrec.data.event_retention import Retention
from streamrec.data.event_segments import (
    OPEN_SUFFIX,
    SEGMENT_GLOB,
    Segment,
    consumed_of,
    consumed_segments,
    is_sealed,
    segment_name,
    segment_seq,
)

logger = logging.getLogger(__name__)

__all__ = [
    "OPEN_SUFFIX",
    "SEGMENT_GLOB",
    "EventLog",
    "EventLogFull",
    "Segment",
    "consumed_of",
    "consumed_segments",
    "is_sealed",
    "segment_name",
    "segment_seq",
]


class EventLogFull(RuntimeError):
    """The unconsumed bytes would exceed ``max_bytes``: the append is refused, nothing written."""


class _Request:
    """One append waiting for its group's fsync."""

    __slots__ = ("lines", "done", "seq", "error")

    def __init__(self, lines: bytes) -> None:
        self.lines = lines
        self.done = False
        self.seq = 0
        self.error: BaseException | None = None


class EventLog(Retention):
    """The event log in ``folder``; see the module docstring for what it guarantees.

    Parameters
    ----------
    folder : Path
        Holds the segments (created by :meth:`open`); one :class:`EventLog` per folder.
    segment_bytes : int
        Seal the active segment once it holds this many bytes.
    segment_seconds : float
        Seal the active segment before writing to it once its first line is this old.
    max_bytes : int or None
        Bound of the unconsumed bytes; None: unbounded.
    clock : callable
        Seconds since the epoch (segment ages, and retention against file mtimes).
    """

    def __init__(
        self,
        folder: Path,
        segment_bytes: int = 64 << 20,
        segment_seconds: float = 600.0,
        max_bytes: int | None = 10 << 30,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if segment_bytes < 1:
            raise ValueError(f"segment_bytes must be >= 1, got {segment_bytes}")
        if not segment_seconds > 0:
            raise ValueError(f"segment_seconds must be > 0, got {segment_seconds}")
        if max_bytes is not None and max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0 or None, got {max_bytes}")
        self.folder = Path(folder)
        self.segment_bytes = segment_bytes
        self.segment_seconds = segment_seconds
        self.max_bytes = max_bytes
        self.clock = clock
        self._cond = threading.Condition(threading.Lock())
        self._pending: list[_Request] = []
        self._pending_bytes = 0  # accepted, not yet settled (counted as unconsumed)
        self._writing = False  # a leader is writing, fsyncing or rotating (outside the lock)
        self._sealed: dict[int, Segment] = {}
        self._consumed: dict[str, int] = {}
        self._unconsumed_sealed = 0
        self._fd: int | None = None
        self._broken: str | None = None  # why appends are refused until a reopen
        self._seq = 0  # the active segment's
        self._size = 0  # bytes in the active segment, all fsync'd
        self._first_write: float | None = None  # when the active segment got its first line
        self._fsyncs = 0
        self._appends = 0
        self._appended_bytes = 0

    # --- opening and closing ------------------------------------------------------------------

    def open(self) -> list[Segment]:
        """Create the folder, repair it after a crash, and start a new active segment.

        Every ``.open`` segment is cut back to its last ``b"\\n"``, fsync'd and sealed (or
        removed when nothing is left of it); the new segment's seq is the highest seen + 1.

        Returns
        -------
        list of Segment
            Every sealed segment, in seq order (the caller replays those the model did not
            consume).
        """
        with self._cond:
            if self._fd is not None or self._writing:
                raise RuntimeError(f"event log {self.folder} is already open")
            self._writing = True  # appends and close wait; the lock is free for _start
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            names = {p.name: s for p in self.folder.iterdir() if (s := segment_seq(p)) is not None}
            for name, seq in sorted(names.items(), key=lambda item: item[1]):
                if name.endswith(OPEN_SUFFIX):
                    event_segments.repair(self.folder, seq)
            sealed = {}
            for path in self.folder.glob(SEGMENT_GLOB):
                if (seq := segment_seq(path)) is not None and is_sealed(path):
                    sealed[seq] = event_segments.stat_segment(seq, path, sealed=True)
            with self._cond:
                self._sealed, self._broken = sealed, None
                self._recount()
            self._start(max(*names.values(), self._seq, 0) + 1)  # a reopen never goes back
            return [sealed[seq] for seq in sorted(sealed)]
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()

    def close(self) -> None:
        """Wait for pending appends, then seal the active segment (remove it if empty)."""
        with self._cond:
            while self._writing or self._pending:
                self._cond.wait()
            if self._fd is None:
                return
            self._writing = True
        try:
            self._seal_active(start_next=False)
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()

    def __enter__(self) -> EventLog:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- appending ----------------------------------------------------------------------------

    def append(self, lines: bytes) -> int:
        """Append whole lines and return once they are fsync'd; thread-safe.

        Returns
        -------
        int
            The seq of the segment the lines are in.

        Raises
        ------
        ValueError
            ``lines`` is empty or does not end in ``b"\\n"``.
        EventLogFull
            The unconsumed bytes would exceed ``max_bytes``; nothing is written.
        OSError
            Writing or fsyncing failed; nothing of these lines is acknowledged. After a write
            that could not be cut back, or a failed rotation, every append raises one (EIO)
            until :meth:`open` repairs the folder.
        """
        if not isinstance(lines, bytes | bytearray | memoryview):
            raise TypeError(f"lines must be bytes, got {type(lines).__name__}")
        lines = bytes(lines)
        if not lines.endswith(b"\n"):
            raise ValueError(f"lines must be whole lines ending in b'\\n', got {lines[-40:]!r}")
        request = _Request(lines)
        with self._cond:
            self._check_open()
            if self.max_bytes is not None:
                unconsumed = self._unconsumed_bytes()
                if unconsumed + len(lines) > self.max_bytes:
                    raise EventLogFull(
                        f"event log {self.folder} holds {unconsumed:,} unconsumed bytes; "
                        f"{len(lines):,} more would exceed max_bytes {self.max_bytes:,}"
                    )
            self._pending.append(request)
            self._pending_bytes += len(lines)
            while not request.done:
                if self._writing:
                    self._cond.wait()
                    continue
                batch, self._pending = self._pending, []
                self._writing = True
                self._cond.release()
                try:
                    self._commit(batch)
                finally:
                    self._cond.acquire()
                    self._writing = False
                    self._cond.notify_all()
        if request.error is not None:
            raise _own_copy(request.error) from request.error
        return request.seq

    def _commit(self, batch: list[_Request]) -> None:
        """Write and fsync ``batch`` (as the leader, outside the lock); settle each request."""
        data = b"".join(r.lines for r in batch)
        error: BaseException | None = None
        try:
            self._check_open()
            if self._size and self._first_write is not None:
                if self.clock() - self._first_write >= self.segment_seconds:
                    self._seal_active(start_next=True)
            self._write(data)
        except BaseException as exc:  # settle every waiter, whatever happened
            error = exc
        with self._cond:
            self._pending_bytes -= len(data)
            if error is None:
                self._size += len(data)
                self._appends += len(batch)
                self._appended_bytes += len(data)
                if self._first_write is None:
                    self._first_write = self.clock()
            for request in batch:
                request.seq, request.error, request.done = self._seq, error, True
        if error is None and self._size >= self.segment_bytes:
            try:
                self._seal_active(start_next=True)
            except OSError as exc:  # the lines are safe; appends fail until a reopen
                logger.warning("cannot rotate event log %s: %s", self.folder, exc)

    def _check_open(self) -> None:
        """Raise unless there is an active segment to write to."""
        if self._broken is not None:  # an I/O failure: the caller answers "try later"
            raise OSError(errno.EIO, f"event log {self.folder} is broken ({self._broken})")
        if self._fd is None:
            raise RuntimeError(f"event log {self.folder} is not open")

    def _write(self, data: bytes) -> None:
        """Write ``data`` at the end of the active segment and fsync; cut it back on failure."""
        self._check_open()
        assert self._fd is not None
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
            os.fsync(self._fd)
        except OSError:
            try:  # nothing of a failed write may stay: the next one would follow a torn line
                os.ftruncate(self._fd, self._size)
                os.fsync(self._fd)
            except OSError as exc:
                logger.error("event log %s: cannot cut back a failed write: %s", self.folder, exc)
                os.close(self._fd)
                with self._cond:  # refuse appends until a reopen repairs the segment
                    self._fd, self._broken = None, f"a failed write is left in it: {exc}"
            raise
        finally:
            with self._cond:
                self._fsyncs += 1

    # --- rotation -----------------------------------------------------------------------------

    def rotate(self, force: bool = False) -> int | None:
        """Seal the active segment if it holds lines and is due (or ``force``); return its seq.

        For an idle log, whose segment would otherwise stay open (and unread by training)
        until the next append; call it from a timer.
        """
        with self._cond:
            while self._writing:
                self._cond.wait()
            if self._fd is None or not self._size or self._first_write is None:
                return None
            age = self.clock() - self._first_write
            due = age >= self.segment_seconds or self._size >= self.segment_bytes
            if not (due or force):
                return None
            self._writing = True
        try:
            sealed = self._seq
            self._seal_active(start_next=True)
            return sealed
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()

    def _start(self, seq: int) -> None:
        """Create the active segment ``seq`` (its folder entry fsync'd before any write)."""
        path = self.folder / segment_name(seq, sealed=False)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC
        fd = os.open(path, flags, 0o644)
        event_segments.fsync_folder(self.folder)
        with self._cond:
            self._fd, self._seq, self._size, self._first_write = fd, seq, 0, None

    def _seal_active(self, start_next: bool) -> None:
        """Seal the active segment (remove it if empty), then start the next if asked; on an
        OSError the log refuses appends until :meth:`open` repairs it."""
        try:
            self._seal_and_start(start_next)
        except OSError as exc:
            with self._cond:
                if self._fd is not None:
                    with contextlib.suppress(OSError):
                        os.close(self._fd)
                self._fd, self._broken = None, f"cannot seal or start a segment: {exc}"
            raise

    def _seal_and_start(self, start_next: bool) -> None:
        assert self._fd is not None
        seq, fd = self._seq, self._fd
        open_path = self.folder / segment_name(seq, sealed=False)
        if self._size:
            os.fsync(fd)
        with self._cond:
            self._fd = None
        os.close(fd)
        if self._size:
            sealed_path = self.folder / segment_name(seq)
            os.rename(open_path, sealed_path)
            segment = event_segments.stat_segment(seq, sealed_path, sealed=True)
            with self._cond:
                self._sealed[seq] = segment
                self._recount()
        else:
            open_path.unlink()
        event_segments.fsync_folder(self.folder)
        if start_next:
            self._start(seq + 1)


def _own_copy(error: BaseException) -> BaseException:
    """A copy of the group's error for one waiter to raise (tracebacks differ per thread)."""
    try:
        return copy.copy(error).with_traceback(None)
    except Exception:  # an exception type that cannot be copied: share it
        return error

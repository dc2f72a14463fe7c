"""What an event log holds and may delete: its sealed segments, what the model consumed of them.

Retention. :meth:`Retention.remove_consumed` deletes sealed segments that the loaded model
consumed (same name and size, see :meth:`Retention.set_consumed`) once they are older than the
retention; never the active one, never an unconsumed one, and never the newest sealed one, so
that sequence numbers never repeat across restarts (the next is always the highest seen + 1).
Unconsumed bytes (sealed segments the model did not consume, the active one and pending
appends) are bounded by ``max_bytes``: an append past it raises
:class:`~streamrec.data.event_log.EventLogFull` and writes nothing.

:class:`Retention` is this part of :class:`~streamrec.data.event_log.EventLog`, with the
counters a server monitors; the log's lock guards the state it reads.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from streamrec.data import event_segments
from streamrec.data.event_segments import Segment, segment_name

logger = logging.getLogger("streamrec.data.event_log")  # its records are the log's


class Retention:
    """Consumption, retention and inspection of an :class:`~streamrec.data.event_log.EventLog`.

    The state is the log's own (set up by its ``__init__``).
    """

    folder: Path
    clock: Callable[[], float]
    _cond: threading.Condition
    _sealed: dict[int, Segment]
    _consumed: dict[str, int]
    _unconsumed_sealed: int
    _pending_bytes: int
    _fd: int | None
    _broken: str | None
    _seq: int
    _size: int
    _fsyncs: int
    _appends: int
    _appended_bytes: int

    # --- consumption and retention ------------------------------------------------------------

    def set_consumed(self, consumed: Mapping[str, int]) -> None:
        """What the loaded model consumed (``event_segments.consumed_of``): name -> size."""
        with self._cond:
            self._consumed = dict(consumed)
            self._recount()

    def _is_consumed(self, segment: Segment) -> bool:
        return self._consumed.get(segment.path.name) == segment.size

    def _recount(self) -> None:
        """Recount the sealed segments' unconsumed bytes (holding the lock)."""
        sizes = (s.size for s in self._sealed.values() if not self._is_consumed(s))
        self._unconsumed_sealed = sum(sizes)

    def _unconsumed_bytes(self) -> int:
        """Unconsumed sealed bytes, the active segment's and the pending (holding the lock)."""
        return self._unconsumed_sealed + self._size + self._pending_bytes

    def remove_consumed(self, retention_seconds: float) -> list[str]:
        """Delete sealed segments that are consumed and older than ``retention_seconds``.

        Never the active segment, an unconsumed one or the newest sealed one (which keeps
        sequence numbers from repeating after a restart). A segment that cannot be deleted is
        logged and kept.

        Returns
        -------
        list of str
            The names removed.
        """
        if not retention_seconds >= 0:
            raise ValueError(f"retention_seconds must be >= 0, got {retention_seconds}")
        with self._cond:
            now, newest = self.clock(), max(self._sealed, default=None)
            old = [
                s
                for seq, s in sorted(self._sealed.items())
                if seq != newest and self._is_consumed(s) and now - s.mtime > retention_seconds
            ]
            removed = []
            for segment in old:
                try:
                    segment.path.unlink(missing_ok=True)
                except OSError as exc:
                    logger.warning("cannot remove event segment %s: %s", segment.path, exc)
                    continue
                del self._sealed[segment.seq]
                removed.append(segment.path.name)
            self._recount()
        if removed:
            event_segments.fsync_folder(self.folder)
        return removed

    # --- inspection ---------------------------------------------------------------------------

    def segments(self) -> list[Segment]:
        """The sealed segments in seq order, then the active one (if open)."""
        with self._cond:
            found = [self._sealed[seq] for seq in sorted(self._sealed)]
            if self._fd is not None:
                path = self.folder / segment_name(self._seq, sealed=False)
                found.append(event_segments.stat_segment(self._seq, path, sealed=False))
            return found

    def stats(self) -> dict[str, Any]:
        """Counters for monitoring: segments, bytes, unconsumed bytes, fsyncs, appends, ..."""
        with self._cond:
            return {
                "segments": len(self._sealed) + (self._fd is not None),
                "bytes": sum(s.size for s in self._sealed.values()) + self._size,
                "unconsumed_bytes": self._unconsumed_bytes(),
                "pending_bytes": self._pending_bytes,
                "fsyncs": self._fsyncs,
                "appends": self._appends,
                "appended_bytes": self._appended_bytes,
                "active_seq": self._seq if self._fd is not None else None,
                "broken": self._broken,
            }

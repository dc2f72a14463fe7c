"""Who is live now: the live set the stream directory feeds, behind a small interface.

The platform's stream directory replaces the whole set (``PUT /live``) or sends deltas
(``PATCH /live``); the list routes read it for ``live_only`` lists. :class:`LiveState` is the
interface the server uses, :class:`InProcessLiveState` the embedded default.

Reads are lock-free: every write builds a new immutable :class:`LiveSnapshot` and publishes it
by one reference assignment, so a request (on the event loop or in a worker thread) reads one
attribute and sees either the old set or the new one, never half of a write. Writes serialise
on a lock. The only other change is expiry: with a time-to-live, a streamer not refreshed
within it counts as offline; a read that finds the snapshot's earliest expiry passed prunes
it once (under the lock) and publishes the result, so expiry costs nothing until it happens.

Times are Unix seconds (``clock``, default :func:`time.time`) rather than a monotonic clock,
so that refresh times written by one process mean the same in another (see Redis below).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal, Protocol

LiveStatus = Literal["not fed", "live", "expired"]

# After a prune, the next one waits at least this share of the TTL, so that refresh times
# spread over the TTL (deltas from many sources) cost at most 64 prunes (each O(set)) per TTL
# rather than one per read; a streamer may so count as live up to TTL / 64 past its expiry.
PRUNE_SLACK = 1 / 64


@dataclass(frozen=True)
class LiveSnapshot:
    """The live set at one moment; never changed once published.

    Attributes
    ----------
    refreshed : mapping of str to float
        Each live streamer and when it was last refreshed (Unix seconds); read-only.
    version : int
        Counts changes of the set (names added or removed, by a write or by expiry); a write
        that only refreshes keeps it. 0 = never fed.
    changed_at : float or None
        When the set last changed; None before the first write.
    written_at : float or None
        When the stream directory last wrote (``PUT`` or ``PATCH``), changed or not.
    ttl : float or None
        Seconds a streamer stays live without a refresh; None = until it is sent offline.
    expired : bool
        Every streamer's TTL ran out since the last write: the directory has stopped writing,
        so the server no longer knows who is live (unlike a set emptied by a write).
    next_expiry : float
        When the next prune is due (``inf`` without a TTL or streamers).
    """

    refreshed: Mapping[str, float]
    version: int = 0
    changed_at: float | None = None
    written_at: float | None = None
    ttl: float | None = None
    expired: bool = False
    next_expiry: float = float("inf")

    @property
    def status(self) -> LiveStatus:
        """``"not fed"`` (no write yet), ``"expired"`` (see ``expired``), else ``"live"``."""
        if self.written_at is None:
            return "not fed"
        return "expired" if self.expired else "live"

    def __len__(self) -> int:
        return len(self.refreshed)


class LiveSetTooLargeError(ValueError):
    """A write would make the live set larger than its bound; nothing was changed."""

    def __init__(self, size: int, max_streamers: int) -> None:
        super().__init__(
            f"the live set would hold {size} streamers, more than live_max_streamers "
            f"({max_streamers})"
        )
        self.size = size
        self.max_streamers = max_streamers


class LiveState(Protocol):
    """Where the server keeps the live set (and, later, the recent watch events).

    Implementations must make :meth:`snapshot` cheap (it runs on every ``live_only`` request,
    on the event loop) and writes atomic: a reader sees a whole write or none of it.

    A shared implementation (Redis, so that several replicas serve one set) needs:

    - the set as a sorted set ``name -> refresh time`` plus a version counter and the two
      timestamps, written atomically (``MULTI`` or a Lua script: ``PUT`` writes a fresh key
      and ``RENAME``s it over the old one; ``PATCH`` is ``ZADD`` / ``ZREM`` with ``INCR`` of
      the version only when the set changed);
    - refresh times from Redis's ``TIME`` (or well-synchronised clocks), and expiry as
      ``ZREMRANGEBYSCORE`` below ``now - ttl`` inside the same script;
    - a local copy for reads: each replica keeps the last :class:`LiveSnapshot` and rebuilds
      it when the version key moves (a pub/sub message on each write, or a poll every few
      hundred milliseconds), so a request still reads one local reference and never waits on
      the network. Callers key their caches on ``version``, so it must only grow.

    The watch events since the model are the other half of the live state: the in-process
    :class:`streamrec.serving.overlay.Overlay`, which models read through the two-method
    :class:`streamrec.serving.overlay.EventSource` (a viewer's summary, "popular now") and
    :class:`streamrec.serving.watch_events.WatchEvents` writes (add, forget what a reloaded
    model consumed). A shared store implements the same: per viewer a hash of sessions keyed
    as the overlay keys them, a sorted set of recent starts for "popular now", and the same
    local read-through copy keyed on a version.
    """

    started_at: float
    """When this state began, empty (Unix seconds): the server's start."""

    @property
    def ttl(self) -> float | None:
        """Seconds a streamer stays live without a refresh; None = no expiry."""

    def snapshot(self) -> LiveSnapshot:
        """The current set, streamers whose TTL ran out already dropped."""

    def replace(self, names: Iterable[str]) -> tuple[LiveSnapshot, int, int]:
        """Make ``names`` the whole set, all refreshed now; the new snapshot, added, removed."""

    def apply(self, online: Iterable[str], offline: Iterable[str]) -> tuple[LiveSnapshot, int, int]:
        """Add or refresh ``online``, drop ``offline``; the new snapshot, added, removed."""


_EMPTY: Mapping[str, float] = MappingProxyType({})


class InProcessLiveState:
    """The live set in this process's memory: the embedded default :class:`LiveState`.

    Parameters
    ----------
    ttl : float, optional
        Seconds a streamer stays live without a refresh; None or 0 = until sent offline.
    max_streamers : int
        Most streamers in the set; it takes 38–62 bytes per streamer plus the name (twice
        that during a write, which builds the new set beside the old one).
    clock : callable
        Unix time in seconds.

    Examples
    --------
    >>> now = [100.0]
    >>> state = InProcessLiveState(ttl=60, clock=lambda: now[0])
    >>> snapshot, added, removed = state.replace(["zeon", "alptv"])
    >>> (len(snapshot), snapshot.version, added, removed)
    (2, 1, 2, 0)
    >>> now[0] = 161.0
    >>> state.snapshot().status, len(state.snapshot())
    ('expired', 0)
    """

    def __init__(
        self,
        ttl: float | None = None,
        max_streamers: int = 100_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if ttl is not None and not ttl >= 0:
            raise ValueError(f"ttl must be >= 0 seconds or None, got {ttl}")
        if max_streamers < 1:
            raise ValueError(f"max_streamers must be >= 1, got {max_streamers}")
        self._ttl = ttl or None
        self.max_streamers = max_streamers
        self._clock = clock
        self._lock = threading.Lock()  # writers and prunes only; readers never take it
        self.started_at = clock()
        self._snapshot = LiveSnapshot(_EMPTY, ttl=self._ttl)

    @property
    def ttl(self) -> float | None:
        return self._ttl

    def snapshot(self) -> LiveSnapshot:
        snapshot = self._snapshot  # read once: writers replace it concurrently
        if snapshot.next_expiry > self._clock():
            return snapshot
        with self._lock:
            return self._prune(self._clock())

    def replace(self, names: Iterable[str]) -> tuple[LiveSnapshot, int, int]:
        names = list(names)
        with self._lock:
            now = self._clock()
            old = self._prune(now).refreshed
            refreshed = dict.fromkeys(names, now)
            self._check_size(len(refreshed))
            added = sum(name not in old for name in refreshed)
            removed = len(old) - (len(refreshed) - added)
            return self._publish(refreshed, now, added, removed), added, removed

    def apply(self, online: Iterable[str], offline: Iterable[str]) -> tuple[LiveSnapshot, int, int]:
        online, offline = list(online), list(offline)
        with self._lock:
            now = self._clock()
            refreshed = dict(self._prune(now).refreshed)
            before = len(refreshed)
            removed = sum(refreshed.pop(name, None) is not None for name in offline)
            refreshed.update(dict.fromkeys(online, now))
            self._check_size(len(refreshed))
            added = len(refreshed) - (before - removed)
            return self._publish(refreshed, now, added, removed), added, removed

    # -- under the lock ---------------------------------------------------------------------

    def _check_size(self, size: int) -> None:
        if size > self.max_streamers:
            raise LiveSetTooLargeError(size, self.max_streamers)

    def _publish(
        self, refreshed: dict[str, float], now: float, added: int, removed: int
    ) -> LiveSnapshot:
        old = self._snapshot
        changed = bool(added or removed) or old.written_at is None
        snapshot = LiveSnapshot(
            MappingProxyType(refreshed),
            version=old.version + 1 if changed else old.version,
            changed_at=now if changed else old.changed_at,
            written_at=now,
            ttl=self._ttl,
            expired=False,
            next_expiry=self._next_expiry(refreshed, now),
        )
        self._snapshot = snapshot  # the publication: one reference assignment
        return snapshot

    def _prune(self, now: float) -> LiveSnapshot:
        """Drop the streamers whose TTL ran out by ``now`` and publish the rest."""
        old = self._snapshot
        if old.next_expiry > now:  # another thread pruned meanwhile
            return old
        assert self._ttl is not None  # next_expiry is finite only with a TTL
        cutoff = now - self._ttl
        refreshed = {name: at for name, at in old.refreshed.items() if at > cutoff}
        dropped = len(old.refreshed) - len(refreshed)
        snapshot = LiveSnapshot(
            MappingProxyType(refreshed) if dropped else old.refreshed,
            version=old.version + 1 if dropped else old.version,
            changed_at=now if dropped else old.changed_at,
            written_at=old.written_at,
            ttl=self._ttl,
            expired=old.expired or (dropped > 0 and not refreshed),
            next_expiry=max(self._next_expiry(refreshed, now), now + self._ttl * PRUNE_SLACK)
            if refreshed
            else float("inf"),
        )
        self._snapshot = snapshot
        return snapshot

    def _next_expiry(self, refreshed: dict[str, float], now: float) -> float:
        if self._ttl is None or not refreshed:
            return float("inf")
        return min(refreshed.values()) + self._ttl

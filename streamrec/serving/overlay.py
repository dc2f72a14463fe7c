"""What viewers watched since the served model was trained: the watch-event overlay.

Every accepted event (:mod:`streamrec.events`) lands here once it is in the event log, and
from the next request on it shows in that viewer's lists: in ``exclude_watched``, in the live
ranker's watch-time, session and recency features, and in the viewer's factors, re-solved from
their whole history (see :mod:`streamrec.serving.fresh`). It also feeds "popular now", the
distinct viewers per streamer over the latest steps, which orders the popular list.

**Sessions.** The overlay counts sessions as training does: exact repeats once, every closed
session by its ``time_stop - time_start`` steps (at least one). An open session (no
``time_stop``) counts from its start up to ``now``, the latest step any event or the model's
data mentions, at least one step and at most ``open_max_steps``; a row with the same
``user_id, stream_id, streamer_name, time_start`` and a ``time_stop`` closes it, and from then
on only the closed row counts. A closed row that arrives before its open row wins: the late
open row is a duplicate.

**After a reload.** :meth:`Overlay.drop_consumed` forgets the closed sessions of the log
segments the new model was trained on, so nothing counts twice; open sessions stay (training
skips them) until they are closed.

**Memory.** At most ``max_events`` sessions are held (about 250 bytes each, see the README).
When an add would pass it, the viewers seen least recently are evicted whole, down to nine
tenths of the bound: their lists fall back to the model's view of them, and their events stay
in the log for the next training. Evictions are counted.

Reads take no lock while a viewer's summary is fresh; a write (add, drop, evict) and the
recomputation of a stale summary take the one lock.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from streamrec.events import OPEN, EventBatch

# Key of a session within a viewer: (stream key, streamer name, start).
_Key = tuple[int, str, int]


@dataclass(frozen=True)
class ViewerEvents:
    """One viewer's sessions in the overlay, summed per streamer, as of step ``now``.

    ``names`` are distinct and sorted; ``steps``, ``sessions`` and ``last_step`` (float32)
    line up with them. ``version`` changes whenever the viewer's sessions or (with an open
    session) ``now`` do, so a summary can key caches derived from it.
    """

    names: tuple[str, ...]
    steps: np.ndarray
    sessions: np.ndarray
    last_step: np.ndarray
    now: int
    version: tuple[int, int]


@dataclass(frozen=True)
class AddResult:
    """What an add did: new sessions, exact repeats of held ones, open sessions it closed."""

    added: int
    duplicates: int
    closed: int
    evicted_viewers: int = 0


@dataclass(frozen=True)
class PopularNow:
    """Distinct viewers per streamer over the latest steps, most first (ties by name)."""

    names: tuple[str, ...]
    viewers: np.ndarray
    version: int


class EventSource(Protocol):
    """What a model reads of the events since its training (an :class:`Overlay`, or a live
    state that holds one)."""

    def viewer(self, user_id: int) -> ViewerEvents | None: ...

    def popular_now(self) -> PopularNow | None: ...


_SEGMENT_BITS = 32


def _rows(batch: EventBatch) -> Iterator[tuple[int, _Key, int]]:
    """Each accepted row as (user id, session key, time_stop)."""
    for user, key, name, start, stop in zip(
        batch.user_id.tolist(),
        batch.stream_key.tolist(),
        batch.streamer_name,
        batch.time_start.tolist(),
        batch.time_stop.tolist(),
        strict=True,
    ):
        yield user, (key, name, start), stop


def _stops(value: int | dict[int, int]) -> dict[int, int]:
    """A closed session's ``{time_stop: log segment}`` from its stored value."""
    if isinstance(value, int):
        return {value >> _SEGMENT_BITS: value & ((1 << _SEGMENT_BITS) - 1)}
    return value


@dataclass
class _Viewer:
    closed: dict[_Key, int | dict[int, int]] = field(default_factory=dict)
    """Closed sessions: key -> ``time_stop << 32 | log segment``, or, for the rare key with
    several stops, ``{time_stop: log segment}`` (one int is a sixth of a dict's memory)."""
    opened: dict[_Key, int] = field(default_factory=dict)
    """Open sessions: key -> log segment."""
    version: int = 0
    summary: ViewerEvents | None = None

    def size(self) -> int:
        several = sum(len(v) - 1 for v in self.closed.values() if isinstance(v, dict))
        return len(self.closed) + several + len(self.opened)

    def has_stop(self, session: _Key, stop: int) -> bool:
        value = self.closed.get(session)
        return value is not None and stop in _stops(value)

    def add_stop(self, session: _Key, stop: int, segment: int) -> None:
        value = self.closed.get(session)
        if value is None:
            self.closed[session] = stop << _SEGMENT_BITS | segment
        else:
            self.closed[session] = {**_stops(value), stop: segment}


class Overlay:
    """Watch events the served model has not seen, per viewer.

    Parameters
    ----------
    max_events : int
        Most sessions held (see the module docstring).
    open_max_steps : int
        Longest an open session counts, in steps (default 144: a day of 10-minute steps).
    popular_steps : int
        The window of "popular now", in steps: a viewer counts for a streamer while they have
        an open session on it, or started one within the latest ``popular_steps`` steps.
    now : int
        The step the model's data ends at; ``now`` only moves forward from it.
    popular_refresh_seconds : float
        "Popular now" is recomputed at most this often while events arrive (each
        recomputation reorders the catalogue's popular list: milliseconds at Twitch scale).

    Examples
    --------
    >>> from streamrec import events
    >>> overlay = Overlay()
    >>> overlay.add(events.from_csv(b"7,1,zeon,100,\\n"), segment=1).added
    1
    >>> overlay.viewer(7).names, overlay.viewer(7).steps.tolist()
    (('zeon',), [1.0])
    """

    def __init__(
        self,
        max_events: int = 1_000_000,
        open_max_steps: int = 144,
        popular_steps: int = 6,
        now: int = 0,
        popular_refresh_seconds: float = 1.0,
    ) -> None:
        if max_events < 1:
            raise ValueError(f"max_events must be >= 1, got {max_events}")
        if open_max_steps < 1 or popular_steps < 1:
            raise ValueError(
                f"open_max_steps and popular_steps must be >= 1, got {open_max_steps} and "
                f"{popular_steps}"
            )
        self.max_events = max_events
        self.open_max_steps = open_max_steps
        self.popular_steps = popular_steps
        self.popular_refresh_seconds = popular_refresh_seconds
        self._now = now
        self._lock = threading.Lock()
        self._viewers: OrderedDict[int, _Viewer] = OrderedDict()  # least recently seen first
        self._events = 0
        self._open = 0
        self._versions = 0  # one counter for all viewers: a version is never reused
        self.evicted_viewers = 0
        # "Popular now": recent session starts, and distinct viewers per streamer among them.
        self._recent: deque[tuple[int, str, int]] = deque()
        self._recent_pairs: Counter[tuple[str, int]] = Counter()
        self._recent_viewers: Counter[str] = Counter()
        self._popular_version = 0
        self._popular: PopularNow | None = None
        self._popular_at = 0.0

    # -- reads ------------------------------------------------------------------------------

    @property
    def now(self) -> int:
        """The latest step any event or the model's data mentions."""
        return self._now

    @property
    def events(self) -> int:
        """Sessions held (closed and open)."""
        return self._events

    @property
    def open_sessions(self) -> int:
        return self._open

    @property
    def viewers(self) -> int:
        return len(self._viewers)

    def viewer(self, user_id: int) -> ViewerEvents | None:
        """The viewer's sessions summed per streamer, or None when the overlay has none."""
        viewer = self._viewers.get(user_id)
        if viewer is None:
            return None
        summary = viewer.summary
        if summary is not None and (not viewer.opened or summary.now == self._now):
            return summary
        with self._lock:
            viewer = self._viewers.get(user_id)
            if viewer is None:
                return None
            viewer.summary = summary = self._summarise(viewer)
            return summary

    def popular_now(self) -> PopularNow | None:
        """Distinct recent viewers per streamer, or None when no session started recently.

        Recomputed at most every ``popular_refresh_seconds`` while events arrive: each
        recomputation reorders the catalogue's popular list (milliseconds at Twitch scale).
        """
        popular = self._popular
        if popular is not None and (
            popular.version == self._popular_version
            or time.monotonic() - self._popular_at < self.popular_refresh_seconds
        ):
            return popular if len(popular.names) else None
        with self._lock:
            self._popular_at = time.monotonic()
            counts = sorted(self._recent_viewers.items(), key=lambda kv: (-kv[1], kv[0]))
            names = tuple(name for name, _ in counts)
            viewers = np.fromiter((n for _, n in counts), dtype=np.float32, count=len(counts))
            self._popular = popular = PopularNow(names, viewers, self._popular_version)
        return popular if names else None

    def held(self, batch: EventBatch) -> np.ndarray:
        """Mask of the batch's rows the overlay already holds (exact repeats, or an open row
        of a session already held): what a retried batch must not log again."""
        out = np.zeros(batch.accepted, dtype=bool)
        viewers = self._viewers
        for j, (user, session, stop) in enumerate(_rows(batch)):
            viewer = viewers.get(user)
            if viewer is None:
                continue
            if stop == OPEN:
                out[j] = session in viewer.closed or session in viewer.opened
            else:
                out[j] = viewer.has_stop(session, stop)
        return out

    # -- writes -----------------------------------------------------------------------------

    def set_now(self, step: int) -> None:
        """Move ``now`` forward to ``step`` (e.g. the step a newly loaded model's data ends at)."""
        with self._lock:
            self._advance(step)

    def add(self, batch: EventBatch, segment: int) -> AddResult:
        """Add a batch's accepted rows, logged in the event log's segment ``segment``."""
        added = duplicates = closed = 0
        with self._lock:
            if len(batch.time_start):
                stops = batch.time_stop[batch.time_stop != OPEN]
                self._advance(int(max(batch.time_start.max(), stops.max() if len(stops) else 0)))
            for user, session, stop in _rows(batch):
                viewer = self._viewers.get(user)
                if viewer is None:
                    viewer = self._viewers[user] = _Viewer()
                else:
                    self._viewers.move_to_end(user)
                name, start = session[1], session[2]
                if stop == OPEN:
                    if session in viewer.closed or session in viewer.opened:
                        duplicates += 1
                        continue
                    viewer.opened[session] = segment
                    self._open += 1
                    self._pair_seen(name, user)
                else:
                    if viewer.has_stop(session, stop):
                        duplicates += 1
                        continue
                    viewer.add_stop(session, stop, segment)
                    if viewer.opened.pop(session, None) is not None:
                        self._open -= 1
                        self._pair_gone(name, user)
                        self._events -= 1
                        closed += 1
                self._events += 1
                added += 1
                self._versions += 1
                viewer.version = self._versions
                viewer.summary = None
                self._remember_start(name, user, start)
            evicted = self._evict() if self._events > self.max_events else 0
        return AddResult(added, duplicates, closed, evicted)

    def drop_consumed(self, segments: Iterable[int]) -> int:
        """Forget the closed sessions logged in ``segments`` (a new model was trained on them);
        return how many were dropped. Open sessions stay."""
        consumed = set(segments)
        if not consumed:
            return 0
        dropped = 0
        with self._lock:
            for user in list(self._viewers):
                viewer = self._viewers[user]
                before = viewer.size()
                for session, value in list(viewer.closed.items()):
                    stops = {s: seg for s, seg in _stops(value).items() if seg not in consumed}
                    if not stops:
                        del viewer.closed[session]
                    elif len(stops) < len(_stops(value)):
                        viewer.closed[session] = stops
                gone = before - viewer.size()
                if gone:
                    dropped += gone
                    self._versions += 1
                    viewer.version = self._versions
                    viewer.summary = None
                if not viewer.closed and not viewer.opened:
                    del self._viewers[user]
            self._events -= dropped
        return dropped

    # -- under the lock ---------------------------------------------------------------------

    def _advance(self, step: int) -> None:
        if step <= self._now:
            return
        self._now = step
        cutoff = step - self.popular_steps
        changed = False
        while self._recent and self._recent[0][0] <= cutoff:
            _, name, user = self._recent.popleft()
            self._pair_gone(name, user)
            changed = True
        if changed:
            self._popular_version += 1

    def _remember_start(self, name: str, user: int, start: int) -> None:
        if start <= max(self._now, start) - self.popular_steps:
            return  # too old to be popular now
        self._recent.append((start, name, user))
        self._pair_seen(name, user)

    def _pair_seen(self, name: str, user: int) -> None:
        """One more reason (a recent start, an open session) for ``user`` to count for
        ``name`` in "popular now"."""
        pair = (name, user)
        if not self._recent_pairs[pair]:
            self._recent_viewers[name] += 1
            self._popular_version += 1
        self._recent_pairs[pair] += 1

    def _pair_gone(self, name: str, user: int) -> None:
        pair = (name, user)
        self._recent_pairs[pair] -= 1
        if self._recent_pairs[pair] <= 0:
            del self._recent_pairs[pair]
            self._recent_viewers[name] -= 1
            self._popular_version += 1
            if self._recent_viewers[name] <= 0:
                del self._recent_viewers[name]

    def _evict(self) -> int:
        """Evict the viewers seen least recently, down to nine tenths of the bound."""
        target, evicted = int(self.max_events * 0.9), 0
        while self._events > target and self._viewers:
            user, viewer = self._viewers.popitem(last=False)
            for _, name, _ in viewer.opened:
                self._pair_gone(name, user)
            size = viewer.size()
            self._events -= size
            self._open -= len(viewer.opened)
            evicted += 1
        self.evicted_viewers += evicted
        return evicted

    def _summarise(self, viewer: _Viewer) -> ViewerEvents:
        now, longest = self._now, self.open_max_steps
        totals: dict[str, list[float]] = {}
        for (_, name, start), value in viewer.closed.items():
            for stop in _stops(value):
                entry = totals.setdefault(name, [0.0, 0.0, -np.inf])
                entry[0] += max(stop - start, 1)
                entry[1] += 1
                entry[2] = max(entry[2], stop)
        for _, name, start in viewer.opened:
            end = min(max(now, start), start + longest)
            entry = totals.setdefault(name, [0.0, 0.0, -np.inf])
            entry[0] += max(end - start, 1)
            entry[1] += 1
            entry[2] = max(entry[2], end)
        names = tuple(sorted(totals))
        values = np.array([totals[name] for name in names], dtype=np.float32).reshape(-1, 3)
        return ViewerEvents(
            names,
            values[:, 0].copy(),
            values[:, 1].copy(),
            np.minimum(values[:, 2], now).astype(np.float32),
            now,
            (viewer.version, now if viewer.opened else -1),
        )

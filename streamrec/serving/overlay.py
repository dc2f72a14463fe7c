"""What viewers watched since the served model was trained: the watch-event overlay.

Every accepted event (:mod:`streamrec.data.events`) lands here once it is in the event log, and
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
skips them) until they are closed. After a restart the server adds back the sessions still open
in the segments its model was trained on, which the artifact records, under their own segments,
before it replays the rest (:meth:`streamrec.serving.watch_events.WatchEvents.start`).

**Memory.** At most ``max_events`` sessions are held (about 250 bytes each, see the README).
When an add would pass it, the viewers seen least recently are evicted whole, down to nine
tenths of the bound: their lists fall back to the model's view of them, and their events stay
in the log for the next training. Evictions are counted.

Reads take no lock while a viewer's summary is fresh; a write (add, drop, evict) and the
recomputation of a stale summary take the one lock.

A viewer's sessions are held and summed in :mod:`streamrec.serving.viewer_sessions`; the counts
behind "popular now" are kept in :mod:`streamrec.serving.popular_now`. This module is the store
of viewers: adding, closing and forgetting sessions, the memory bound, and what a request reads.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from streamrec.data.events import OPEN, EventBatch
from streamrec.serving.popular_now import PopularNow, RecentViewers
from streamrec.serving.viewer_sessions import ViewerEvents, ViewerSessions, rows, stops


@dataclass(frozen=True)
class AddResult:
    """What an add did: new sessions, exact repeats of held ones, open sessions it closed."""

    added: int
    duplicates: int
    closed: int
    evicted_viewers: int = 0


class EventSource(Protocol):
    """What a model reads of the events since its training (an :class:`Overlay`, or a live
    state that holds one)."""

    def viewer(self, user_id: int) -> ViewerEvents | None: ...

    def popular_now(self) -> PopularNow | None: ...


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
        an open session on it (for at most ``open_max_steps`` from its start), or started one
        within the latest ``popular_steps`` steps.
    now : int
        The step the model's data ends at; ``now`` only moves forward from it.
    popular_refresh_seconds : float
        "Popular now" is recomputed at most this often while events arrive (each
        recomputation reorders the catalogue's popular list: milliseconds at Twitch scale).

    Examples
    --------
    >>> from streamrec.data import events
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
        # Least recently seen first.
        self._viewers: OrderedDict[int, ViewerSessions] = OrderedDict()
        self._events = 0
        self._open = 0
        self._versions = 0  # one counter for all viewers: a version is never reused
        self.evicted_viewers = 0
        self._recent = RecentViewers(popular_steps, open_max_steps)  # "popular now"'s counts
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
            viewer.summary = summary = viewer.summarise(self._now, self.open_max_steps)
            return summary

    def popular_now(self) -> PopularNow | None:
        """Distinct recent viewers per streamer, or None when no session started recently.

        Recomputed at most every ``popular_refresh_seconds`` while events arrive: each
        recomputation reorders the catalogue's popular list (milliseconds at Twitch scale).
        """
        popular = self._popular
        if popular is not None and (
            popular.version == self._recent.version
            or time.monotonic() - self._popular_at < self.popular_refresh_seconds
        ):
            return popular if len(popular.names) else None
        with self._lock:
            self._popular_at = time.monotonic()
            self._popular = popular = self._recent.snapshot()
        return popular if len(popular.names) else None

    def held(self, batch: EventBatch) -> np.ndarray:
        """Mask of the batch's rows the overlay already holds (exact repeats, or an open row
        of a session already held): what a retried batch must not log again."""
        out = np.zeros(batch.accepted, dtype=bool)
        viewers = self._viewers
        for j, (user, session, stop) in enumerate(rows(batch)):
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
            for user, session, stop in rows(batch):
                viewer = self._viewers.get(user)
                if viewer is None:
                    viewer = self._viewers[user] = ViewerSessions()
                else:
                    self._viewers.move_to_end(user)
                name, start = session[1], session[2]
                if stop == OPEN:
                    if session in viewer.closed or session in viewer.opened:
                        duplicates += 1
                        continue
                    viewer.opened[session] = segment
                    self._open += 1
                    self._recent.opened(name, user, session, start, self._now)
                else:
                    if viewer.has_stop(session, stop):
                        duplicates += 1
                        continue
                    viewer.add_stop(session, stop, segment)
                    if viewer.opened.pop(session, None) is not None:
                        self._open -= 1
                        self._recent.closed(name, user, session)
                        self._events -= 1
                        closed += 1
                self._events += 1
                added += 1
                self._versions += 1
                viewer.version = self._versions
                viewer.summary = None
                self._recent.started(name, user, start, self._now)
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
                    kept = {s: seg for s, seg in stops(value).items() if seg not in consumed}
                    if not kept:
                        del viewer.closed[session]
                    elif len(kept) < len(stops(value)):
                        viewer.closed[session] = kept
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
        self._recent.advance(step)

    def _evict(self) -> int:
        """Evict the viewers seen least recently, down to nine tenths of the bound."""
        target, evicted = int(self.max_events * 0.9), 0
        while self._events > target and self._viewers:
            user, viewer = self._viewers.popitem(last=False)
            for session in viewer.opened:
                self._recent.closed(session[1], user, session)
            size = viewer.size()
            self._events -= size
            self._open -= len(viewer.opened)
            evicted += 1
        self.evicted_viewers += evicted
        return evicted

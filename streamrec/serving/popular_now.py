""" "Popular now": distinct viewers per streamer over the latest steps, from the overlay's events.

A viewer counts for a streamer while they have an open session on it (for at most
``open_steps`` steps from its start, as long as an open session's watch time counts: a session
never closed, e.g. by a client that crashed, is not watched forever), or started one within the
latest ``steps`` steps. :class:`RecentViewers` keeps those counts as events arrive; the
overlay (:class:`streamrec.serving.overlay.Overlay`) calls it under its lock and publishes a
:class:`PopularNow` from it, which orders the popular list
(:mod:`streamrec.serving.popular_lists`).
"""

from __future__ import annotations

import heapq
from collections import Counter, deque
from collections.abc import Hashable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PopularNow:
    """Distinct viewers per streamer over the latest steps, most first (ties by name)."""

    names: tuple[str, ...]
    viewers: np.ndarray
    version: int


class RecentViewers:
    """Distinct viewers per streamer among recent session starts and open sessions.

    Not thread-safe: its owner (the overlay) calls it under one lock. ``version`` changes
    whenever a streamer's count does.

    Parameters
    ----------
    steps : int
        The window, in steps: a start counts while it is within the latest ``steps`` steps.
    open_steps : int, optional
        An open session counts while ``now`` is less than this many steps past its start
        (None: until it is closed).
    """

    def __init__(self, steps: int, open_steps: int | None = None) -> None:
        self.steps = steps
        self.open_steps = open_steps
        self.version = 0
        # Recent session starts, and distinct viewers per streamer among them.
        self._recent: deque[tuple[int, str, int]] = deque()
        self._recent_pairs: Counter[tuple[str, int]] = Counter()
        self._recent_viewers: Counter[str] = Counter()
        # The open sessions that count, by (user, session), and when each stops counting
        # (a heap; an entry of a session closed since is skipped when it comes up).
        self._open: set[tuple[int, Hashable]] = set()
        self._open_ends: list[tuple[int, int, Hashable, str]] = []

    def advance(self, now: int) -> None:
        """``now`` moved forward: forget the starts that are no longer recent, and the open
        sessions open for longer than ``open_steps``."""
        cutoff = now - self.steps
        changed = False
        while self._recent and self._recent[0][0] <= cutoff:
            _, name, user = self._recent.popleft()
            self.gone(name, user)
            changed = True
        while self._open_ends and self._open_ends[0][0] <= now:
            _, user, session, name = heapq.heappop(self._open_ends)
            if (user, session) in self._open:
                self._open.discard((user, session))
                self.gone(name, user)
                changed = True
        if changed:
            self.version += 1

    def opened(self, name: str, user: int, session: Hashable, start: int, now: int) -> None:
        """``user`` has the open session ``session`` on ``name``, started at step ``start``."""
        if self.open_steps is not None:
            ends = start + self.open_steps
            if ends <= now:
                return  # open for longer than an open session counts
            heapq.heappush(self._open_ends, (ends, user, session, name))
        self._open.add((user, session))
        self.seen(name, user)

    def closed(self, name: str, user: int, session: Hashable) -> None:
        """``user``'s open session ``session`` on ``name`` was closed (or evicted)."""
        if (user, session) in self._open:
            self._open.discard((user, session))
            self.gone(name, user)

    def started(self, name: str, user: int, start: int, now: int) -> None:
        """``user`` started a session on ``name`` at step ``start`` (``now`` the latest step)."""
        if start <= max(now, start) - self.steps:
            return  # too old to be popular now
        self._recent.append((start, name, user))
        self.seen(name, user)

    def seen(self, name: str, user: int) -> None:
        """One more reason (a recent start, an open session) for ``user`` to count for
        ``name`` in "popular now"."""
        pair = (name, user)
        if not self._recent_pairs[pair]:
            self._recent_viewers[name] += 1
            self.version += 1
        self._recent_pairs[pair] += 1

    def gone(self, name: str, user: int) -> None:
        """One reason fewer (an open session closed or evicted, a start no longer recent)."""
        pair = (name, user)
        self._recent_pairs[pair] -= 1
        if self._recent_pairs[pair] <= 0:
            del self._recent_pairs[pair]
            self._recent_viewers[name] -= 1
            self.version += 1
            if self._recent_viewers[name] <= 0:
                del self._recent_viewers[name]

    def snapshot(self) -> PopularNow:
        """The counts as of now, most viewers first (ties by name)."""
        counts = sorted(self._recent_viewers.items(), key=lambda kv: (-kv[1], kv[0]))
        names = tuple(name for name, _ in counts)
        viewers = np.fromiter((n for _, n in counts), dtype=np.float32, count=len(counts))
        return PopularNow(names, viewers, self.version)

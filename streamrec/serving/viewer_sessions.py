"""One viewer's sessions in the overlay: how they are held, and their sum per streamer.

The overlay (:class:`streamrec.serving.overlay.Overlay`) holds a :class:`ViewerSessions` per
viewer. Closed sessions keep their ``time_stop`` and the event log segment they were logged in
packed into one int (a sixth of a dict's memory), open sessions their segment; the summary a
request reads (:class:`ViewerEvents`) sums them per streamer, counting sessions as training
does (see :mod:`streamrec.serving.overlay`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from streamrec.data.events import EventBatch

# Key of a session within a viewer: (stream key, streamer name, start).
SessionKey = tuple[int, str, int]

_SEGMENT_BITS = 32


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


def rows(batch: EventBatch) -> Iterator[tuple[int, SessionKey, int]]:
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


def stops(value: int | dict[int, int]) -> dict[int, int]:
    """A closed session's ``{time_stop: log segment}`` from its stored value."""
    if isinstance(value, int):
        return {value >> _SEGMENT_BITS: value & ((1 << _SEGMENT_BITS) - 1)}
    return value


@dataclass
class ViewerSessions:
    """One viewer's closed and open sessions, their version and their cached summary."""

    closed: dict[SessionKey, int | dict[int, int]] = field(default_factory=dict)
    """Closed sessions: key -> ``time_stop << 32 | log segment``, or, for the rare key with
    several stops, ``{time_stop: log segment}`` (one int is a sixth of a dict's memory)."""
    opened: dict[SessionKey, int] = field(default_factory=dict)
    """Open sessions: key -> log segment."""
    version: int = 0
    summary: ViewerEvents | None = None

    def size(self) -> int:
        several = sum(len(v) - 1 for v in self.closed.values() if isinstance(v, dict))
        return len(self.closed) + several + len(self.opened)

    def has_stop(self, session: SessionKey, stop: int) -> bool:
        value = self.closed.get(session)
        return value is not None and stop in stops(value)

    def add_stop(self, session: SessionKey, stop: int, segment: int) -> None:
        value = self.closed.get(session)
        if value is None:
            self.closed[session] = stop << _SEGMENT_BITS | segment
        else:
            self.closed[session] = {**stops(value), stop: segment}

    def summarise(self, now: int, longest: int) -> ViewerEvents:
        """The sessions summed per streamer as of step ``now``; an open session counts at
        most ``longest`` steps."""
        totals: dict[str, list[float]] = {}
        for (_, name, start), value in self.closed.items():
            for stop in stops(value):
                entry = totals.setdefault(name, [0.0, 0.0, -np.inf])
                entry[0] += max(stop - start, 1)
                entry[1] += 1
                entry[2] = max(entry[2], stop)
        for _, name, start in self.opened:
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
            (self.version, now if self.opened else -1),
        )

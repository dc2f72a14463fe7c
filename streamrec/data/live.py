"""Who is live when: a step x streamer index built from watch sessions.

On a live-streaming platform only the streamers live right now can be watched, so a fair
next-session evaluation (Rappaz, McAuley, Aberer, "Recommendation on Live-Streaming Platforms",
RecSys 2021) ranks only those. Without stream schedules, a streamer counts as live at step
``t`` when some session of theirs has ``time_start <= t < time_stop``; a zero-length session
(``time_start == time_stop``, a user seen once) makes its streamer live at ``t == time_start``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp


class LiveIndex:
    """Streamers live at each session start, as a starts x streamers CSR matrix.

    Sessions of a streamer are merged into disjoint live intervals first. Row ``j`` holds the
    streamers live at ``steps[j]``, the ``j``-th distinct session start, and each entry's value
    is the step its live interval ends (exclusive). So the index grows with the number of
    distinct starts and live streamers, never with the time unit, and a step between two
    starts is answered from the last start before it: nobody started watching in between, so
    its live streamers are those of that start whose interval has not ended yet.

    Parameters
    ----------
    steps_items : scipy.sparse.csr_matrix
        Row ``j`` holds the (sorted) streamer indices live at ``steps[j]``, valued by the end
        of their live interval; boolean when ``steps`` is None.
    steps : numpy.ndarray, optional
        Increasing steps of the rows; None means row ``t`` is step ``t`` (every step indexed).

    Examples
    --------
    >>> import pandas as pd
    >>> s = pd.DataFrame({"streamer_name": pd.Categorical(["a", "b", "a"]),
    ...                   "time_start": [0, 2, 3], "time_stop": [2, 2, 5]})
    >>> live = LiveIndex.from_sessions(s)
    >>> [live.live(t).tolist() for t in range(5)]
    [[0], [0], [1], [0], [0]]
    """

    def __init__(self, steps_items: sp.csr_matrix, steps: np.ndarray | None = None) -> None:
        self.steps_items = steps_items
        self.steps = steps
        if steps is None:
            self._end = steps_items.shape[0]
        elif steps_items.nnz:
            self._end = int(steps_items.data.max())
        else:
            self._end = 0

    @property
    def n_steps(self) -> int:
        """Steps ``0 .. n_steps - 1`` may have live streamers (the last interval's end)."""
        return self._end

    @property
    def n_items(self) -> int:
        return self.steps_items.shape[1]

    @classmethod
    def from_sessions(cls, sessions: pd.DataFrame) -> LiveIndex:
        """Build the index from sessions (all of them: a streamer is live whoever watches).

        Parameters
        ----------
        sessions : pandas.DataFrame
            ``streamer_name`` (categorical; its categories are the columns), ``time_start`` and
            ``time_stop`` (non-negative steps).
        """
        items = sessions["streamer_name"].cat.codes.to_numpy().astype(np.int64)
        n_items = len(sessions["streamer_name"].cat.categories)
        start = sessions["time_start"].to_numpy(dtype=np.int64)
        # A zero-length session is one step of presence, the same rule as data.watch_steps.
        stop = np.maximum(sessions["time_stop"].to_numpy(dtype=np.int64), start + 1)
        if len(start) and start.min() < 0:
            raise ValueError(f"time_start must be >= 0, got {start.min()}")
        n_steps = int(stop.max()) if len(stop) else 0
        steps = np.unique(start)
        start, stop, items = _merge_intervals(items, start, stop, n_steps)
        # The rows an interval covers: the distinct starts inside it (its own start first).
        first = np.searchsorted(steps, start, side="left")
        lengths = np.searchsorted(steps, stop, side="left") - first
        rows = np.repeat(first, lengths) + _ramp(lengths)
        matrix = sp.csr_matrix(
            (np.repeat(stop, lengths), (rows, np.repeat(items, lengths))),
            shape=(len(steps), n_items),
        )
        matrix.sort_indices()
        return cls(matrix, steps)

    def live(self, step: int) -> np.ndarray:
        """Sorted streamer indices live at ``step`` (empty outside the indexed steps)."""
        indices, indptr = self.steps_items.indices, self.steps_items.indptr
        if self.steps is None:
            if not 0 <= step < self.n_steps:
                return np.empty(0, dtype=indices.dtype)
            return indices[indptr[step] : indptr[step + 1]]
        row = int(np.searchsorted(self.steps, step, side="right")) - 1
        if row < 0:
            return np.empty(0, dtype=indices.dtype)
        items = indices[indptr[row] : indptr[row + 1]]
        if self.steps[row] == step:
            return items
        return items[self.steps_items.data[indptr[row] : indptr[row + 1]] > step]

    def count(self, steps: np.ndarray) -> np.ndarray:
        """How many streamers are live at each of ``steps`` (0 outside the indexed steps)."""
        steps = np.asarray(steps, dtype=np.int64)
        indptr = self.steps_items.indptr
        if self.steps is None:
            inside = (steps >= 0) & (steps < self.n_steps)
            counts = np.zeros(len(steps), dtype=np.int64)
            counts[inside] = indptr[steps[inside] + 1] - indptr[steps[inside]]
            return counts
        rows = np.searchsorted(self.steps, steps, side="right") - 1
        exact = (rows >= 0) & (self.steps[np.maximum(rows, 0)] == steps)
        counts = np.where(exact, indptr[rows + 1] - indptr[np.maximum(rows, 0)], 0)
        for j in np.flatnonzero(~exact & (rows >= 0)).tolist():
            counts[j] = len(self.live(int(steps[j])))
        return counts.astype(np.int64)


def _merge_intervals(
    items: np.ndarray, start: np.ndarray, stop: np.ndarray, n_steps: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Union of the half-open intervals ``[start, stop)`` per item, as disjoint intervals."""
    if len(items) == 0:
        return start, stop, items
    order = np.lexsort((start, items))
    items, start, stop = items[order], start[order], stop[order]
    # Offsetting by item makes one running maximum serve every item: an item's offset exceeds
    # every stop of the items before it, so earlier items never leak into later ones.
    offset = items * (n_steps + 1)
    reach = np.maximum.accumulate(stop + offset) - offset
    begins = np.ones(len(items), dtype=bool)
    begins[1:] = (items[1:] != items[:-1]) | (start[1:] > reach[:-1])
    first = np.flatnonzero(begins)
    last = np.append(first[1:], len(items)) - 1
    return start[first], reach[last], items[first]


def _ramp(lengths: np.ndarray) -> np.ndarray:
    """``concatenate([arange(n) for n in lengths])`` without a Python loop."""
    total = int(lengths.sum())
    ends = np.cumsum(lengths)
    return np.arange(total, dtype=np.int64) - np.repeat(ends - lengths, lengths)

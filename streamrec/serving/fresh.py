"""A viewer's whole history, the model's row and their events since training, with factors.

The served model knows each viewer as of its training data; the overlay
(:mod:`streamrec.serving.overlay`) holds what they watched since. :class:`FreshViewers` merges
the two per viewer (watch steps and sessions summed per streamer, the later last step) and
re-solves the viewer's factors from the merged history with the item factors fixed: implicit's
``recalculate_user`` (:class:`streamrec.ranking.foldin.FoldIn`). A viewer the model has never
seen is folded in from their events alone.

Re-solving is lazy and batched by construction: events only mark a viewer's summary stale (a
new ``ViewerEvents.version``), and the next request for that viewer solves once, whatever the
number of events in between; the result is cached per model until the viewer's version moves.
A viewer's first re-solve is exact; each later one takes ``CG_STEPS`` conjugate-gradient steps
from their previous factors (:meth:`streamrec.ranking.foldin.FoldIn.refine`, as implicit's training
sweeps do), which a few new events move only a little.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from streamrec.ranking.features import ViewerHistory, ViewerRow, merge_rows, viewer_row
from streamrec.ranking.foldin import FoldIn
from streamrec.serving.viewer_sessions import ViewerEvents

CACHE_VIEWERS = 100_000
"""Fresh histories cached per model (a few hundred bytes to a few KB each)."""
CG_STEPS = 3


@dataclass(frozen=True)
class FreshViewer:
    """A viewer's merged history (:class:`~streamrec.ranking.features.ViewerRow`) and factors."""

    history: ViewerRow
    factors: np.ndarray
    now: int


class FreshViewers:
    """Merged histories and re-solved factors of the viewers with events, for one model.

    Parameters
    ----------
    index : dict of str to int
        The model's streamer name index.
    watched : scipy.sparse.csr_matrix
        The model's users x streamers watch steps (sorted indices).
    history : ViewerHistory, optional
        The live ranker's history (sessions and last steps); without it every trained pair
        counts as one session, last watched at the model's ``now``.
    fold_in : FoldIn
        Solves factors from a history.
    now : int
        The step the model's data ends at.
    """

    def __init__(
        self,
        index: dict[str, int],
        watched: sp.csr_matrix,
        history: ViewerHistory | None,
        fold_in: FoldIn,
        now: int,
    ) -> None:
        self._index = index
        self._watched = watched
        self._history = history
        self._fold_in = fold_in
        self.now = now
        # Per viewer, the latest: its version and what it gave.
        self._cache: OrderedDict[int, tuple[tuple[int, int], FreshViewer | None]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, user_id: int, row: int | None, events: ViewerEvents) -> FreshViewer | None:
        """The viewer's merged history and factors; None when no streamer of their events is
        in the model and the model does not know them either."""
        cached = self._cache.get(user_id)
        if cached is not None and cached[0] == events.version:
            return cached[1]
        fresh = self._merge(row, events, cached[1] if cached is not None else None)
        with self._lock:
            self._cache[user_id] = (events.version, fresh)
            self._cache.move_to_end(user_id)
            while len(self._cache) > CACHE_VIEWERS:
                self._cache.popitem(last=False)
        return fresh

    def _model_row(self, row: int | None) -> ViewerRow | None:
        if row is None:
            return None
        if self._history is not None:
            return viewer_row(self._history, row)
        start, stop = self._watched.indptr[row], self._watched.indptr[row + 1]
        n = stop - start
        return ViewerRow(
            self._watched.indices[start:stop],
            self._watched.data[start:stop].astype(np.float32),
            np.ones(n, dtype=np.float32),
            np.full(n, self.now, dtype=np.float32),
        )

    def _merge(
        self, row: int | None, events: ViewerEvents, previous: FreshViewer | None
    ) -> FreshViewer | None:
        get = self._index.get
        items = np.fromiter((get(n, -1) for n in events.names), np.int64, len(events.names))
        known = items >= 0
        if not known.any():  # nothing the model knows: its view of the viewer stands
            return None
        recent = ViewerRow(
            items[known], events.steps[known], events.sessions[known], events.last_step[known]
        )
        history = merge_rows(recent, self._model_row(row))
        if previous is None:
            factors = self._fold_in.user_factors(history.items, history.watch)
        else:
            start = previous.factors
            factors = self._fold_in.refine(history.items, history.watch, start, CG_STEPS)
        return FreshViewer(history, factors, max(events.now, self.now))

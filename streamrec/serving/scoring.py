"""A viewer's factors scored against the streamers a request allows: the catalogue scans.

What a request does when no precomputed list (:mod:`streamrec.serving.lists`) answers it:
score one viewer against the catalogue or the available streamers, order them with the live
ranker (:mod:`streamrec.ranking.ranker`) when watched streamers are kept, or score many known
viewers in one vectorised call (:func:`streamrec.ranking.topn.top_n`). Each returns item indices,
best first; the recommender tops them up and names them. Pure numpy; no HTTP.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from streamrec.ranking import topn
from streamrec.ranking.blend import bonus
from streamrec.ranking.features import ViewerRow
from streamrec.ranking.ranker import LiveRanker
from streamrec.serving.filters import NONE, Filters, allowed, isin_sorted, locate

Boost = tuple[np.ndarray, np.ndarray]
"""Sorted item indices and the score bonus each gets (the user's own streamers)."""


def row_boost(watched: sp.csr_matrix, row: int, weight: float) -> Boost | None:
    """The watched streamers of the user at ``row`` and their blend bonus; None when there is
    none (``weight`` 0)."""
    if not weight:
        return None
    start, stop = watched.indptr[row], watched.indptr[row + 1]
    return watched.indices[start:stop], bonus(watched.data[start:stop], weight)


class Scorer:
    """Catalogue scans for one model.

    Parameters
    ----------
    user_factors, item_factors : numpy.ndarray
        The model's factors.
    watched : scipy.sparse.csr_matrix
        Its users x streamers watch steps, sorted indices.
    live_ranker : LiveRanker, optional
        Orders lists that keep watched streamers (:meth:`rank_live`).
    """

    def __init__(
        self,
        user_factors: np.ndarray,
        item_factors: np.ndarray,
        watched: sp.csr_matrix,
        live_ranker: LiveRanker | None,
    ) -> None:
        self._user_factors = user_factors
        self._item_factors = item_factors
        self._watched = watched
        self._live_ranker = live_ranker
        self._n_items = len(item_factors)

    def rank(
        self,
        user: np.ndarray,
        k: int,
        filters: Filters,
        watched: np.ndarray,
        boost: Boost | None,
    ) -> np.ndarray:
        """Score ``user`` against the allowed items: the available ones, or the catalogue."""
        if filters.available is not None:
            return self._rank_available(user, filters, watched, k, boost)
        return self._rank_all(user, k, np.union1d(watched, filters.exclude), boost)

    def rank_live(
        self,
        row: int | ViewerRow,
        k: int,
        filters: Filters,
        user: np.ndarray | None = None,
        now: int | None = None,
    ) -> np.ndarray:
        """The live ranker's list for a known user (or a merged history with its factors
        ``user``), watched streamers kept."""
        assert self._live_ranker is not None
        if user is None:
            assert isinstance(row, int)
            user = self._user_factors[row]
        if filters.available is not None:
            items = allowed(filters, NONE)
            factors = filters.available_factors
            if factors is None or len(items) != len(filters.available):
                factors = self._item_factors[items]
        else:
            items = np.arange(self._n_items, dtype=np.int32)
            if len(filters.exclude):
                items = items[~isin_sorted(items, filters.exclude)]
            factors = self._item_factors if len(items) == self._n_items else None
            if factors is None:
                factors = self._item_factors[items]
        return self._live_ranker.rank(row, items, factors @ user, k, now)

    def rank_rows(
        self, rows: np.ndarray, k: int, exclude_watched: bool, filters: Filters, weight: float
    ) -> list[np.ndarray]:
        """Top ``k`` of several users in one vectorised call, honouring the filters."""
        users = self._user_factors[rows]
        watched = self._watched[rows]
        items, candidates = self._item_factors, None
        if filters.available is not None:
            candidates = allowed(filters, NONE)
            if len(candidates) == 0:
                return [NONE] * len(rows)
            watched = sp.csr_matrix(watched[:, candidates])
            items = items[candidates]
        boost = None
        if weight:
            boost = sp.csr_matrix(
                (bonus(watched.data, weight), watched.indices, watched.indptr), watched.shape
            )
        exclude = watched if exclude_watched else None
        banned = filters.exclude if candidates is None else None
        top = topn.top_n(users, items, k, exclude, banned, boost)
        if candidates is None:
            return [t[t >= 0] for t in top]
        return [candidates[t[t >= 0]] for t in top]

    def _rank_all(
        self, user: np.ndarray, k: int, skip: np.ndarray, boost: Boost | None = None
    ) -> np.ndarray:
        scores = self._item_factors @ user
        if boost is not None:
            scores[boost[0]] += boost[1]
        scores[skip] = -np.inf
        return topn.top_k(scores, k)

    def _rank_available(
        self,
        user: np.ndarray,
        filters: Filters,
        watched: np.ndarray,
        k: int,
        boost: Boost | None = None,
    ) -> np.ndarray:
        """Rank only the available items (neither excluded nor, if given, watched)."""
        available = filters.available
        if available is None or len(available) == 0:
            return NONE
        factors = filters.available_factors
        if factors is None:
            factors = self._item_factors[available]
        scores = factors @ user
        if boost is not None:
            position, found = locate(available, boost[0])
            scores[position[found]] += boost[1][found]
        for skip in (filters.exclude, watched):
            if len(skip):
                position, found = locate(available, skip)
                scores[position[found]] = -np.inf
        return topn.top_k(scores, k, available)

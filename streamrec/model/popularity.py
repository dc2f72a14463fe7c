"""The cold-start ranker: streamers ordered by how many distinct users watch them.

Used for users the model has never seen, and to top up a personal list that filters left
shorter than asked.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


class NotFittedError(RuntimeError):
    """A ranker or model was used before `fit`."""


class PopularityRanker:
    """Rank streamers by distinct viewers, ties broken by total watch time.

    Distinct viewers, not watch time, come first: on live platforms a handful of 24/7 channels
    collect enormous watch time from few viewers, which says little about what a newcomer likes.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> m = sp.csr_matrix([[5.0, 0, 1], [0, 0, 2], [1, 0, 0]])
    >>> PopularityRanker().fit(m).top(2).tolist()
    [0, 2]
    """

    def fit(self, user_items: sp.csr_matrix) -> PopularityRanker:
        """Count viewers and watch time per streamer (column) of a users x streamers matrix."""
        if not sp.issparse(user_items) or user_items.ndim != 2:
            raise ValueError(f"user_items must be a 2-D sparse matrix, got {type(user_items)}")
        by_item = sp.csc_matrix(user_items)
        by_item.eliminate_zeros()
        self.viewers_ = np.diff(by_item.indptr).astype(np.int64)
        self.watch_time_ = np.asarray(by_item.sum(axis=0), dtype=np.float64).ravel()
        # lexsort sorts by the last key first; the column index breaks remaining ties stably.
        self.order_ = np.lexsort((-self.watch_time_, -self.viewers_)).astype(np.int32)
        return self

    @classmethod
    def from_order(cls, order: np.ndarray) -> PopularityRanker:
        """Rebuild a fitted ranker from a stored ranking (most popular first)."""
        ranker = cls()
        ranker.order_ = np.asarray(order, dtype=np.int32)
        return ranker

    def ranks(self) -> np.ndarray:
        """Each streamer's popularity rank, 0 for the most popular (int32, one per item)."""
        order = self._check_fitted()
        rank = np.empty(len(order), dtype=np.int32)
        rank[order] = np.arange(len(order), dtype=np.int32)
        return rank

    def _check_fitted(self) -> np.ndarray:
        order = getattr(self, "order_", None)
        if order is None:
            raise NotFittedError("PopularityRanker is not fitted; call fit(user_items) first")
        return order

    def top(self, k: int, exclude: np.ndarray | None = None) -> np.ndarray:
        """The ``k`` most popular streamer indices, skipping those in ``exclude``.

        Only the first ``k + len(exclude)`` of the ranking are looked at: no item-sized array is
        allocated, so this is cheap per request.
        """
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        order = self._check_fitted()
        if exclude is None or len(exclude) == 0:
            return order[:k]
        head = order[: k + len(exclude)]
        return head[~np.isin(head, exclude)][:k]

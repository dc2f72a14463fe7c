"""The popular list: for viewers the model has not seen, and to top up short personal lists.

The model's popularity order is read once per artifact, with each item's rank in it. When the
watch-event overlay (:mod:`streamrec.serving.overlay`) has "popular now" (recent distinct
viewers per streamer), that orders the list first and the model's popularity breaks ties; the
reordered catalogue is kept until "popular now" changes. Pure numpy; no HTTP.
"""

from __future__ import annotations

import numpy as np

from streamrec.model.popularity import PopularityRanker
from streamrec.serving.filters import Filters, allowed
from streamrec.serving.overlay import Overlay
from streamrec.serving.popular_now import PopularNow


class PopularLists:
    """The ``k`` most popular streamers under a request's filters, for one model.

    Parameters
    ----------
    order : numpy.ndarray
        The model's item indices, most popular first (``Artifact.popular``).
    index : dict of str to int
        The model's streamer name index ("popular now" names its streamers).
    n_items : int
        Streamers in the model.
    """

    def __init__(self, order: np.ndarray, index: dict[str, int], n_items: int) -> None:
        self._index = index
        self._n_items = n_items
        self._popular = PopularityRanker.from_order(order)
        self._popularity_rank = self._popular.ranks()
        self._popular_now: tuple[PopularNow, PopularityRanker, np.ndarray] | None = None

    def top(
        self, k: int, filters: Filters, skip: np.ndarray, overlay: Overlay | None
    ) -> np.ndarray:
        """The ``k`` most popular allowed items that are not in ``skip``: by "popular now"
        (recent distinct viewers, from ``overlay``) first, then by the model's popularity."""
        popular, ranks = self._popularity(overlay)
        if filters.available is None:
            # top() needs neither sorted nor distinct items: no union1d on the cold-start GET.
            return popular.top(k, exclude=np.concatenate((skip, filters.exclude)))
        items = allowed(filters, np.unique(skip))
        return items[np.argsort(ranks[items], kind="stable")[:k]]

    def _popularity(self, overlay: Overlay | None) -> tuple[PopularityRanker, np.ndarray]:
        """The popularity order in force, and each item's rank in it."""
        now = overlay.popular_now() if overlay is not None else None
        if now is None:
            return self._popular, self._popularity_rank
        cached = self._popular_now
        if cached is not None and cached[0] is now:
            return cached[1], cached[2]
        recent = np.zeros(self._n_items, dtype=np.float32)
        get = self._index.get
        items = np.fromiter((get(n, -1) for n in now.names), np.int64, len(now.names))
        known = items >= 0
        recent[items[known]] = now.viewers[known]
        order = np.lexsort((self._popularity_rank, -recent)).astype(np.int32)
        popular = PopularityRanker.from_order(order)
        ranks = popular.ranks()
        self._popular_now = (now, popular, ranks)
        return popular, ranks

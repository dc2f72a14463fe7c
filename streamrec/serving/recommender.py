"""The served model's answers: rank, filter, top up with popularity, fold in, find similar.

Pure numpy; no HTTP. Everything that does not depend on the request is built once per artifact
(:class:`streamrec.serving.loaded.LoadedModel`, which :class:`Recommender` extends). A typical
request then reads a short precomputed list
(:meth:`~streamrec.serving.lists.PrecomputedLists.answer`) and filters it; it touches no
item-sized array. Requests the list cannot answer (filters that
leave fewer than ``k``, users outside the precomputed set, viewers with events since training)
score the whole catalogue (:mod:`streamrec.serving.scoring`); users the model has not seen get
the popular list (:mod:`streamrec.serving.popular_lists`), and every list shorter than ``k`` is
topped up from it.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from streamrec.ranking.blend import bonus, check_weight
from streamrec.serving.filters import NO_FILTERS, NONE, Filters, lookup
from streamrec.serving.fresh import FreshViewer
from streamrec.serving.loaded import LoadedModel
from streamrec.serving.scoring import row_boost

logger = logging.getLogger(__name__)

Source = Literal["als", "popular", "als+popular", "als-foldin", "als-foldin+popular"]
MAX_K = 1000


@dataclass(frozen=True)
class Recommendation:
    """A ranked list of streamer names, where it came from, and ignored unknown names."""

    items: list[str]
    source: Source
    unknown_streamers: int = 0


class Recommender(LoadedModel):
    """Top-K streamers from ALS factors, with popularity for users the model has not seen.

    Built as :class:`~streamrec.serving.loaded.LoadedModel` is (the same parameters); this
    class adds the requests' paths.

    Examples
    --------
    >>> from streamrec.model import artifact
    >>> rec = Recommender(artifact.load("models/model.npz"))  # doctest: +SKIP
    >>> rec.recommend(1, k=3).items  # doctest: +SKIP
    ['streamer_a', 'streamer_b', 'streamer_c']

    Serve at once and compute the lists in the background:

    >>> rec = Recommender(artifact.load("models/model.npz"), precompute_now=False)  # doctest: +SKIP
    >>> threading.Thread(target=rec.precompute).start()  # doctest: +SKIP
    >>> rec.precompute_state  # doctest: +SKIP
    'running'
    """

    # -- recommendations ----------------------------------------------------------------------

    def recommend(
        self,
        user_id: int,
        k: int,
        exclude_watched: bool = True,
        filters: Filters = NO_FILTERS,
        repeat_weight: float | None = None,
    ) -> Recommendation:
        """Rank streamers for ``user_id``.

        Parameters
        ----------
        user_id : int
            External user id. Unknown users get the popularity ranking (``source="popular"``).
        k : int
            List length, 1 to ``MAX_K``. The list is shorter only when fewer streamers remain.
        exclude_watched : bool
            Leave out streamers the user watched in training.
        filters : Filters
            Available and excluded streamers (see :meth:`filters`); they apply to the popular
            list and the top-up as well.
        repeat_weight : float, optional
            Blend weight when watched streamers are kept (see the class). None means: the
            live ranker when the model has one, else the instance's ``repeat_weight``.

        Returns
        -------
        Recommendation
            ``source`` is ``"als"``, ``"popular"``, or ``"als+popular"`` when the personal list
            was topped up with popular streamers.
        """
        weight = self._weight(repeat_weight, exclude_watched)
        result = self._recommend(user_id, k, exclude_watched, filters, weight, scan=True)
        assert result is not None  # scan=True always answers
        return result

    def recommend_cached(
        self,
        user_id: int,
        k: int,
        exclude_watched: bool = True,
        filters: Filters = NO_FILTERS,
        repeat_weight: float | None = None,
    ) -> Recommendation | None:
        """:meth:`recommend` when it can be answered without scoring the whole catalogue.

        Returns None when it cannot (the caller then runs :meth:`recommend`, e.g. in a worker
        thread): cheap answers can run on an event loop, catalogue scans should not.
        """
        weight = self._weight(repeat_weight, exclude_watched)
        return self._recommend(user_id, k, exclude_watched, filters, weight, scan=False)

    def recommend_batch(
        self,
        user_ids: Sequence[int],
        k: int,
        exclude_watched: bool = True,
        filters: Filters = NO_FILTERS,
        repeat_weight: float | None = None,
    ) -> list[Recommendation]:
        """:meth:`recommend` for many users at once.

        Users whose precomputed list answers are served from it; all the others are scored
        together in one vectorised call (:func:`streamrec.ranking.topn.top_n`).

        Examples
        --------
        >>> [r.source for r in rec.recommend_batch([1, 999], k=3)]  # doctest: +SKIP
        ['als', 'popular']
        """
        _check_k(k)
        weight = self._weight(repeat_weight, exclude_watched)
        if weight is None:  # the live ranker ranks each user's list on its own
            return [self.recommend(int(u), k, exclude_watched, filters) for u in user_ids]
        ids = np.asarray(user_ids, dtype=np.int64)
        rows = np.searchsorted(self._user_ids, ids)
        known = rows < self.n_users
        known[known] = self._user_ids[rows[known]] == ids[known]
        lists: list[np.ndarray | None] = [None] * len(ids)
        fresh: dict[int, Recommendation] = {}
        if self.overlay is not None:  # viewers with events since training, one by one
            for j, user_id in enumerate(ids.tolist()):
                if self.overlay.viewer(user_id) is not None:
                    fresh[j] = self.recommend(user_id, k, exclude_watched, filters, repeat_weight)
                    known[j] = False
        pending = []
        for j in np.flatnonzero(known).tolist():
            if filters.available is None:
                lists[j] = self._lists.answer(
                    int(rows[j]), k, exclude_watched, filters.exclude, weight
                )
            if lists[j] is None:
                pending.append(j)
        if pending:
            for j, items in zip(
                pending,
                self._scorer.rank_rows(rows[pending], k, exclude_watched, filters, weight),
                strict=True,
            ):
                lists[j] = items
        popular = self._popular.top(k, filters, NONE, self.overlay)
        results = []
        for j, items in enumerate(lists):
            if j in fresh:
                results.append(fresh[j])
            elif items is None:
                results.append(self._result(popular, "popular", filters))
            else:
                watched = self.watched(int(rows[j])) if exclude_watched else NONE
                results.append(self._finish(items, k, filters, watched, "als"))
        return results

    def recommend_for_history(
        self,
        history: Sequence[tuple[str, float]],
        k: int,
        exclude_watched: bool = True,
        filters: Filters = NO_FILTERS,
        repeat_weight: float | None = None,
    ) -> Recommendation:
        """Rank streamers for a viewer the model has never seen, from their watch history.

        The history is folded into the model (:class:`~streamrec.ranking.foldin.FoldIn`), giving the
        viewer factors as if they had been in training.

        Parameters
        ----------
        history : sequence of (str, float)
            ``(streamer name, watch time)`` pairs; watch time in 10-minute steps, > 0. Repeated
            names add up; names unknown to the model are ignored and counted.
        k, exclude_watched, filters, repeat_weight
            As in :meth:`recommend`; the history stands for the watched streamers.

        Returns
        -------
        Recommendation
            ``source`` is ``"als-foldin"`` (or ``"als-foldin+popular"`` when topped up), or
            ``"popular"`` when no streamer of the history is known.
        """
        _check_k(k)
        weight = self._weight(repeat_weight, exclude_watched)
        if weight is None:  # the ranker's features need the viewer's sessions: blend here
            weight = self.repeat_weight
        unknown = set(filters.unknown)
        ids = lookup(self._index, [name for name, _ in history], unknown)
        watch = np.fromiter((w for _, w in history), dtype=np.float64, count=len(history))
        if not np.all(watch > 0) or not np.all(np.isfinite(watch)):
            raise ValueError("watch_time must be a positive finite number of steps")
        filters = dataclasses.replace(filters, unknown=frozenset(unknown))
        known = ids >= 0
        if not known.any():
            return self._result(
                self._popular.top(k, filters, NONE, self.overlay), "popular", filters
            )
        items, position = np.unique(ids[known], return_inverse=True)
        totals = np.bincount(position, weights=watch[known])
        user = self._fold_in.user_factors(items, totals)
        watched = items.astype(np.int32) if exclude_watched else NONE
        boost = (items, bonus(totals, weight)) if weight else None
        ranked = self._scorer.rank(user, k, filters, watched, boost)
        return self._finish(ranked, k, filters, watched, "als-foldin")

    def similar(self, name: str, k: int) -> list[str]:
        """Streamers whose audiences are most like ``name``'s (cosine of item factors).

        Raises
        ------
        streamrec.serving.similar.UnknownStreamerError
            ``name`` is not in the model.

        Examples
        --------
        >>> rec.similar("mithrain", k=2)  # doctest: +SKIP
        ['alptv', 'zeon']
        """
        _check_k(k)
        return self._similar.similar(name, k)

    # -- internals ----------------------------------------------------------------------------

    def _weight(self, repeat_weight: float | None, exclude_watched: bool) -> float | None:
        """A request's blend weight: 0 when watched streamers are left out (no effect), None
        when the live ranker orders the list (watched kept, no weight asked for)."""
        if exclude_watched:
            return 0.0
        if repeat_weight is None:
            return None if self._live_ranker is not None else self.repeat_weight
        return check_weight(repeat_weight)

    def _recommend(
        self,
        user_id: int,
        k: int,
        exclude_watched: bool,
        filters: Filters,
        weight: float | None,
        scan: bool,
    ) -> Recommendation | None:
        _check_k(k)
        row = self.user_index(user_id)
        fresh = self._fresh_viewer(user_id, row)
        if fresh is not None:
            return self._recommend_fresh(
                fresh, row is None, k, exclude_watched, filters, weight, scan
            )
        if row is None:
            return self._result(
                self._popular.top(k, filters, NONE, self.overlay), "popular", filters
            )
        if weight is None:  # the live ranker scores every allowed streamer: a catalogue scan
            # without `available`; with it, a bounded list, cheap enough for the event loop
            if scan or filters.available is not None:
                ranked = self._scorer.rank_live(row, k, filters)
                return self._finish(ranked, k, filters, NONE, "als")
            return None
        watched = self.watched(row) if exclude_watched else NONE
        ranked = None
        if filters.available is None:
            ranked = self._lists.answer(row, k, exclude_watched, filters.exclude, weight)
            if ranked is None and not scan:
                return None
        if ranked is None:
            user, boost = self._user_factors[row], row_boost(self._watched, row, weight)
            ranked = self._scorer.rank(user, k, filters, watched, boost)
        return self._finish(ranked, k, filters, watched, "als")

    def _fresh_viewer(self, user_id: int, row: int | None) -> FreshViewer | None:
        """The viewer's history merged with their events, when the overlay has any."""
        overlay = self.overlay
        if overlay is None:
            return None
        events = overlay.viewer(user_id)
        return None if events is None else self._fresh.get(user_id, row, events)

    def _recommend_fresh(
        self,
        fresh: FreshViewer,
        folded: bool,
        k: int,
        exclude_watched: bool,
        filters: Filters,
        weight: float | None,
        scan: bool,
    ) -> Recommendation | None:
        """A viewer with events since training: ranked on their merged history and re-solved
        factors (no precomputed list holds them). None when that needs a scan and ``scan`` is
        off."""
        if not scan and filters.available is None:
            return None
        source: Source = "als-foldin" if folded else "als"
        if weight is None:
            ranked = self._scorer.rank_live(fresh.history, k, filters, fresh.factors, fresh.now)
            return self._finish(ranked, k, filters, NONE, source)
        history = fresh.history
        watched = history.items if exclude_watched else NONE
        boost = (history.items, bonus(history.watch, weight)) if weight else None
        ranked = self._scorer.rank(fresh.factors, k, filters, watched, boost)
        return self._finish(ranked, k, filters, watched, source)

    def _finish(
        self, ranked: np.ndarray, k: int, filters: Filters, watched: np.ndarray, source: Source
    ) -> Recommendation:
        """Top a short personal list up with popular items under the same filters."""
        if len(ranked) < k:
            skip = np.concatenate([ranked, watched])
            extra = self._popular.top(k - len(ranked), filters, skip, self.overlay)
            if len(extra):
                ranked = np.concatenate([ranked, extra])
                source = "als+popular" if source == "als" else "als-foldin+popular"
        return self._result(ranked, source, filters)

    def _result(self, ranked: np.ndarray, source: Source, filters: Filters) -> Recommendation:
        return Recommendation(self._names[ranked].tolist(), source, len(filters.unknown))


def _check_k(k: int) -> None:
    if not 1 <= k <= MAX_K:
        raise ValueError(f"k must be between 1 and {MAX_K}, got {k}")

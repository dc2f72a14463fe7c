"""The served model in memory: rank, filter, top up with popularity, fold in, find similar.

Pure numpy; no HTTP. Built once per artifact, and everything that does not depend on the
request happens here at load time: each known user's best ``top_n`` unwatched streamers (in
vectorised chunks, see :mod:`streamrec.topn`), the name index, the popularity ranks, item
norms and the fold-in Gram matrix. A typical request then reads a short precomputed list
and filters it; it touches no item-sized array. Requests the list cannot answer (filters
that leave fewer than ``k``, users outside the precomputed set) score the whole catalogue.

The precomputed lists (:mod:`streamrec.serving.lists`) come from the artifact or are computed
after construction, e.g. in a background thread while the instance already serves
(:meth:`Recommender.precompute`); until then every request is answered by scoring the
catalogue, which gives the same lists. Their publication (one reference assignment of a
read-only table) and the watch-event overlay it reads (:mod:`streamrec.serving.fresh`) are the
only changes after construction, so any number of threads may use an instance at once without
locks, and a new model replaces it by swapping one reference (see
:mod:`streamrec.serving.reload`).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp

from streamrec import topn
from streamrec.artifact import Artifact
from streamrec.blend import DEFAULT_WEIGHT, bonus, check_weight
from streamrec.features import ViewerRow
from streamrec.foldin import FoldIn, params_from_metadata
from streamrec.popularity import PopularityRanker
from streamrec.ranker import LiveRanker, from_artifact
from streamrec.serving.filters import (
    NO_FILTERS,
    NONE,
    Filters,
    NameResolver,
    isin_sorted,
    locate,
    lookup,
)
from streamrec.serving.fresh import FreshViewer, FreshViewers
from streamrec.serving.lists import PrecomputedLists, PrecomputeState
from streamrec.serving.overlay import Overlay, PopularNow

logger = logging.getLogger(__name__)

Source = Literal["als", "popular", "als+popular", "als-foldin", "als-foldin+popular"]
MAX_K = 1000
Boost = tuple[np.ndarray, np.ndarray]
"""Sorted item indices and the score bonus each gets (the user's own streamers)."""


class UnknownStreamerError(LookupError):
    """A streamer name the loaded model does not know."""

    def __init__(self, name: str) -> None:
        super().__init__(f"streamer {name!r} is not in the model")
        self.name = name


@dataclass(frozen=True)
class Recommendation:
    """A ranked list of streamer names, where it came from, and ignored unknown names."""

    items: list[str]
    source: Source
    unknown_streamers: int = 0


class Recommender:
    """Top-K streamers from ALS factors, with popularity for users the model has not seen.

    Parameters
    ----------
    artifact : Artifact
        A loaded model (see :func:`streamrec.artifact.load`).
    top_n : int
        Streamers precomputed per user; 0 disables precomputation (every request scores the
        catalogue). Requests with ``k`` up to about this size are answered from the list.
    max_users : int, optional
        Precompute for at most this many users, the most active first (memory is
        ``4 * top_n`` bytes per user, and load time one catalogue scan per user); None means
        all.
    threads : int
        Threads for the precomputation (BLAS is limited to one thread meanwhile), when the
        artifact holds no lists for this ``top_n`` and ``max_users``
        (:func:`streamrec.precompute.matching_lists`).
    repeat_weight : float
        Default blend weight of lists that keep watched streamers (``exclude_watched=False``)
        when the artifact has no live ranker (:mod:`streamrec.ranker`), or when a request
        asks for a weight: each watched streamer's score gains
        ``repeat_weight * log(1 + watch steps)`` (:mod:`streamrec.blend`); 0 ranks by ALS
        alone. Lists without watched streamers are unaffected.
    precompute_now : bool
        Compute the lists before returning. False leaves them to :meth:`precompute` (e.g. in a
        background thread); the instance answers every request by full scoring until then.
    precompute_gate : threading.Event, optional
        :meth:`precompute` waits until this event is set before it starts (lets a caller, such
        as a test, hold the instance in the state before its lists are ready). Needs
        ``precompute_now=False``.

    Examples
    --------
    >>> from streamrec import artifact
    >>> rec = Recommender(artifact.load("models/model.npz"))  # doctest: +SKIP
    >>> rec.recommend(1, k=3).items  # doctest: +SKIP
    ['streamer_a', 'streamer_b', 'streamer_c']

    Serve at once and compute the lists in the background:

    >>> rec = Recommender(artifact.load("models/model.npz"), precompute_now=False)  # doctest: +SKIP
    >>> threading.Thread(target=rec.precompute).start()  # doctest: +SKIP
    >>> rec.precompute_state  # doctest: +SKIP
    'running'
    """

    def __init__(
        self,
        artifact: Artifact,
        top_n: int = 128,
        max_users: int | None = 100_000,
        threads: int = 1,
        repeat_weight: float = DEFAULT_WEIGHT,
        precompute_now: bool = True,
        precompute_gate: threading.Event | None = None,
    ) -> None:
        if top_n < 0:
            raise ValueError(f"top_n must be >= 0, got {top_n}")
        if max_users is not None and max_users < 0:
            raise ValueError(f"max_users must be >= 0 or None, got {max_users}")
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        if precompute_now and precompute_gate is not None:
            raise ValueError("precompute_gate needs precompute_now=False, got precompute_now=True")
        self.repeat_weight = check_weight(repeat_weight)
        self.artifact = artifact
        self.metadata = artifact.metadata
        self.model_version = artifact.model_version
        self._user_ids = artifact.user_ids
        self._user_factors = artifact.user_factors
        self._item_factors = artifact.item_factors
        self._names = artifact.streamer_names
        watched = artifact.user_items
        if not watched.has_sorted_indices:
            watched = watched.copy()
            watched.sort_indices()
        self._watched = watched
        self._popular = PopularityRanker.from_order(artifact.popular)
        self._popularity_rank = self._popular.ranks()
        self._index = {name: i for i, name in enumerate(self._names.tolist())}
        self._resolver = NameResolver(self._index, self._item_factors)
        # Item norms for cosine similarity; not a normalised copy of the factors, which would
        # hold another catalogue-sized matrix in memory for one rarely called route.
        norms = np.linalg.norm(self._item_factors, axis=1)
        self._item_norms = np.where(norms > 0, norms, 1).astype(np.float32)
        self._fold_in = FoldIn(self._item_factors, params_from_metadata(self.metadata))
        self._live_ranker: LiveRanker | None = from_artifact(artifact)
        ranker_history = self._live_ranker.history if self._live_ranker is not None else None
        self.data_now = ranker_history.now if ranker_history is not None else 0
        self._fresh = FreshViewers(
            self._index, self._watched, ranker_history, self._fold_in, self.data_now
        )
        self.overlay: Overlay | None = None
        self._popular_now: tuple[PopularNow, PopularityRanker, np.ndarray] | None = None
        self.top_n = top_n
        self._lists = PrecomputedLists(
            artifact, self._watched, top_n, max_users, threads, precompute_gate
        )
        if precompute_now:
            self.precompute()

    # -- the model's shape ------------------------------------------------------------------

    @property
    def n_users(self) -> int:
        return len(self._user_ids)

    @property
    def n_items(self) -> int:
        return len(self._names)

    @property
    def live_ranking(self) -> Literal["ranker", "blend"]:
        """What orders lists that keep watched streamers: the learned ranker or the blend."""
        return "blend" if self._live_ranker is None else "ranker"

    def attach(self, overlay: Overlay | None) -> None:
        """Serve with the viewers' events since training (see :mod:`streamrec.serving.fresh`)
        and the overlay's "popular now" ordering the popular lists; None detaches."""
        self.overlay = overlay

    @property
    def precomputed_users(self) -> int:
        """Users whose top ``top_n`` list is held in memory (0 until the lists are ready)."""
        return self._lists.users

    @property
    def precompute_state(self) -> PrecomputeState:
        """Where the precomputed lists are (:attr:`PrecomputedLists.state`)."""
        return self._lists.state

    @property
    def precompute_seconds(self) -> float:
        """Time the precomputation took; while it runs, the time so far; 0 before it starts."""
        return self._lists.seconds

    def precompute(self, stop: threading.Event | None = None) -> bool:
        """Compute and publish the precomputed lists (:meth:`PrecomputedLists.compute`)."""
        return self._lists.compute(stop)

    def user_index(self, user_id: int) -> int | None:
        """Row of ``user_id`` in the model, or None for a user it has never seen."""
        row = int(np.searchsorted(self._user_ids, user_id))
        if row < len(self._user_ids) and self._user_ids[row] == user_id:
            return row
        return None

    def unknown_names(self, names: Iterable[str]) -> int:
        """How many distinct ``names`` the model does not know."""
        index = self._index
        return sum(name not in index for name in set(names))

    def watched(self, row: int) -> np.ndarray:
        """Streamer indices (sorted) the user at ``row`` watched in training."""
        start, stop = self._watched.indptr[row], self._watched.indptr[row + 1]
        return self._watched.indices[start:stop]

    def filters(
        self, available: Sequence[str] | None = None, exclude: Sequence[str] = ()
    ) -> Filters:
        """Map a request's streamer names to item indices; unknown names are collected
        (:meth:`streamrec.serving.filters.NameResolver.filters`)."""
        return self._resolver.filters(available, exclude)

    def resolve(self, names: Sequence[str]) -> Filters:
        """:meth:`filters` with ``names`` as ``available``, bypassing its cache (a live set)."""
        return self._resolver.resolve(names)

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
        together in one vectorised call (:func:`streamrec.topn.top_n`).

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
                lists[j] = self._from_prefix(
                    int(rows[j]), k, exclude_watched, filters.exclude, weight
                )
            if lists[j] is None:
                pending.append(j)
        if pending:
            for j, items in zip(
                pending,
                self._score_rows(rows[pending], k, exclude_watched, filters, weight),
                strict=True,
            ):
                lists[j] = items
        popular = self._popular_list(k, filters, NONE)
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

        The history is folded into the model (:class:`~streamrec.foldin.FoldIn`), giving the
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
            return self._result(self._popular_list(k, filters, NONE), "popular", filters)
        items, position = np.unique(ids[known], return_inverse=True)
        totals = np.bincount(position, weights=watch[known])
        user = self._fold_in.user_factors(items, totals)
        watched = items.astype(np.int32) if exclude_watched else NONE
        boost = (items, bonus(totals, weight)) if weight else None
        ranked = self._rank(user, k, filters, watched, boost)
        return self._finish(ranked, k, filters, watched, "als-foldin")

    def similar(self, name: str, k: int) -> list[str]:
        """Streamers whose audiences are most like ``name``'s (cosine of item factors).

        Raises
        ------
        UnknownStreamerError
            ``name`` is not in the model.

        Examples
        --------
        >>> rec.similar("mithrain", k=2)  # doctest: +SKIP
        ['alptv', 'zeon']
        """
        _check_k(k)
        item = self._index.get(name)
        if item is None:
            raise UnknownStreamerError(name)
        scores = self._item_factors @ self._item_factors[item]
        scores /= self._item_norms * self._item_norms[item]
        scores[item] = -np.inf
        return self._names[topn.top_k(scores, k)].tolist()

    # -- internals ----------------------------------------------------------------------------

    def _weight(self, repeat_weight: float | None, exclude_watched: bool) -> float | None:
        """A request's blend weight: 0 when watched streamers are left out (no effect), None
        when the live ranker orders the list (watched kept, no weight asked for)."""
        if exclude_watched:
            return 0.0
        if repeat_weight is None:
            return None if self._live_ranker is not None else self.repeat_weight
        return check_weight(repeat_weight)

    def _boost(self, row: int, weight: float) -> Boost | None:
        """The user's watched streamers and their blend bonus; None when there is none."""
        if not weight:
            return None
        start, stop = self._watched.indptr[row], self._watched.indptr[row + 1]
        return self._watched.indices[start:stop], bonus(self._watched.data[start:stop], weight)

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
            return self._result(self._popular_list(k, filters, NONE), "popular", filters)
        if weight is None:  # the live ranker scores every allowed streamer: a catalogue scan
            # without `available`; with it, a bounded list, cheap enough for the event loop
            if scan or filters.available is not None:
                return self._rank_live(row, k, filters)
            return None
        watched = self.watched(row) if exclude_watched else NONE
        ranked = None
        if filters.available is None:
            ranked = self._from_prefix(row, k, exclude_watched, filters.exclude, weight)
            if ranked is None and not scan:
                return None
        if ranked is None:
            user, boost = self._user_factors[row], self._boost(row, weight)
            ranked = self._rank(user, k, filters, watched, boost)
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
            return self._rank_live(fresh.history, k, filters, fresh.factors, fresh.now, source)
        history = fresh.history
        watched = history.items if exclude_watched else NONE
        boost = (history.items, bonus(history.watch, weight)) if weight else None
        ranked = self._rank(fresh.factors, k, filters, watched, boost)
        return self._finish(ranked, k, filters, watched, source)

    def _rank(
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

    def _rank_live(
        self,
        row: int | ViewerRow,
        k: int,
        filters: Filters,
        user: np.ndarray | None = None,
        now: int | None = None,
        source: Source = "als",
    ) -> Recommendation:
        """The live ranker's list for a known user (or a merged history with its factors
        ``user``), watched streamers kept."""
        assert self._live_ranker is not None
        if user is None:
            assert isinstance(row, int)
            user = self._user_factors[row]
        if filters.available is not None:
            allowed = self._allowed(filters, NONE)
            factors = filters.available_factors
            if factors is None or len(allowed) != len(filters.available):
                factors = self._item_factors[allowed]
        else:
            allowed = np.arange(self.n_items, dtype=np.int32)
            if len(filters.exclude):
                allowed = allowed[~isin_sorted(allowed, filters.exclude)]
            factors = self._item_factors if len(allowed) == self.n_items else None
            if factors is None:
                factors = self._item_factors[allowed]
        ranked = self._live_ranker.rank(row, allowed, factors @ user, k, now)
        return self._finish(ranked, k, filters, NONE, source)

    def _from_prefix(
        self, row: int, k: int, exclude_watched: bool, exclude: np.ndarray, weight: float
    ) -> np.ndarray | None:
        """The answer from the precomputed list, or None when that list cannot give it.

        The list holds unwatched items, whose scores the blend does not change, so it stays
        valid for blended requests: only the merged-in watched items get their bonus.
        """
        lists = self._lists.current  # read once: the lists are published while requests run
        if lists is None:
            return None
        top, slot_of_row, _ = lists
        slot = row if slot_of_row is None else int(slot_of_row[row])
        if slot < 0:
            return None
        ranked = top[slot]
        watched = self.watched(row)
        # The list holds every unwatched item: nothing outside it can be missing. Only such a
        # list can be padded with -1.
        complete = self.n_items - len(watched) <= self.top_n
        if complete:
            ranked = ranked[ranked >= 0]
        if not exclude_watched and len(watched):
            # Merge the watched items in. Unless the list is complete, only those scoring at
            # least as high as its last item are certainly ranked right.
            merged = np.concatenate([ranked, watched])
            scores = self._item_factors[merged] @ self._user_factors[row]
            boost = self._boost(row, weight)
            if boost is not None:
                scores[len(ranked) :] += boost[1]
            if not complete:
                keep = scores >= scores[len(ranked) - 1]
                merged, scores = merged[keep], scores[keep]
            ranked = merged[np.lexsort((merged, -scores))]
        if len(exclude):
            ranked = ranked[~isin_sorted(ranked, exclude)]
        if len(ranked) >= k or complete:
            return ranked[:k]
        return None

    def _score_rows(
        self, rows: np.ndarray, k: int, exclude_watched: bool, filters: Filters, weight: float
    ) -> list[np.ndarray]:
        """Top ``k`` of several users in one vectorised call, honouring the filters."""
        users = self._user_factors[rows]
        watched = self._watched[rows]
        items, candidates = self._item_factors, None
        if filters.available is not None:
            candidates = self._allowed(filters, NONE)
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

    def _allowed(self, filters: Filters, watched: np.ndarray) -> np.ndarray:
        """The available items that are neither excluded nor (already) watched."""
        allowed = filters.available if filters.available is not None else NONE
        for skip in (filters.exclude, watched):
            if len(skip):
                allowed = allowed[~isin_sorted(allowed, skip)]
        return allowed

    def _popular_list(self, k: int, filters: Filters, skip: np.ndarray) -> np.ndarray:
        """The ``k`` most popular allowed items that are not in ``skip``: by "popular now"
        (recent distinct viewers, from the overlay) first, then by the model's popularity."""
        popular, ranks = self._popularity()
        if filters.available is None:
            # top() needs neither sorted nor distinct items: no union1d on the cold-start GET.
            return popular.top(k, exclude=np.concatenate((skip, filters.exclude)))
        allowed = self._allowed(filters, np.unique(skip))
        return allowed[np.argsort(ranks[allowed], kind="stable")[:k]]

    def _popularity(self) -> tuple[PopularityRanker, np.ndarray]:
        """The popularity order in force, and each item's rank in it."""
        now = self.overlay.popular_now() if self.overlay is not None else None
        if now is None:
            return self._popular, self._popularity_rank
        cached = self._popular_now
        if cached is not None and cached[0] is now:
            return cached[1], cached[2]
        recent = np.zeros(self.n_items, dtype=np.float32)
        get = self._index.get
        items = np.fromiter((get(n, -1) for n in now.names), np.int64, len(now.names))
        known = items >= 0
        recent[items[known]] = now.viewers[known]
        order = np.lexsort((self._popularity_rank, -recent)).astype(np.int32)
        popular = PopularityRanker.from_order(order)
        ranks = popular.ranks()
        self._popular_now = (now, popular, ranks)
        return popular, ranks

    def _finish(
        self, ranked: np.ndarray, k: int, filters: Filters, watched: np.ndarray, source: Source
    ) -> Recommendation:
        """Top a short personal list up with popular items under the same filters."""
        if len(ranked) < k:
            extra = self._popular_list(k - len(ranked), filters, np.concatenate([ranked, watched]))
            if len(extra):
                ranked = np.concatenate([ranked, extra])
                source = "als+popular" if source == "als" else "als-foldin+popular"
        return self._result(ranked, source, filters)

    def _result(self, ranked: np.ndarray, source: Source, filters: Filters) -> Recommendation:
        return Recommendation(self._names[ranked].tolist(), source, len(filters.unknown))


def _check_k(k: int) -> None:
    if not 1 <= k <= MAX_K:
        raise ValueError(f"k must be between 1 and {MAX_K}, got {k}")

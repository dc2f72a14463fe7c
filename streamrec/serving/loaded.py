"""One model in memory, with everything built from it before the first request.

Built once per artifact, and everything that does not depend on the request happens here at
load time: the name index and resolver (:mod:`streamrec.serving.filters`), the popularity ranks
(:mod:`streamrec.serving.popular_lists`), the item norms (:mod:`streamrec.serving.similar`),
the fold-in Gram matrix and the viewers' merged histories (:mod:`streamrec.serving.fresh`),
and each known user's best ``top_n`` unwatched streamers (:mod:`streamrec.serving.lists`, in
vectorised chunks, see :mod:`streamrec.ranking.topn`). :class:`LoadedModel` holds them and answers
what the model is (its shape, its users' rows, the state of its lists); the requests'
paths are :class:`streamrec.serving.recommender.Recommender`, which extends it.

The precomputed lists come from the artifact or are computed after construction, e.g. in a
background thread while the instance already serves (:meth:`LoadedModel.precompute`); until
then every request is answered by scoring the catalogue, which gives the same lists. Their
publication (one reference assignment of a read-only table) and the watch-event overlay it
reads (:meth:`LoadedModel.attach`) are the only changes after construction, so any number of
threads may use an instance at once without locks, and a new model replaces it by swapping one
reference (see :mod:`streamrec.serving.reload`). Pure numpy; no HTTP.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import Literal

import numpy as np

from streamrec.model.artifact import Artifact
from streamrec.ranking.blend import DEFAULT_WEIGHT, check_weight
from streamrec.ranking.foldin import FoldIn, params_from_metadata
from streamrec.ranking.ranker import LiveRanker, from_artifact
from streamrec.serving.filters import Filters, NameResolver
from streamrec.serving.fresh import FreshViewers
from streamrec.serving.lists import PrecomputedLists, PrecomputeState
from streamrec.serving.overlay import Overlay
from streamrec.serving.popular_lists import PopularLists
from streamrec.serving.scoring import Scorer
from streamrec.serving.similar import SimilarStreamers


class LoadedModel:
    """An artifact's arrays and the parts built from them once, for the requests' paths.

    The arrays and parts are private attributes that the request paths
    (:class:`~streamrec.serving.recommender.Recommender`) read directly: no call between a
    request and the arrays it needs.

    Parameters
    ----------
    artifact : Artifact
        A loaded model (see :func:`streamrec.model.artifact.load`).
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
        (:func:`streamrec.ranking.precompute.matching_lists`).
    repeat_weight : float
        Default blend weight of lists that keep watched streamers (``exclude_watched=False``)
        when the artifact has no live ranker (:mod:`streamrec.ranking.ranker`), or when a request
        asks for a weight: each watched streamer's score gains
        ``repeat_weight * log(1 + watch steps)`` (:mod:`streamrec.ranking.blend`); 0 ranks by ALS
        alone. Lists without watched streamers are unaffected.
    precompute_now : bool
        Compute the lists before returning. False leaves them to :meth:`precompute` (e.g. in a
        background thread); the instance answers every request by full scoring until then.
    precompute_gate : threading.Event, optional
        :meth:`precompute` waits until this event is set before it starts (lets a caller, such
        as a test, hold the instance in the state before its lists are ready). Needs
        ``precompute_now=False``.
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
        self._index = {name: i for i, name in enumerate(self._names.tolist())}
        self._resolver = NameResolver(self._index, self._item_factors)
        self._popular = PopularLists(artifact.popular, self._index, len(self._names))
        self._similar = SimilarStreamers(self._names, self._index, self._item_factors)
        self._fold_in = FoldIn(self._item_factors, params_from_metadata(self.metadata))
        self._live_ranker: LiveRanker | None = from_artifact(artifact)
        self._scorer = Scorer(self._user_factors, self._item_factors, watched, self._live_ranker)
        ranker_history = self._live_ranker.history if self._live_ranker is not None else None
        self.data_now = ranker_history.now if ranker_history is not None else 0
        self._fresh = FreshViewers(
            self._index, self._watched, ranker_history, self._fold_in, self.data_now
        )
        self.overlay: Overlay | None = None
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

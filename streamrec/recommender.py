"""The served model in memory: score, filter, top up with popularity.

Pure numpy; no HTTP. Built once from an :class:`~streamrec.artifact.Artifact` at start-up, so
per request there is one matrix-vector product, a partial sort and a few small lookups.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from streamrec.artifact import Artifact
from streamrec.popularity import PopularityRanker

Source = Literal["als", "popular", "als+popular"]
MAX_K = 1000


@dataclass(frozen=True)
class Recommendation:
    """A ranked list of streamer names and where it came from."""

    items: list[str]
    source: Source


class Recommender:
    """Top-K streamers for a user, from ALS factors with a popularity fallback.

    Parameters
    ----------
    artifact : Artifact
        A loaded model (see :func:`streamrec.artifact.load`).

    Examples
    --------
    >>> from streamrec import artifact
    >>> rec = Recommender(artifact.load("models/model.npz"))  # doctest: +SKIP
    >>> rec.recommend(1, k=3).items  # doctest: +SKIP
    ['streamer_a', 'streamer_b', 'streamer_c']
    """

    def __init__(self, artifact: Artifact) -> None:
        self.artifact = artifact
        self.metadata = artifact.metadata
        self.model_version = artifact.model_version
        self._user_ids = artifact.user_ids
        self._user_factors = artifact.user_factors
        self._item_factors = artifact.item_factors
        self._names = artifact.streamer_names
        self._watched = artifact.user_items
        self._popular = PopularityRanker.from_order(artifact.popular)

    @property
    def n_users(self) -> int:
        return len(self._user_ids)

    @property
    def n_items(self) -> int:
        return len(self._names)

    def user_index(self, user_id: int) -> int | None:
        """Row of ``user_id`` in the model, or None for a user it has never seen."""
        row = int(np.searchsorted(self._user_ids, user_id))
        if row < len(self._user_ids) and self._user_ids[row] == user_id:
            return row
        return None

    def watched(self, row: int) -> np.ndarray:
        """Streamer indices the user at ``row`` watched in training."""
        start, stop = self._watched.indptr[row], self._watched.indptr[row + 1]
        return self._watched.indices[start:stop]

    def recommend(self, user_id: int, k: int, exclude_watched: bool = True) -> Recommendation:
        """Rank streamers for ``user_id``.

        Parameters
        ----------
        user_id : int
            External user id. Unknown users get the popularity ranking (``source="popular"``).
        k : int
            List length, 1 to ``MAX_K``. The list is shorter only when fewer streamers remain.
        exclude_watched : bool
            Leave out streamers the user watched in training.

        Returns
        -------
        Recommendation
            ``source`` is ``"als"``, ``"popular"``, or ``"als+popular"`` when the personal list
            was topped up with popular streamers.
        """
        if not 1 <= k <= MAX_K:
            raise ValueError(f"k must be between 1 and {MAX_K}, got {k}")
        row = self.user_index(user_id)
        if row is None:
            return Recommendation(self._to_names(self._popular.top(k)), "popular")
        exclude = self.watched(row) if exclude_watched else None
        personal = self._top_by_score(row, k, exclude)
        if len(personal) >= k:
            return Recommendation(self._to_names(personal), "als")
        skip = personal if exclude is None else np.concatenate([personal, exclude])
        extra = self._popular.top(k - len(personal), exclude=skip)
        if len(extra) == 0:
            return Recommendation(self._to_names(personal), "als")
        return Recommendation(self._to_names(np.concatenate([personal, extra])), "als+popular")

    def _top_by_score(self, row: int, k: int, exclude: np.ndarray | None) -> np.ndarray:
        scores = self._item_factors @ self._user_factors[row]
        if exclude is not None and len(exclude):
            scores[exclude] = -np.inf
        available = len(scores) - (0 if exclude is None else len(exclude))
        k = min(k, available)
        if k <= 0:
            return np.empty(0, dtype=np.int32)
        if k < len(scores):
            top = np.argpartition(-scores, k - 1)[:k]
        else:
            top = np.arange(len(scores))
        top = top[np.argsort(-scores[top], kind="stable")]
        return top.astype(np.int32)

    def _to_names(self, indices: np.ndarray) -> list[str]:
        return self._names[indices].tolist()

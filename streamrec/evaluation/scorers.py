"""The formulas of the ranking metrics on one user's hits, and their means over users.

Definitions in :mod:`streamrec.evaluation.metrics`.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Collection, Hashable, Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from functools import cache, partial
from typing import TypeAlias

from streamrec.evaluation.metric_inputs import (
    _check_k,
    _check_lists,
    _gain,
    _Hit,
    _hits,
    _relevant_set,
)

# Scores one user from their relevant set, their hits within k (in rank order), and k.
_Scorer: TypeAlias = Callable[[AbstractSet[Hashable], list[_Hit], int], float]


# --- scorers: one user, k already checked, rel non-empty, hits within k ----------------------


@cache
def _discount(rank: int) -> float:
    return 1.0 / math.log2(rank + 1)


@cache
def _ideal_binary_dcg(n: int) -> float:
    return sum(_discount(rank) for rank in range(1, n + 1))


def _precision(rel: AbstractSet[Hashable], hits: list[_Hit], k: int) -> float:
    return len(hits) / k


def _recall(rel: AbstractSet[Hashable], hits: list[_Hit], k: int) -> float:
    return len(hits) / len(rel)


def _hit_rate(rel: AbstractSet[Hashable], hits: list[_Hit], k: int) -> float:
    return 1.0 if hits else 0.0


def _reciprocal_rank(rel: AbstractSet[Hashable], hits: list[_Hit], k: int) -> float:
    return 1.0 / hits[0][0] if hits else 0.0


def _average_precision(rel: AbstractSet[Hashable], hits: list[_Hit], k: int) -> float:
    # The n-th hit, at rank r, contributes precision@r = n / r.
    return sum(n / rank for n, (rank, _) in enumerate(hits, start=1)) / min(k, len(rel))


def _binary_ndcg(rel: AbstractSet[Hashable], hits: list[_Hit], k: int) -> float:
    dcg = sum(_discount(rank) for rank, _ in hits)
    return dcg / _ideal_binary_dcg(min(k, len(rel)))


def _graded_ndcg(
    rel: AbstractSet[Hashable], hits: list[_Hit], k: int, gains: Mapping[Hashable, float]
) -> float:
    # Every relevant item is looked up, not only the hits, so a missing gain is always caught.
    rel_gains = {item: _gain(gains, item) for item in rel}
    dcg = sum(rel_gains[item] * _discount(rank) for rank, item in hits)
    best = heapq.nlargest(min(k, len(rel)), rel_gains.values())
    ideal = sum(gain * _discount(rank) for rank, gain in enumerate(best, start=1))
    # All-zero gains: no ranking can score, so there is nothing to normalise against.
    return dcg / ideal if ideal > 0 else 0.0


def _ndcg(gains: Mapping[Hashable, float] | None) -> _Scorer:
    """The NDCG scorer: binary gains when ``gains`` is None, else graded by ``gains``."""
    return _binary_ndcg if gains is None else partial(_graded_ndcg, gains=gains)


# --- scoring users: validate, then apply a scorer ---------------------------------------------


def _scored_users(
    relevant_lists: Iterable[Iterable[Hashable]],
    recommended_lists: Iterable[Iterable[Hashable]],
    k: int,
) -> Iterator[tuple[int, AbstractSet[Hashable], list[_Hit]]]:
    """Position, relevant set and hits within ``k`` of each user with a relevant item."""
    users = enumerate(zip(relevant_lists, recommended_lists, strict=True))
    for index, (relevant, recommended) in users:
        rel = _relevant_set(relevant)
        if rel:
            yield index, rel, _hits(rel, recommended, k)


def _score_user(
    relevant: Iterable[Hashable], recommended: Iterable[Hashable], k: object, scorer: _Scorer
) -> float:
    checked_k = _check_k(k)
    for _, rel, hits in _scored_users([relevant], [recommended], checked_k):
        return scorer(rel, hits, checked_k)
    return 0.0  # no relevant item


def _score_mean(
    relevant_lists: Collection[Iterable[Hashable]],
    recommended_lists: Collection[Iterable[Hashable]],
    k: object,
    scorer: _Scorer | Sequence[_Scorer],
) -> float:
    """Mean of ``scorer`` (or of each user's own, when a sequence) over users with relevant."""
    checked_k = _check_lists(relevant_lists, recommended_lists, k)
    total = 0.0
    users = 0
    for index, rel, hits in _scored_users(relevant_lists, recommended_lists, checked_k):
        user_scorer = scorer if callable(scorer) else scorer[index]
        total += user_scorer(rel, hits, checked_k)
        users += 1
    return total / users if users else 0.0

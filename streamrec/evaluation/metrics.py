"""Ranking metrics for top-k recommendations, on plain Python and numpy inputs.

Every metric scores one user's ranked ``recommended`` items against the items that user
actually went on to watch (``relevant``), looking only at the first ``k`` positions.
Libraries disagree on the details, so each function states its exact formula. Shared rules:

* Ranks are 1-based: ``recommended[0]`` has rank 1.
* A recommended item listed more than once scores at most once. Its first occurrence is
  scored; later occurrences still take up their position but count as non-relevant.
* Items can be any hashable: ints, strings, numpy scalars (these compare and hash equal to
  the matching Python values, so ``np.int32(7)`` matches ``7``). ``relevant`` can be a set,
  list, tuple or numpy array, and repeated items in it count once. ``recommended`` can be a
  list, tuple, numpy array or any other ordered iterable.
* A user with no relevant item scores 0.0 in the per-user functions. The ``mean_*`` functions,
  :func:`map_at_k` and :func:`ranking_report` leave such users out and average over the users
  with at least one relevant item (0.0 when there are none). implicit's
  ``ranking_metrics_at_k`` skips users with no test items in the same way.
* ``k`` must be an integer >= 1, otherwise ValueError. Per-user lists of different lengths
  raise ValueError.

:func:`map_at_k` and :func:`mean_ndcg_at_k` give the same values as the ``"map"`` and
``"ndcg"`` entries of ``implicit.evaluation.ranking_metrics_at_k`` for the same
recommendations. implicit's ``"precision"`` is a different quantity: see
:func:`mean_precision_at_k`.
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_right
from collections.abc import Callable, Collection, Hashable, Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from functools import cache, partial
from itertools import islice
from typing import TypeAlias

import numpy as np

__all__ = [
    "average_precision_at_k",
    "hit_rate_at_k",
    "map_at_k",
    "mean_hit_rate_at_k",
    "mean_mrr_at_k",
    "mean_ndcg_at_k",
    "mean_precision_at_k",
    "mean_recall_at_k",
    "mrr_at_k",
    "ndcg_at_k",
    "precision_at_k",
    "ranking_report",
    "recall_at_k",
]

# A scoring hit: the 1-based rank of a relevant item's first occurrence, and the item.
_Hit: TypeAlias = tuple[int, Hashable]
# Scores one user from their relevant set, their hits within k (in rank order), and k.
_Scorer: TypeAlias = Callable[[AbstractSet[Hashable], list[_Hit], int], float]


# --- input handling ---------------------------------------------------------------------------


def _check_k(k: object) -> int:
    # bool is an int subclass, but k=True is a bug, not a cut-off of 1.
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got k={k!r}")
    return int(k)


def _check_same_length(
    relevant_lists: Collection[object], recommended_lists: Collection[object]
) -> None:
    # zip() would silently drop the tail and score the wrong users, so refuse up front.
    if len(relevant_lists) != len(recommended_lists):
        raise ValueError(
            "relevant_lists and recommended_lists must have the same length, got "
            f"len(relevant_lists)={len(relevant_lists)} and "
            f"len(recommended_lists)={len(recommended_lists)}"
        )


def _check_lists(
    relevant_lists: Collection[object], recommended_lists: Collection[object], k: object
) -> int:
    checked_k = _check_k(k)
    _check_same_length(relevant_lists, recommended_lists)
    return checked_k


def _reject_string(value: object, name: str) -> None:
    # A bare string is iterable, so it would be scored character by character.
    if isinstance(value, str | bytes):
        raise TypeError(
            f"{name} must be a collection of items, not a single {type(value).__name__}"
        )


def _relevant_set(relevant: Iterable[Hashable]) -> AbstractSet[Hashable]:
    if isinstance(relevant, AbstractSet):
        return relevant  # already deduplicated with O(1) lookups; no need to copy
    if isinstance(relevant, np.ndarray):
        # tolist() converts every element in one C call, far faster than iterating the array.
        return set(relevant.tolist())
    _reject_string(relevant, "relevant")
    return set(relevant)


def _top_k(recommended: Iterable[Hashable], k: int) -> list[Hashable] | tuple[Hashable, ...]:
    if isinstance(recommended, np.ndarray):
        return recommended[:k].tolist()
    if isinstance(recommended, list | tuple):
        return recommended[:k]
    _reject_string(recommended, "recommended")
    return list(islice(recommended, k))


def _hits(rel: AbstractSet[Hashable], recommended: Iterable[Hashable], k: int) -> list[_Hit]:
    """The scoring hits among the first k recommendations, in rank order."""
    hits: list[_Hit] = []
    scored: set[Hashable] = set()
    for rank, item in enumerate(_top_k(recommended, k), start=1):
        if item in rel and item not in scored:
            scored.add(item)
            hits.append((rank, item))
    return hits


def _gain(gains: Mapping[Hashable, float], item: Hashable) -> float:
    try:
        value = float(gains[item])
    except KeyError:
        raise ValueError(f"gains has no entry for relevant item {item!r}") from None
    # A negative or NaN gain makes the ideal ordering meaningless (NDCG could leave [0, 1]).
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"gains must be finite and >= 0, got {value!r} for item {item!r}")
    return value


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


# --- public API: one user ----------------------------------------------------------------------


def average_precision_at_k(
    relevant: Iterable[Hashable], recommended: Iterable[Hashable], k: int
) -> float:
    """Average precision at k for one user.

    ``AP@k = (sum of precision@i over the ranks i <= k that hold a relevant item)
    / min(k, |relevant|)``, where ``precision@i = (relevant items in the first i) / i``.
    A repeated recommended item counts as relevant only at its first occurrence.

    Parameters
    ----------
    relevant : iterable of hashable
        The items the user actually watched (set, list, tuple or numpy array).
    recommended : iterable of hashable
        Recommended items, best first. Only the first ``k`` positions are used.
    k : int
        Cut-off, an integer >= 1.

    Returns
    -------
    float
        AP@k in [0, 1]; 0.0 when ``relevant`` is empty.

    Raises
    ------
    ValueError
        If ``k`` is not an integer >= 1.

    Examples
    --------
    Hits at ranks 1 and 3: (1/1 + 2/3) / min(3, 2) = 0.8333...

    >>> round(average_precision_at_k({"a", "c"}, ["a", "b", "c"], k=3), 4)
    0.8333
    """
    return _score_user(relevant, recommended, k, _average_precision)


def ndcg_at_k(
    relevant: Iterable[Hashable],
    recommended: Iterable[Hashable],
    k: int,
    gains: Mapping[Hashable, float] | None = None,
) -> float:
    """Normalised discounted cumulative gain at k for one user.

    ``DCG@k = sum over ranks i <= k of gain(recommended[i]) / log2(i + 1)`` and
    ``NDCG@k = DCG@k / IDCG@k``, where the ideal ``IDCG@k`` is the best possible DCG from
    ``m = min(k, |relevant|)`` items: the ``m`` largest relevant gains, sorted descending, at
    ranks 1..m. With binary gains that is ``sum over i = 1..m of 1 / log2(i + 1)``.

    ``gain(item)`` is 1 for a relevant item by default (binary relevance), or ``gains[item]``
    when ``gains`` is given (graded relevance, e.g. watch time). Items not in ``relevant``
    have gain 0 either way, as does a repeated item after its first occurrence.

    Parameters
    ----------
    relevant : iterable of hashable
        The items the user actually watched.
    recommended : iterable of hashable
        Recommended items, best first. Only the first ``k`` positions are used.
    k : int
        Cut-off, an integer >= 1.
    gains : mapping of item to float, optional
        Graded gain of each relevant item; finite and >= 0. Must cover every item in
        ``relevant``; entries for other items are ignored.

    Returns
    -------
    float
        NDCG@k in [0, 1]; 0.0 when ``relevant`` is empty or all its gains are 0.

    Raises
    ------
    ValueError
        If ``k`` is not an integer >= 1, or ``gains`` lacks a relevant item or holds a
        negative or non-finite gain for one.

    Examples
    --------
    Binary: one hit at rank 2, DCG = 1/log2(3) = 0.6309, ideal = 1/log2(2) = 1.

    >>> round(ndcg_at_k({"a"}, ["b", "a", "c"], k=3), 4)
    0.6309

    Graded: DCG = 1/log2(2) + 3/log2(3) = 2.8928; ideal puts gain 3 first:
    3/log2(2) + 1/log2(3) = 3.6309; NDCG = 2.8928 / 3.6309.

    >>> round(ndcg_at_k({"a", "b"}, ["a", "b"], k=2, gains={"a": 1.0, "b": 3.0}), 4)
    0.7967
    """
    return _score_user(relevant, recommended, k, _ndcg(gains))


def precision_at_k(relevant: Iterable[Hashable], recommended: Iterable[Hashable], k: int) -> float:
    """Precision at k for one user.

    ``P@k = (relevant items in the first k positions) / k``, a repeated item counting once.
    The denominator is always ``k``, even when fewer than ``k`` items are recommended or the
    user has fewer than ``k`` relevant items. See :func:`mean_precision_at_k` for how this
    differs from implicit's ``"precision"``.

    Parameters
    ----------
    relevant : iterable of hashable
        The items the user actually watched.
    recommended : iterable of hashable
        Recommended items, best first. Only the first ``k`` positions are used.
    k : int
        Cut-off, an integer >= 1.

    Returns
    -------
    float
        P@k in [0, 1]; 0.0 when ``relevant`` is empty.

    Raises
    ------
    ValueError
        If ``k`` is not an integer >= 1.

    Examples
    --------
    One hit in the first 4: 1 / 4.

    >>> precision_at_k([1, 2], [2, 5, 6, 7, 1], k=4)
    0.25
    """
    return _score_user(relevant, recommended, k, _precision)


def recall_at_k(relevant: Iterable[Hashable], recommended: Iterable[Hashable], k: int) -> float:
    """Recall at k for one user.

    ``R@k = (relevant items in the first k positions) / |relevant|``, a repeated item
    counting once. The denominator is not capped at ``k``, so R@k stays below 1 when the
    user has more than ``k`` relevant items.

    Parameters
    ----------
    relevant : iterable of hashable
        The items the user actually watched.
    recommended : iterable of hashable
        Recommended items, best first. Only the first ``k`` positions are used.
    k : int
        Cut-off, an integer >= 1.

    Returns
    -------
    float
        R@k in [0, 1]; 0.0 when ``relevant`` is empty.

    Raises
    ------
    ValueError
        If ``k`` is not an integer >= 1.

    Examples
    --------
    One of four relevant items in the first 2: 1 / 4.

    >>> recall_at_k({1, 2, 3, 4}, [9, 3, 1], k=2)
    0.25
    """
    return _score_user(relevant, recommended, k, _recall)


def hit_rate_at_k(relevant: Iterable[Hashable], recommended: Iterable[Hashable], k: int) -> float:
    """Hit rate at k for one user: 1.0 if any of the first k items is relevant, else 0.0.

    Parameters
    ----------
    relevant : iterable of hashable
        The items the user actually watched.
    recommended : iterable of hashable
        Recommended items, best first. Only the first ``k`` positions are used.
    k : int
        Cut-off, an integer >= 1.

    Returns
    -------
    float
        1.0 or 0.0; 0.0 when ``relevant`` is empty.

    Raises
    ------
    ValueError
        If ``k`` is not an integer >= 1.

    Examples
    --------
    >>> hit_rate_at_k({"a"}, ["b", "a"], k=2), hit_rate_at_k({"a"}, ["b", "a"], k=1)
    (1.0, 0.0)
    """
    return _score_user(relevant, recommended, k, _hit_rate)


def mrr_at_k(relevant: Iterable[Hashable], recommended: Iterable[Hashable], k: int) -> float:
    """Reciprocal rank at k for one user.

    ``RR@k = 1 / (rank of the first relevant item)`` if that rank is <= k, else 0.0.
    Averaged over users by :func:`mean_mrr_at_k` it is MRR@k.

    Parameters
    ----------
    relevant : iterable of hashable
        The items the user actually watched.
    recommended : iterable of hashable
        Recommended items, best first. Only the first ``k`` positions are used.
    k : int
        Cut-off, an integer >= 1.

    Returns
    -------
    float
        RR@k in [0, 1]; 0.0 when ``relevant`` is empty.

    Raises
    ------
    ValueError
        If ``k`` is not an integer >= 1.

    Examples
    --------
    First hit at rank 4: 1 / 4.

    >>> mrr_at_k({7}, [1, 2, 3, 7], k=5)
    0.25
    """
    return _score_user(relevant, recommended, k, _reciprocal_rank)


# --- public API: mean over users ---------------------------------------------------------------


def map_at_k(
    relevant_lists: Collection[Iterable[Hashable]],
    recommended_lists: Collection[Iterable[Hashable]],
    k: int,
) -> float:
    """Mean average precision at k over users.

    ``MAP@k = mean of average_precision_at_k(relevant, recommended, k)`` over the users with
    at least one relevant item; users with none are left out of both sum and count.
    This equals implicit's ``ranking_metrics_at_k(...)["map"]`` for the same
    recommendations (implicit also divides by ``min(K, |relevant|)`` and skips users with no
    test items).

    Parameters
    ----------
    relevant_lists : collection of iterables of hashable
        Per user, the items they actually watched.
    recommended_lists : collection of iterables of hashable
        Per user (same order and length), recommended items, best first.
    k : int
        Cut-off, an integer >= 1.

    Returns
    -------
    float
        MAP@k in [0, 1]; 0.0 when no user has a relevant item.

    Raises
    ------
    ValueError
        If ``k`` is not an integer >= 1, or the two lists differ in length.

    Examples
    --------
    User 1: AP = 1.0; user 2: AP = (1/2) / 1 = 0.5; user 3 has no relevant item and is
    skipped: (1.0 + 0.5) / 2.

    >>> map_at_k([{1}, {2}, set()], [[1, 3], [3, 2], [1, 2]], k=2)
    0.75
    """
    return _score_mean(relevant_lists, recommended_lists, k, _average_precision)


def mean_ndcg_at_k(
    relevant_lists: Collection[Iterable[Hashable]],
    recommended_lists: Collection[Iterable[Hashable]],
    k: int,
    gains_list: Collection[Mapping[Hashable, float] | None] | None = None,
) -> float:
    """Mean NDCG at k over users.

    The mean of :func:`ndcg_at_k` over the users with at least one relevant item; users with
    none are left out of both sum and count. With binary gains this equals implicit's
    ``ranking_metrics_at_k(...)["ndcg"]`` for the same recommendations.

    Parameters
    ----------
    relevant_lists : collection of iterables of hashable
        Per user, the items they actually watched.
    recommended_lists : collection of iterables of hashable
        Per user (same order and length), recommended items, best first.
    k : int
        Cut-off, an integer >= 1.
    gains_list : collection of (mapping of item to float, or None), optional
        Per user (same order and length), graded gains as in :func:`ndcg_at_k`; ``None``
        (for the whole argument or for one user) means binary gains.

    Returns
    -------
    float
        Mean NDCG@k in [0, 1]; 0.0 when no user has a relevant item.

    Raises
    ------
    ValueError
        If ``k`` is not an integer >= 1, the lists differ in length, or a user's gains are
        invalid (see :func:`ndcg_at_k`).

    Examples
    --------
    User 1: perfect, 1.0; user 2: hit at rank 2, 1/log2(3) = 0.6309. Mean = 0.8155.

    >>> round(mean_ndcg_at_k([{"a"}, {"b"}], [["a", "b"], ["a", "b"]], k=2), 4)
    0.8155
    """
    if gains_list is None:
        return _score_mean(relevant_lists, recommended_lists, k, _binary_ndcg)
    _check_lists(relevant_lists, recommended_lists, k)
    if len(gains_list) != len(relevant_lists):
        raise ValueError(
            "gains_list must have the same length as relevant_lists, got "
            f"len(gains_list)={len(gains_list)} and len(relevant_lists)={len(relevant_lists)}"
        )
    scorers = [_ndcg(gains) for gains in gains_list]
    return _score_mean(relevant_lists, recommended_lists, k, scorers)


def mean_precision_at_k(
    relevant_lists: Collection[Iterable[Hashable]],
    recommended_lists: Collection[Iterable[Hashable]],
    k: int,
) -> float:
    """Mean precision at k over users.

    The mean of :func:`precision_at_k` (hits in the first k / k) over the users with at least
    one relevant item.

    Parameters
    ----------
    relevant_lists : collection of iterables of hashable
        Per user, the items they actually watched.
    recommended_lists : collection of iterables of hashable
        Per user (same order and length), recommended items, best first.
    k : int
        Cut-off, an integer >= 1.

    Returns
    -------
    float
        Mean P@k in [0, 1]; 0.0 when no user has a relevant item.

    Raises
    ------
    ValueError
        If ``k`` is not an integer >= 1, or the two lists differ in length.

    Notes
    -----
    This is not implicit's ``ranking_metrics_at_k(...)["precision"]``. implicit pools the
    counts over users and caps each denominator at the user's number of relevant items:
    ``sum over users of hits_u / sum over users of min(K, |relevant_u|)``. That makes it
    1.0 for a user with one relevant item found in the top 10, where P@10 here is 0.1, and
    weights users by their denominators instead of equally. The two agree only when every
    user has at least ``K`` relevant items.

    Examples
    --------
    User 1: 2 hits / 2 = 1.0; user 2: 0 / 2 = 0.0; mean = 0.5.

    >>> mean_precision_at_k([[1, 2], [3]], [[1, 2], [4, 5]], k=2)
    0.5
    """
    return _score_mean(relevant_lists, recommended_lists, k, _precision)


def mean_recall_at_k(
    relevant_lists: Collection[Iterable[Hashable]],
    recommended_lists: Collection[Iterable[Hashable]],
    k: int,
) -> float:
    """Mean recall at k over users.

    The mean of :func:`recall_at_k` (hits in the first k / |relevant|) over the users with at
    least one relevant item.

    Parameters
    ----------
    relevant_lists : collection of iterables of hashable
        Per user, the items they actually watched.
    recommended_lists : collection of iterables of hashable
        Per user (same order and length), recommended items, best first.
    k : int
        Cut-off, an integer >= 1.

    Returns
    -------
    float
        Mean R@k in [0, 1]; 0.0 when no user has a relevant item.

    Raises
    ------
    ValueError
        If ``k`` is not an integer >= 1, or the two lists differ in length.

    Examples
    --------
    User 1: 1 of 2 = 0.5; user 2: 1 of 1 = 1.0; mean = 0.75.

    >>> mean_recall_at_k([[1, 2], [3]], [[1, 9], [3, 9]], k=2)
    0.75
    """
    return _score_mean(relevant_lists, recommended_lists, k, _recall)


def mean_hit_rate_at_k(
    relevant_lists: Collection[Iterable[Hashable]],
    recommended_lists: Collection[Iterable[Hashable]],
    k: int,
) -> float:
    """Mean hit rate at k: the share of users (with a relevant item) with a hit in the top k.

    Parameters
    ----------
    relevant_lists : collection of iterables of hashable
        Per user, the items they actually watched.
    recommended_lists : collection of iterables of hashable
        Per user (same order and length), recommended items, best first.
    k : int
        Cut-off, an integer >= 1.

    Returns
    -------
    float
        Mean hit rate in [0, 1]; 0.0 when no user has a relevant item.

    Raises
    ------
    ValueError
        If ``k`` is not an integer >= 1, or the two lists differ in length.

    Examples
    --------
    Users 1 and 3 hit, user 2 misses: 2 / 3.

    >>> round(mean_hit_rate_at_k([{1}, {2}, {3}], [[1], [9], [3]], k=1), 4)
    0.6667
    """
    return _score_mean(relevant_lists, recommended_lists, k, _hit_rate)


def mean_mrr_at_k(
    relevant_lists: Collection[Iterable[Hashable]],
    recommended_lists: Collection[Iterable[Hashable]],
    k: int,
) -> float:
    """Mean reciprocal rank at k (MRR@k) over users with at least one relevant item.

    The mean of :func:`mrr_at_k` (1 / rank of the first hit within k, else 0).

    Parameters
    ----------
    relevant_lists : collection of iterables of hashable
        Per user, the items they actually watched.
    recommended_lists : collection of iterables of hashable
        Per user (same order and length), recommended items, best first.
    k : int
        Cut-off, an integer >= 1.

    Returns
    -------
    float
        MRR@k in [0, 1]; 0.0 when no user has a relevant item.

    Raises
    ------
    ValueError
        If ``k`` is not an integer >= 1, or the two lists differ in length.

    Examples
    --------
    First hits at ranks 1 and 2: (1/1 + 1/2) / 2.

    >>> mean_mrr_at_k([{"a"}, {"b"}], [["a", "b"], ["a", "b"]], k=2)
    0.75
    """
    return _score_mean(relevant_lists, recommended_lists, k, _reciprocal_rank)


# --- public API: everything at once ------------------------------------------------------------

# Report keys in output order, with the scorer behind each.
_REPORT_SCORERS: tuple[tuple[str, _Scorer], ...] = (
    ("map", _average_precision),
    ("ndcg", _binary_ndcg),
    ("precision", _precision),
    ("recall", _recall),
    ("hit_rate", _hit_rate),
    ("mrr", _reciprocal_rank),
)


def ranking_report(
    relevant_lists: Collection[Iterable[Hashable]],
    recommended_lists: Collection[Iterable[Hashable]],
    ks: Iterable[int] = (1, 5, 10),
) -> dict[str, float]:
    """All mean metrics at several cut-offs in one pass over the users.

    For each ``k`` in ``ks`` the report holds ``"map@k"``, ``"ndcg@k"`` (binary gains),
    ``"precision@k"``, ``"recall@k"``, ``"hit_rate@k"`` and ``"mrr@k"``, each exactly the value
    of the matching function (:func:`map_at_k`, :func:`mean_ndcg_at_k`,
    :func:`mean_precision_at_k`, :func:`mean_recall_at_k`, :func:`mean_hit_rate_at_k`,
    :func:`mean_mrr_at_k`), plus ``"users"``: the number of users with at least one relevant
    item, i.e. the number every mean is taken over.

    Parameters
    ----------
    relevant_lists : collection of iterables of hashable
        Per user, the items they actually watched.
    recommended_lists : collection of iterables of hashable
        Per user (same order and length), recommended items, best first.
    ks : iterable of int, default (1, 5, 10)
        Cut-offs, each an integer >= 1. Repeats are reported once; keys follow the order given.

    Returns
    -------
    dict of str to float
        Metric name ``"<metric>@<k>"`` to value, and ``"users"`` to the user count (an int).

    Raises
    ------
    ValueError
        If ``ks`` is empty or holds a value that is not an integer >= 1, or the two lists
        differ in length.

    Examples
    --------
    >>> report = ranking_report([{1}, {2}, set()], [[1, 3], [3, 2], [1, 2]], ks=(1, 2))
    >>> report["map@1"], report["map@2"], report["hit_rate@2"], report["users"]
    (0.5, 0.75, 1.0, 2)
    """
    # dict.fromkeys drops repeated cut-offs but keeps the caller's order.
    checked_ks = list(dict.fromkeys(_check_k(k) for k in ks))
    if not checked_ks:
        raise ValueError("ks must hold at least one cut-off, got none")
    _check_same_length(relevant_lists, recommended_lists)
    k_max = max(checked_ks)
    totals = {k: [0.0] * len(_REPORT_SCORERS) for k in checked_ks}
    users = 0
    # Whether a position scores depends only on the positions before it, so the hits within a
    # smaller k are a prefix of the hits within k_max: match each user once.
    for _, rel, hits in _scored_users(relevant_lists, recommended_lists, k_max):
        users += 1
        for k, sums in totals.items():
            within_k = hits[: bisect_right(hits, k, key=lambda hit: hit[0])]
            for index, (_, scorer) in enumerate(_REPORT_SCORERS):
                sums[index] += scorer(rel, within_k, k)
    report: dict[str, float] = {}
    for k, sums in totals.items():
        for (name, _), total in zip(_REPORT_SCORERS, sums, strict=True):
            report[f"{name}@{k}"] = total / users if users else 0.0
    report["users"] = users
    return report

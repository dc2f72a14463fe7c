"""The ranking metrics averaged over users (MAP@k, mean NDCG@k, ...) and all of them at once.

Definitions and shared rules in :mod:`streamrec.evaluation.metrics`.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Collection, Hashable, Iterable, Mapping

from streamrec.evaluation.metric_inputs import (
    _check_k,
    _check_lists,
    _check_same_length,
    _shared_docs,
)
from streamrec.evaluation.scorers import (
    _average_precision,
    _binary_ndcg,
    _hit_rate,
    _ndcg,
    _precision,
    _recall,
    _reciprocal_rank,
    _score_mean,
    _scored_users,
    _Scorer,
)


@_shared_docs
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
    %(lists_parameters)s

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


@_shared_docs
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
    %(lists_parameters)s
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


@_shared_docs
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
    %(lists_parameters)s

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


@_shared_docs
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
    %(lists_parameters)s

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


@_shared_docs
def mean_hit_rate_at_k(
    relevant_lists: Collection[Iterable[Hashable]],
    recommended_lists: Collection[Iterable[Hashable]],
    k: int,
) -> float:
    """Mean hit rate at k: the share of users (with a relevant item) with a hit in the top k.

    Parameters
    ----------
    %(lists_parameters)s

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


@_shared_docs
def mean_mrr_at_k(
    relevant_lists: Collection[Iterable[Hashable]],
    recommended_lists: Collection[Iterable[Hashable]],
    k: int,
) -> float:
    """Mean reciprocal rank at k (MRR@k) over users with at least one relevant item.

    The mean of :func:`mrr_at_k` (1 / rank of the first hit within k, else 0).

    Parameters
    ----------
    %(lists_parameters)s

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

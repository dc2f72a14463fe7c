"""The ranking metrics of one user's list: AP, NDCG, precision, recall, hit rate and RR at k.

Definitions and shared rules in :mod:`streamrec.evaluation.metrics`.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping

from streamrec.evaluation.metric_inputs import _shared_docs
from streamrec.evaluation.scorers import (
    _average_precision,
    _hit_rate,
    _ndcg,
    _precision,
    _recall,
    _reciprocal_rank,
    _score_user,
)


@_shared_docs
def average_precision_at_k(
    relevant: Iterable[Hashable], recommended: Iterable[Hashable], k: int
) -> float:
    """Average precision at k for one user.

    ``AP@k = (sum of precision@i over the ranks i <= k that hold a relevant item)
    / min(k, |relevant|)``, where ``precision@i = (relevant items in the first i) / i``.
    A repeated recommended item counts as relevant only at its first occurrence.

    Parameters
    ----------
    %(user_parameters)s

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


@_shared_docs
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
    %(user_parameters)s
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


@_shared_docs
def precision_at_k(relevant: Iterable[Hashable], recommended: Iterable[Hashable], k: int) -> float:
    """Precision at k for one user.

    ``P@k = (relevant items in the first k positions) / k``, a repeated item counting once.
    The denominator is always ``k``, even when fewer than ``k`` items are recommended or the
    user has fewer than ``k`` relevant items. See :func:`mean_precision_at_k` for how this
    differs from implicit's ``"precision"``.

    Parameters
    ----------
    %(user_parameters)s

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


@_shared_docs
def recall_at_k(relevant: Iterable[Hashable], recommended: Iterable[Hashable], k: int) -> float:
    """Recall at k for one user.

    ``R@k = (relevant items in the first k positions) / |relevant|``, a repeated item
    counting once. The denominator is not capped at ``k``, so R@k stays below 1 when the
    user has more than ``k`` relevant items.

    Parameters
    ----------
    %(user_parameters)s

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


@_shared_docs
def hit_rate_at_k(relevant: Iterable[Hashable], recommended: Iterable[Hashable], k: int) -> float:
    """Hit rate at k for one user: 1.0 if any of the first k items is relevant, else 0.0.

    Parameters
    ----------
    %(user_parameters)s

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


@_shared_docs
def mrr_at_k(relevant: Iterable[Hashable], recommended: Iterable[Hashable], k: int) -> float:
    """Reciprocal rank at k for one user.

    ``RR@k = 1 / (rank of the first relevant item)`` if that rank is <= k, else 0.0.
    Averaged over users by :func:`mean_mrr_at_k` it is MRR@k.

    Parameters
    ----------
    %(user_parameters)s

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

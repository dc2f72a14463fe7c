"""The ranking metrics of :mod:`streamrec.evaluation.metrics`, vectorised over users and cut-offs.

:mod:`streamrec.evaluation.metrics` defines every metric on one user's lists and is the reference;
this module computes exactly the same numbers (the tests check equality with
:func:`streamrec.evaluation.metrics.ranking_report`) from a users x ranks hit matrix, for every
cut-off ``k = 1..K`` at once, which an evaluation over 100k users and 50 cut-offs needs. Lists are
top-k lists without repeated items, so the "first occurrence" rule of the reference never applies.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

METRICS = ("map", "ndcg", "precision", "recall", "hit_rate", "mrr")


def hit_matrix(recommended: np.ndarray, relevant: sp.csr_matrix) -> np.ndarray:
    """``hits[u, r]`` is True when ``recommended[u, r]`` is a stored item of ``relevant[u]``.

    Parameters
    ----------
    recommended : numpy.ndarray
        ``(n_users, K)`` item indices, ``-1`` for padding (never a hit).
    relevant : scipy.sparse.csr_matrix
        ``n_users`` rows; row ``u`` holds user ``u``'s relevant items.

    Returns
    -------
    numpy.ndarray
        ``(n_users, K)`` bool.
    """
    n_users, n_items = relevant.shape
    if recommended.shape[0] != n_users:
        raise ValueError(f"recommended has {recommended.shape[0]} rows but relevant has {n_users}")
    relevant = sp.csr_matrix(relevant)
    relevant.sum_duplicates()  # sorted, unique indices per row
    # Row-major keys u * n_items + i are globally sorted, so one binary search finds them all.
    rows = np.repeat(np.arange(n_users, dtype=np.int64), np.diff(relevant.indptr))
    keys = rows * n_items + relevant.indices
    if len(keys) == 0:
        return np.zeros(recommended.shape, dtype=bool)
    wanted = np.arange(n_users, dtype=np.int64)[:, None] * n_items + recommended
    pos = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
    return (keys[pos] == wanted) & (recommended >= 0)


def metrics_at_ks(hits: np.ndarray, n_relevant: np.ndarray) -> dict[str, np.ndarray]:
    """Mean MAP, NDCG, precision, recall, hit rate and MRR at every cut-off ``k = 1..K``.

    With ``h_r`` the hit at rank ``r``, ``H_k = sum_{r<=k} h_r`` and ``n`` the user's relevant
    count (formulas of :mod:`streamrec.evaluation.metrics`):

    * ``precision@k = H_k / k``, ``recall@k = H_k / n``, ``hit_rate@k = [H_k > 0]``;
    * ``mrr@k = 1 / (first hit rank)`` if that rank is <= k, else 0;
    * ``map@k = sum_{r<=k} h_r * H_r / r / min(k, n)``;
    * ``ndcg@k = sum_{r<=k} h_r / log2(r + 1) / sum_{i<=min(k, n)} 1 / log2(i + 1)``.

    Means are over users with ``n > 0``; 0.0 when there are none.

    Parameters
    ----------
    hits : numpy.ndarray
        ``(n_users, K)`` bool, from :func:`hit_matrix`.
    n_relevant : numpy.ndarray
        ``(n_users,)`` relevant items per user (not capped at K).

    Returns
    -------
    dict of str to numpy.ndarray
        For each name in ``METRICS``, a float64 array whose entry ``k - 1`` is the mean at
        cut-off ``k``; and ``"users"``, the number of users averaged over (an int in an array
        of shape ``()``).

    Examples
    --------
    >>> m = metrics_at_ks(np.array([[True, False], [False, True]]), np.array([1, 2]))
    >>> m["map"].tolist(), m["hit_rate"].tolist()
    ([0.5, 0.625], [0.5, 1.0])
    """
    hits = np.asarray(hits, dtype=bool)
    n_relevant = np.asarray(n_relevant)
    counted = n_relevant > 0
    hits, n = hits[counted].astype(np.float64), n_relevant[counted].astype(np.float64)
    users = len(n)
    n_ranks = hits.shape[1]
    ranks = np.arange(1, n_ranks + 1, dtype=np.float64)
    discount = 1.0 / np.log2(ranks + 1)
    ideal = np.cumsum(discount)
    cum_hits = np.cumsum(hits, axis=1)
    capped = np.minimum(ranks[None, :], n[:, None])  # min(k, n)
    first = np.where(hits.any(axis=1), hits.argmax(axis=1) + 1, n_ranks + 1)
    per_user = {
        "map": np.cumsum(hits * cum_hits / ranks, axis=1) / capped,
        "ndcg": np.cumsum(hits * discount, axis=1) / ideal[capped.astype(np.int64) - 1],
        "precision": cum_hits / ranks,
        "recall": cum_hits / n[:, None],
        "hit_rate": (cum_hits > 0).astype(np.float64),
        "mrr": np.where(first[:, None] <= ranks[None, :], 1.0 / first[:, None], 0.0),
    }
    result = {
        name: values.mean(axis=0) if users else np.zeros(n_ranks)
        for name, values in per_user.items()
    }
    result["users"] = np.array(users)
    return result

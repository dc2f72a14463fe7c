"""Top-k selection over batches of score rows, and the rank of one item among candidates.

Order everywhere: higher score first; among equal scores, the lower item index first. Items
scored ``-inf`` are never recommended (that is how filters are applied); a row with fewer than
``k`` other items is padded with ``-1``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

PAD = -1
# Columns per group when looking for a row's top k (see _candidates).
_GROUP = 64


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` best item indices of each row of ``scores``, best first.

    Parameters
    ----------
    scores : numpy.ndarray
        ``(n_rows, n_items)`` float scores; ``-inf`` marks an item that must not be returned.
    k : int
        List length, >= 1.

    Returns
    -------
    numpy.ndarray
        ``(n_rows, k)`` int32 item indices, padded with ``-1`` where a row has fewer than ``k``
        finite-or-``+inf`` scores.

    Examples
    --------
    >>> top_k(np.array([[0.1, 0.5, -np.inf, 0.5]]), 4).tolist()
    [[1, 3, 0, -1]]
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    scores = np.ascontiguousarray(scores)
    if scores.ndim != 2:
        raise ValueError(f"scores must be 2-D (rows x items), got shape {scores.shape}")
    n_rows, n_items = scores.shape
    width = min(k, n_items)
    if n_items // _GROUP < max(4 * width, _GROUP):
        # Few items: sorting every row outright is cheap.
        top = np.argsort(-scores, axis=1, kind="stable")[:, :width]
        values = np.take_along_axis(scores, top, axis=1)
    else:
        top, values = _top_of_candidates(scores, width, _candidates(scores, width))
    top = np.where(values == -np.inf, PAD, top).astype(np.int32)
    if width < k:
        top = np.hstack([top, np.full((n_rows, k - width), PAD, dtype=np.int32)])
    return top


def _top_of_candidates(
    scores: np.ndarray, k: int, flat: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The top ``k`` (indices, scores) of each row among the flat candidate indices."""
    n_rows, n_items = scores.shape
    rows, cols = np.divmod(flat, n_items)
    values = scores.ravel()[flat]
    # Candidates come in row-major order, so a stable sort by (row, -score) keeps the lower
    # index first among equal scores (lexsort is stable; its last key is the primary one).
    order = np.lexsort((-values, rows))
    rows, cols, values = rows[order], cols[order], values[order]
    # Position of each candidate within its row: every row has at least k candidates.
    starts = np.searchsorted(rows, np.arange(n_rows))
    position = np.arange(len(rows)) - starts[rows]
    keep = position < k
    top = np.empty((n_rows, k), dtype=np.int64)
    top_values = np.empty((n_rows, k), dtype=scores.dtype)
    top[rows[keep], position[keep]] = cols[keep]
    top_values[rows[keep], position[keep]] = values[keep]
    return top, top_values


def _candidates(scores: np.ndarray, k: int) -> np.ndarray:
    """Flat (row-major) indices holding every row's top ``k``, and typically few more.

    Split each row's columns into ``g`` groups (column ``j`` goes to group ``j mod g``, so the
    group maxima are an element-wise maximum of ``_GROUP`` contiguous slices: one fast pass)
    and take ``m``, the k-th largest group maximum. The k largest group maxima are k distinct
    scores, so ``m`` is at most the row's k-th largest score: every score >= ``m`` is a
    candidate, and those lie in about k groups. Partitioning ``g`` maxima is much cheaper than
    partitioning every full row.
    """
    n_rows, n_items = scores.shape
    groups = n_items // _GROUP  # >= _GROUP (see top_k), so the < _GROUP tail columns fit
    body = groups * _GROUP
    maxima = scores[:, :body].reshape(n_rows, _GROUP, groups).max(axis=1)
    tail = n_items - body  # < _GROUP leftover columns join the first groups
    np.maximum(maxima[:, :tail], scores[:, body:], out=maxima[:, :tail])
    kth = groups - k
    threshold = np.partition(maxima, kth, axis=1)[:, kth]
    return np.flatnonzero(scores >= threshold[:, None])


def exclude(
    scores: np.ndarray, user_items: sp.csr_matrix, columns: np.ndarray | None = None
) -> None:
    """Set ``scores[r, i] = -inf`` in place wherever ``user_items[r, i]`` is stored.

    Parameters
    ----------
    scores : numpy.ndarray
        ``(n_rows, n_cols)`` float scores.
    user_items : scipy.sparse.csr_matrix
        ``n_rows`` rows over all items: the items to drop, per row.
    columns : numpy.ndarray, optional
        The item index of each score column when the scores cover a subset of the items
        (sorted); all items when None.
    """
    coo = user_items.tocoo()
    rows, cols = coo.row, coo.col
    if columns is not None:
        pos = np.searchsorted(columns, cols)
        pos = np.minimum(pos, len(columns) - 1)
        keep = columns[pos] == cols
        rows, cols = rows[keep], pos[keep]
    scores[rows, cols] = -np.inf


def rank_among(
    scores: np.ndarray,
    targets: np.ndarray,
    candidate_rows: np.ndarray,
    candidate_cols: np.ndarray,
) -> np.ndarray:
    """1-based rank of each row's target item among that row's candidates.

    ``rank = 1 + #{candidates c : s_c > s_t or (s_c == s_t and c < t)}``: the position the
    target would have in :func:`top_k` over the candidates alone.

    Parameters
    ----------
    scores : numpy.ndarray
        ``(n_rows, n_cols)`` scores.
    targets : numpy.ndarray
        Per row, the column of the target (it need not be among the candidates).
    candidate_rows, candidate_cols : numpy.ndarray
        The candidates as (row, column) pairs, in any order, each pair at most once.

    Returns
    -------
    numpy.ndarray
        int64 ranks, >= 1.
    """
    rows = np.arange(len(targets))
    target_scores = scores[rows, targets]
    candidate_scores = scores[candidate_rows, candidate_cols]
    own = target_scores[candidate_rows]
    ahead = (candidate_scores > own) | (
        (candidate_scores == own) & (candidate_cols < targets[candidate_rows])
    )
    return 1 + np.bincount(candidate_rows[ahead], minlength=len(targets))

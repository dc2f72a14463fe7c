from __future__ import annotations

import doctest

import numpy as np
import pytest
import scipy.sparse as sp

from streamrec import topk
from streamrec.topk import PAD, exclude, rank_among, top_k


def reference_top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Sort every row outright: score descending, lower index first, -inf never returned."""
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    order = np.where(np.take_along_axis(scores, order, axis=1) == -np.inf, PAD, order)
    pad = np.full((len(scores), max(0, k - scores.shape[1])), PAD)
    return np.hstack([order, pad])


@pytest.mark.parametrize("n_items", [1, 7, 300, 5_000, 20_011])
@pytest.mark.parametrize("k", [1, 10, 50])
def test_top_k_matches_full_sort_with_ties_and_filtered_items(n_items: int, k: int) -> None:
    rng = np.random.default_rng(n_items + k)
    # Few distinct values: many ties, which must go to the lower index.
    scores = rng.integers(0, 6, size=(9, n_items)).astype(np.float32)
    scores[rng.random(scores.shape) < 0.3] = -np.inf
    scores[0] = -np.inf  # a row with nothing left
    assert np.array_equal(top_k(scores, k), reference_top_k(scores, k))


def test_top_k_on_continuous_scores_uses_the_candidate_path() -> None:
    rng = np.random.default_rng(1)
    scores = rng.standard_normal((20, 50_000)).astype(np.float32)
    scores[:, -3:] += 10  # the best items sit in the leftover tail columns
    assert np.array_equal(top_k(scores, 50), reference_top_k(scores, 50))


def test_top_k_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="k must be >= 1, got 0"):
        top_k(np.zeros((1, 3)), 0)
    with pytest.raises(ValueError, match="scores must be 2-D"):
        top_k(np.zeros(3), 1)


def test_exclude_with_and_without_candidate_columns() -> None:
    watched = sp.csr_matrix(np.array([[1, 0, 2, 0], [0, 0, 0, 3]], dtype=np.float32))
    scores = np.ones((2, 4))
    exclude(scores, watched)
    assert np.isinf(scores).tolist() == [[True, False, True, False], [False, False, False, True]]
    subset = np.ones((2, 2))
    exclude(subset, watched, columns=np.array([1, 2]))
    assert np.isinf(subset).tolist() == [[False, True], [False, False]]


def test_rank_among_is_the_position_in_top_k_over_the_candidates() -> None:
    rng = np.random.default_rng(2)
    scores = rng.integers(0, 4, size=(30, 12)).astype(np.float64)
    targets = rng.integers(0, 12, 30)
    rows, cols = [], []
    for r, t in enumerate(targets):
        cand = np.union1d(rng.choice(12, 5, replace=False), [t])
        rows += [r] * len(cand)
        cols += cand.tolist()
    rows, cols = np.array(rows), np.array(cols)
    ranks = rank_among(scores, targets, rows, cols)
    for r, t in enumerate(targets):
        masked = np.full(12, -np.inf)
        masked[cols[rows == r]] = scores[r, cols[rows == r]]
        order = top_k(masked[None, :], 12)[0].tolist()
        assert ranks[r] == order.index(t) + 1


def test_doctests() -> None:
    assert doctest.testmod(topk).failed == 0

from __future__ import annotations

import doctest

import numpy as np
import pytest
import scipy.sparse as sp

from streamrec.ranking import topn


def reference(scores: np.ndarray, n: int) -> np.ndarray:
    """Row-wise top n by (score desc, index asc), -1 where fewer finite scores."""
    out = np.full((len(scores), min(n, scores.shape[1])), -1, dtype=np.int32)
    for r, row in enumerate(scores):
        idx = np.flatnonzero(np.isfinite(row))
        best = idx[np.lexsort((idx, -row[idx]))][:n]
        out[r, : len(best)] = best
    return out


def reference_padded(scores: np.ndarray, k: int) -> np.ndarray:
    """``reference``, padded with ``PAD`` to ``k`` columns when there are fewer items."""
    pad = np.full((len(scores), max(0, k - scores.shape[1])), topn.PAD, dtype=np.int32)
    return np.hstack([reference(scores, k), pad])


@pytest.mark.parametrize("n_items", [50, 5000])
def test_select_matches_reference_with_ties_and_excluded(n_items: int) -> None:
    rng = np.random.default_rng(1)
    # Integer scores in a small range: many ties, so the tie rule is exercised.
    scores = rng.integers(0, 40, size=(30, n_items)).astype(np.float32)
    scores[rng.random(scores.shape) < 0.2] = -np.inf
    scores[3, :] = -np.inf  # nothing allowed
    scores[4, 5:] = -np.inf  # fewer allowed than asked
    for n in (1, 10, 128):
        np.testing.assert_array_equal(topn.select(scores, n), reference(scores, n))


def test_select_falls_back_when_the_sampled_threshold_is_too_high(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Row 0's few high scores all sit on sampled columns, so the threshold drawn from the
    # sample lets fewer than n through; that row must be solved exactly.
    n_items = 20_000
    scores = np.random.default_rng(0).random((2, n_items)).astype(np.float32)
    scores[0, :: n_items // topn._SAMPLE][:40] = 5.0
    exact_rows = []
    original = topn._select_exact

    def spy(block: np.ndarray, rows: np.ndarray, n: int) -> np.ndarray:
        exact_rows.extend(rows.tolist())
        return original(block, rows, n)

    monkeypatch.setattr(topn, "_select_exact", spy)
    np.testing.assert_array_equal(topn.select(scores, 50), reference(scores, 50))
    assert exact_rows == [0]


@pytest.mark.parametrize("threads", [1, 2])
def test_top_n_matches_brute_force(threads: int) -> None:
    rng = np.random.default_rng(2)
    users = rng.integers(-3, 4, size=(70, 8)).astype(np.float32)
    items = rng.integers(-3, 4, size=(6000, 8)).astype(np.float32)
    watched = sp.random(70, 6000, density=0.01, format="csr", random_state=3)
    banned = np.array([7, 8, 9])
    scores = users @ items.T
    scores[watched.nonzero()] = -np.inf
    scores[:, banned] = -np.inf
    got = topn.top_n(users, items, 20, watched, banned, chunk_rows=16, threads=threads)
    np.testing.assert_array_equal(got, reference(scores, 20))


def test_top_n_adds_the_boost_before_ranking() -> None:
    rng = np.random.default_rng(4)
    users = rng.standard_normal((40, 6)).astype(np.float32)
    items = rng.standard_normal((3000, 6)).astype(np.float32)
    boost = sp.random(40, 3000, density=0.01, format="csr", random_state=5, dtype=np.float32)
    boost.data *= 20
    watched = sp.random(40, 3000, density=0.01, format="csr", random_state=6)
    scores = users @ items.T + boost.toarray()
    scores[watched.nonzero()] = -np.inf
    got = topn.top_n(users, items, 15, watched, boost=boost, chunk_rows=16)
    np.testing.assert_array_equal(got, reference(scores, 15))
    with pytest.raises(ValueError, match="boost has shape"):
        topn.top_n(users, items, 1, boost=sp.csr_matrix((40, 2)))


def test_top_n_checks_shapes() -> None:
    with pytest.raises(ValueError, match="factor shapes do not match"):
        topn.top_n(np.ones((2, 3)), np.ones((4, 2)), 1)
    with pytest.raises(ValueError, match="exclude has shape"):
        topn.top_n(np.ones((2, 3)), np.ones((4, 3)), 1, exclude=sp.csr_matrix((3, 4)))
    with pytest.raises(ValueError, match="n must be >= 1, got 0"):
        topn.top_n(np.ones((2, 3)), np.ones((4, 3)), 0)


def test_top_k_orders_by_score_then_index_and_maps_candidates() -> None:
    scores = np.array([0.1, 0.9, -np.inf, 0.9, 0.5])
    assert topn.top_k(scores, 3).tolist() == [1, 3, 4]
    assert topn.top_k(scores, 10).tolist() == [1, 3, 4, 0]
    assert topn.top_k(scores, 2, candidates=np.arange(100, 105)).tolist() == [101, 103]
    with pytest.raises(ValueError, match="k must be >= 1, got 0"):
        topn.top_k(scores, 0)


@pytest.mark.parametrize("n_items", [3, 2_048, 2_049, 30_000])
def test_top_k_matches_reference_on_short_rows_and_catalogue_scans(n_items: int) -> None:
    # Integer scores: many ties; a fifth of the items filtered out with -inf.
    rng = np.random.default_rng(n_items)
    scores = rng.integers(0, 50, size=n_items).astype(np.float32)
    scores[rng.random(n_items) < 0.2] = -np.inf
    for k in (1, 10, 128, 1000):
        want = reference(scores[np.newaxis, :], k)[0]
        np.testing.assert_array_equal(topn.top_k(scores, k), want[want >= 0])
    only_two = np.full(n_items, -np.inf, dtype=np.float32)
    only_two[[n_items - 1, 0]] = 1.0
    assert topn.top_k(only_two, 10).tolist() == sorted({0, n_items - 1})


@pytest.mark.parametrize("n_items", [1, 7, 300, 5_000, 20_011])
@pytest.mark.parametrize("k", [1, 10, 50])
def test_select_padded_matches_full_sort_with_ties_and_filtered_items(n_items: int, k: int) -> None:
    rng = np.random.default_rng(n_items + k)
    # Few distinct values: many ties, which must go to the lower index.
    scores = rng.integers(0, 6, size=(9, n_items)).astype(np.float32)
    scores[rng.random(scores.shape) < 0.3] = -np.inf
    scores[0] = -np.inf  # a row with nothing left
    assert np.array_equal(topn.select_padded(scores, k), reference_padded(scores, k))


def test_select_padded_on_continuous_scores_with_the_best_in_the_last_columns() -> None:
    rng = np.random.default_rng(1)
    scores = rng.standard_normal((20, 50_000)).astype(np.float32)
    scores[:, -3:] += 10  # the best items sit in the leftover tail columns
    assert np.array_equal(topn.select_padded(scores, 50), reference_padded(scores, 50))


def test_select_padded_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="k must be >= 1, got 0"):
        topn.select_padded(np.zeros((1, 3)), 0)
    with pytest.raises(ValueError, match="scores must be 2-D"):
        topn.select_padded(np.zeros(3), 1)


def test_mask_stored_with_and_without_candidate_columns() -> None:
    watched = sp.csr_matrix(np.array([[1, 0, 2, 0], [0, 0, 0, 3]], dtype=np.float32))
    scores = np.ones((2, 4))
    topn.mask_stored(scores, watched)
    assert np.isinf(scores).tolist() == [[True, False, True, False], [False, False, False, True]]
    subset = np.ones((2, 2))
    topn.mask_stored(subset, watched, columns=np.array([1, 2]))
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
    ranks = topn.rank_among(scores, targets, rows, cols)
    for r, t in enumerate(targets):
        masked = np.full(12, -np.inf)
        masked[cols[rows == r]] = scores[r, cols[rows == r]]
        order = topn.select_padded(masked[None, :], 12)[0].tolist()
        assert ranks[r] == order.index(t) + 1


def test_doctests() -> None:
    assert doctest.testmod(topn).failed == 0

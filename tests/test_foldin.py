from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from threadpoolctl import threadpool_limits

from streamrec.model import artifact
from streamrec.model.als import ALSParams, confidence_weights
from streamrec.ranking.foldin import FoldIn, params_from_metadata
from streamrec.serving.recommender import Recommender


def implicit_model(item_factors: np.ndarray, params: ALSParams) -> AlternatingLeastSquares:
    # implicit warns when BLAS has more than one thread, and warnings are errors here.
    with threadpool_limits(limits=1, user_api="blas"):
        model = AlternatingLeastSquares(
            factors=item_factors.shape[1],
            regularization=params.regularization,
            alpha=params.alpha,
        )
    model.item_factors = item_factors
    model.user_factors = np.zeros((1, item_factors.shape[1]), dtype=np.float32)
    return model


@pytest.mark.parametrize("confidence", ["log", "linear"])
def test_fold_in_agrees_with_implicit_recalculate_user(
    checkerboard_artifact: artifact.Artifact, confidence: str
) -> None:
    params = ALSParams(factors=4, regularization=0.3, alpha=2.5, confidence=confidence, eps=2.0)
    items, watch = np.array([0, 4, 6, 12]), np.array([3.0, 1.0, 7.0, 2.0])
    row = sp.csr_matrix((watch, (np.zeros(4), items)), shape=(1, 20), dtype=np.float32)
    model = implicit_model(checkerboard_artifact.item_factors, params)
    with threadpool_limits(limits=1, user_api="blas"):
        expected = model.recalculate_user(0, confidence_weights(row, params))
    got = FoldIn(checkerboard_artifact.item_factors, params).user_factors(items, watch)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_recommend_for_history_ranks_like_implicit_recalculate_user(
    checkerboard_artifact: artifact.Artifact,
) -> None:
    rec = Recommender(checkerboard_artifact)
    params = params_from_metadata(checkerboard_artifact.metadata)
    history = [("s02", 4.0), ("s08", 2.0), ("s10", 5.0), ("s02", 1.0)]  # s02 repeats: adds up
    items, watch = np.array([2, 8, 10]), np.array([5.0, 2.0, 5.0])
    row = sp.csr_matrix((watch, (np.zeros(3), items)), shape=(1, 20), dtype=np.float32)
    model = implicit_model(checkerboard_artifact.item_factors, params)
    weights = confidence_weights(row, params)
    with threadpool_limits(limits=1, user_api="blas"):
        ids, scores = model.recommend(0, weights, N=5, recalculate_user=True)
        user = model.recalculate_user(0, weights)
    result = rec.recommend_for_history(history, k=5)
    assert result.source == "als-foldin"
    # Same scores in the same order; near-equal scores may swap (checkerboard symmetry).
    ours = [rec._index[name] for name in result.items]
    np.testing.assert_allclose(checkerboard_artifact.item_factors[ours] @ user, scores, atol=1e-4)
    assert set(ours) == set(ids.tolist())


def test_fold_in_closed_form_example() -> None:
    fold = FoldIn(
        np.eye(3, dtype=np.float32), ALSParams(regularization=0.1, alpha=2.0, confidence="linear")
    )
    # c = alpha * w = 2; x = c / (1 + 0.1 + (c - 1)) on the watched axis.
    x = fold.user_factors(np.array([1]), np.array([1.0]))
    np.testing.assert_allclose(x, [0, 2 / 2.1, 0], rtol=1e-6)


def test_params_from_metadata_rejects_invalid_params() -> None:
    with pytest.raises(ValueError, match="metadata 'params' are invalid: alpha must be > 0"):
        params_from_metadata({"params": {"alpha": -1}})
    with pytest.raises(ValueError, match="must be an object"):
        params_from_metadata({"params": [1, 2]})
    assert params_from_metadata({"params": {"alpha": 3.0, "extra": 1}}).alpha == 3.0


def test_refine_approaches_the_exact_fold_in_from_nearby_factors(checkerboard_artifact) -> None:
    a = checkerboard_artifact
    fold = FoldIn(a.item_factors, params_from_metadata(a.metadata))
    items, watch = np.array([0, 2, 4, 6]), np.array([3.0, 1.0, 5.0, 2.0])
    exact = fold.user_factors(items, watch)
    before = fold.user_factors(items[:3], watch[:3])  # the viewer before their last event
    refined = fold.refine(items, watch, before, steps=3)
    assert np.linalg.norm(refined - exact) < 0.05 * np.linalg.norm(before - exact) + 1e-6
    # more steps: the exact solution (here, factors = 4, in at most 4 steps)
    np.testing.assert_allclose(fold.refine(items, watch, np.zeros_like(exact), 8), exact, atol=1e-5)

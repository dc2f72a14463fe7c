"""One contract for every estimator, plus each model's known answer."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import scipy.sparse as sp

from streamrec import data
from streamrec.evaluation.baselines import (
    ALS,
    BPR,
    Blend,
    Estimator,
    GradientMF,
    Popularity,
    Repeat,
)
from streamrec.model.als import ALSParams
from streamrec.model.popularity import NotFittedError, PopularityRanker
from tests.conftest import checkerboard_rows, held_out, sessions_frame

SMALL_ALS = ALSParams(factors=4, iterations=15, regularization=1.0)

FACTORIES: dict[str, Callable[[], Estimator]] = {
    "popularity": Popularity,
    "repeat": Repeat,
    "mf-gd": lambda: GradientMF(factors=4, epochs=60),
    "als": lambda: ALS(SMALL_ALS),
    "bpr": lambda: BPR(factors=8, learning_rate=0.1, iterations=40, num_threads=1),
    "als+repeat": lambda: Blend(ALS(SMALL_ALS), weight=10.0),
}
LEARNED = ["mf-gd", "als", "bpr", "als+repeat"]


@pytest.fixture(scope="module")
def checkerboard() -> sp.csr_matrix:
    return data.build_interactions(sessions_frame(checkerboard_rows())).user_items


@pytest.fixture(scope="module", params=list(FACTORIES))
def fitted(request: pytest.FixtureRequest, checkerboard: sp.csr_matrix) -> Estimator:
    return FACTORIES[request.param]().fit(checkerboard)


@pytest.mark.parametrize("name", list(FACTORIES))
def test_fit_returns_self_and_records_state(name: str, checkerboard: sp.csr_matrix) -> None:
    model = FACTORIES[name]()
    assert model.fit(checkerboard) is model
    assert model.name == name
    assert model.fit_seconds_ >= 0 and model.user_items_.shape == checkerboard.shape


@pytest.mark.parametrize("name", list(FACTORIES))
def test_unfitted_model_raises_not_fitted(name: str) -> None:
    model = FACTORIES[name]()
    with pytest.raises(NotFittedError, match="is not fitted; call fit"):
        model.score(np.array([0]))
    with pytest.raises(NotFittedError, match="is not fitted"):
        model.recommend(np.array([0]), 3)


@pytest.mark.parametrize("name", list(FACTORIES))
def test_init_only_stores_hyperparameters(name: str) -> None:
    model = FACTORIES[name]()
    assert not any(key.endswith("_") for key in vars(model))
    assert set(model.get_params()) == set(vars(model))


def test_output_shapes_and_types(fitted: Estimator, checkerboard: sp.csr_matrix) -> None:
    users = np.array([0, 5, 7])
    n_items = checkerboard.shape[1]
    assert fitted.score(users).shape == (3, n_items)
    assert fitted.score(users, np.array([1, 4])).shape == (3, 2)
    top = fitted.recommend(users, N=4)
    assert top.shape == (3, 4) and top.dtype == np.int32
    assert (top >= 0).all() and all(len(set(row)) == 4 for row in top.tolist())


def test_recommend_never_returns_watched_items_when_excluded(
    fitted: Estimator, checkerboard: sp.csr_matrix
) -> None:
    users = np.arange(checkerboard.shape[0])
    top = fitted.recommend(users, N=checkerboard.shape[1])
    for u, row in zip(users, top, strict=True):
        watched = set(checkerboard[u].indices.tolist())
        listed = [i for i in row.tolist() if i != -1]
        assert not watched & set(listed)
        assert len(listed) == checkerboard.shape[1] - len(watched)  # padded with -1 after


def test_recommend_only_from_candidates(fitted: Estimator) -> None:
    candidates = np.array([1, 2, 3, 10, 11])
    top = fitted.recommend(np.array([0, 1]), N=5, exclude_watched=False, items=candidates)
    assert all(sorted(row) == candidates.tolist() for row in top.tolist())
    scores = fitted.score(np.array([0, 1]), candidates)
    assert np.allclose(scores, fitted.score(np.array([0, 1]))[:, candidates])


def test_invalid_users_and_items_raise(fitted: Estimator) -> None:
    with pytest.raises(ValueError, match=r"users must be indices in \[0, 40\), got values"):
        fitted.score(np.array([0, 40]))
    with pytest.raises(ValueError, match="users must be a 1-D array of integer indices"):
        fitted.score(np.array([0.5]))
    with pytest.raises(ValueError, match="items must be sorted and unique"):
        fitted.score(np.array([0]), np.array([3, 1]))


@pytest.mark.parametrize("name", list(FACTORIES))
def test_fit_rejects_unusable_matrices(name: str) -> None:
    with pytest.raises(ValueError, match="user_items must be a 2-D sparse matrix"):
        FACTORIES[name]().fit(np.ones((2, 2)))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must have users, items and interactions"):
        FACTORIES[name]().fit(sp.csr_matrix((3, 2), dtype=np.float32))
    with pytest.raises(ValueError, match="finite watch times >= 0"):
        FACTORIES[name]().fit(sp.csr_matrix(np.array([[1.0, -2.0]])))


@pytest.mark.parametrize("name", LEARNED)
def test_learned_models_rank_the_held_out_streamer_first(
    name: str, checkerboard: sp.csr_matrix
) -> None:
    # Even users watch even streamers, odd users odd ones, each missing exactly one.
    model = FACTORIES[name]().fit(checkerboard)
    users = np.arange(checkerboard.shape[0])
    top = model.recommend(users, N=1)[:, 0]
    assert top.tolist() == [held_out(u) for u in users]


@pytest.mark.parametrize("name", ["mf-gd", "als", "bpr"])  # bpr on one thread
def test_learned_models_are_deterministic(name: str, checkerboard: sp.csr_matrix) -> None:
    first = FACTORIES[name]().fit(checkerboard).score(np.arange(5))
    assert np.array_equal(first, FACTORIES[name]().fit(checkerboard).score(np.arange(5)))


def watch_matrix() -> sp.csr_matrix:
    # Streamer viewers: 0 -> 3, 1 -> 1, 2 -> 2, 3 -> 2 (3 has more watch time than 2).
    return sp.csr_matrix(np.array([[1, 50, 1, 4], [1, 0, 1, 5], [1, 0, 0, 0]], dtype=np.float32))


def test_popularity_is_the_cold_start_ranking_for_everyone() -> None:
    model = Popularity().fit(watch_matrix())
    expected = PopularityRanker().fit(watch_matrix()).order_.tolist()
    assert model.recommend(np.array([0, 2]), 4, exclude_watched=False).tolist() == [expected] * 2
    assert model.recommend(np.array([2]), 4).tolist() == [[3, 2, 1, -1]]


def test_repeat_ranks_own_streamers_by_watch_time_then_popularity() -> None:
    model = Repeat().fit(watch_matrix())
    top = model.recommend(np.array([0, 1, 2]), 4, exclude_watched=False)
    assert top.tolist() == [[1, 3, 0, 2], [3, 0, 2, 1], [0, 3, 2, 1]]


def test_repeat_breaks_equal_watch_time_by_popularity() -> None:
    m = sp.csr_matrix(np.array([[2, 0, 0, 2], [1, 0, 1, 1], [0, 0, 0, 1]], dtype=np.float32))
    # Popularity: 3 (3 viewers), 0 (2), 2 (1), 1 (0).
    assert Repeat().fit(m).recommend(np.array([0]), 4, exclude_watched=False).tolist() == [
        [3, 0, 2, 1]
    ]


def test_blend_shares_an_already_fitted_als(checkerboard: sp.csr_matrix) -> None:
    als = ALS(SMALL_ALS).fit(checkerboard)
    factors = als.user_factors_
    blend = Blend(als, weight=0.0).fit(checkerboard)
    assert blend.als.user_factors_ is factors  # not refitted
    assert blend.fit_seconds_ >= als.fit_seconds_
    assert np.allclose(blend.score(np.arange(3)), als.score(np.arange(3)))


def test_blend_with_a_large_weight_puts_watched_streamers_first_by_watch_time() -> None:
    blend = Blend(ALS(SMALL_ALS), weight=10.0).fit(watch_matrix())
    top = blend.recommend(np.array([0, 1]), 4, exclude_watched=False)
    assert top[0, :3].tolist() == [1, 3, 0] or top[0, :3].tolist() == [1, 3, 2]
    assert top[1, 0] == 3 and set(top[1, :3].tolist()) == {0, 2, 3}


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: GradientMF(factors=0), "factors must be >= 1, got 0"),
        (lambda: GradientMF(regularization=-1.0), "regularization must be >= 0, got -1.0"),
        (lambda: GradientMF(target="sqrt"), "target must be 'log' or 'linear', got 'sqrt'"),
    ],
)
def test_invalid_hyperparameters_name_the_value(
    factory: Callable[[], Estimator], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        factory()

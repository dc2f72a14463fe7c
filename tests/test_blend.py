from __future__ import annotations

import doctest

import numpy as np
import pytest
import scipy.sparse as sp

from streamrec.ranking import blend
from streamrec.ranking.blend import blend_scores


def test_bonus_is_weight_times_log1p_watch_on_watched_items_only() -> None:
    als = np.array([0.5, 0.2, -0.1], dtype=np.float32)
    watch = np.array([0.0, 3.0, 10.0])
    out = blend_scores(als, watch, weight=2.0)
    assert out == pytest.approx([0.5, 0.2 + 2 * np.log(4.0), -0.1 + 2 * np.log(11.0)])
    assert out.dtype == np.float32
    assert als.tolist() == pytest.approx([0.5, 0.2, -0.1])  # input untouched


def test_sparse_rows_give_the_same_as_dense() -> None:
    rng = np.random.default_rng(0)
    als = rng.standard_normal((3, 6)).astype(np.float32)
    watch = sp.random(3, 6, density=0.4, format="csr", random_state=1) * 10
    assert np.allclose(blend_scores(als, watch, 0.7), blend_scores(als, watch.toarray(), 0.7))
    one = blend_scores(als[1], watch[1], 0.7)
    assert np.allclose(one, blend_scores(als, watch, 0.7)[1])


def test_weight_zero_is_plain_als_and_a_large_weight_ranks_watched_first() -> None:
    als = np.array([0.9, 0.1, 0.5])
    watch = np.array([0.0, 1.0, 4.0])
    assert np.array_equal(blend_scores(als, watch, 0.0), als.astype(np.float32))
    order = np.argsort(-blend_scores(als, watch, 10.0)).tolist()
    assert order == [2, 1, 0]  # watched by watch time, then the rest by ALS


@pytest.mark.parametrize(
    ("weight", "watch", "message"),
    [
        (-1.0, np.zeros(3), "weight must be finite and >= 0, got -1.0"),
        (float("nan"), np.zeros(3), "weight must be finite"),
        (1.0, np.zeros(4), r"user_watch_row has shape \(4,\), expected \(3,\)"),
        (1.0, -np.ones(3), "watch times >= 0"),
        (1.0, sp.csr_matrix((2, 3)), r"user_watch_row has shape \(2, 3\)"),
    ],
)
def test_invalid_inputs_name_the_problem(weight: float, watch: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        blend_scores(np.zeros(3), watch, weight)  # type: ignore[arg-type]


def test_doctests() -> None:
    assert doctest.testmod(blend).failed == 0

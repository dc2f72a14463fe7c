from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from streamrec.model.popularity import NotFittedError, PopularityRanker


def matrix() -> sp.csr_matrix:
    # viewers per column: 3, 1, 2, 2 ; watch per column: 3, 50, 2, 9
    return sp.csr_matrix(
        np.array(
            [
                [1, 50, 1, 4],
                [1, 0, 1, 5],
                [1, 0, 0, 0],
            ],
            dtype=np.float32,
        )
    )


def test_fit_orders_by_viewers_then_watch_time() -> None:
    ranker = PopularityRanker().fit(matrix())
    # column 1 has by far the most watch time but one viewer; 3 beats 2 on watch time.
    assert ranker.order_.tolist() == [0, 3, 2, 1]
    assert ranker.viewers_.tolist() == [3, 1, 2, 2]


def test_top_skips_excluded_and_keeps_order() -> None:
    ranker = PopularityRanker().fit(matrix())
    assert ranker.top(2).tolist() == [0, 3]
    assert ranker.top(2, exclude=np.array([0])).tolist() == [3, 2]
    assert ranker.top(10, exclude=np.array([3, 1])).tolist() == [0, 2]


def test_top_before_fit_raises_not_fitted() -> None:
    with pytest.raises(NotFittedError, match="not fitted"):
        PopularityRanker().top(3)


def test_top_k_below_one_raises() -> None:
    with pytest.raises(ValueError, match="k must be >= 1, got 0"):
        PopularityRanker().fit(matrix()).top(0)


def test_from_order_round_trips() -> None:
    ranker = PopularityRanker().fit(matrix())
    assert PopularityRanker.from_order(ranker.order_).top(4).tolist() == ranker.top(4).tolist()

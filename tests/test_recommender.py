from __future__ import annotations

import pytest

from streamrec.recommender import Recommender
from tests.conftest import held_out


@pytest.fixture(scope="module")
def recommender(checkerboard_artifact) -> Recommender:
    return Recommender(checkerboard_artifact)


def test_recommend_ranks_the_held_out_streamer_first(recommender: Recommender) -> None:
    for u in range(40):
        result = recommender.recommend(1000 + u, k=1)
        assert result.items == [f"s{held_out(u):02d}"], u
        assert result.source == "als"


def test_recommend_differs_between_tastes(recommender: Recommender) -> None:
    even = recommender.recommend(1000, k=5, exclude_watched=False).items
    odd = recommender.recommend(1001, k=5, exclude_watched=False).items
    assert all(int(name[1:]) % 2 == 0 for name in even)
    assert all(int(name[1:]) % 2 == 1 for name in odd)


def test_recommend_excludes_watched(recommender: Recommender) -> None:
    row = recommender.user_index(1000)
    watched = {recommender.artifact.streamer_names[i] for i in recommender.watched(row)}
    items = recommender.recommend(1000, k=11).items
    assert len(items) == 11 and not watched & set(items)
    with_watched = recommender.recommend(1000, k=11, exclude_watched=False).items
    assert watched & set(with_watched)


def test_recommend_unknown_user_gets_popular(recommender: Recommender) -> None:
    result = recommender.recommend(7, k=5)
    assert result.source == "popular"
    popular = recommender.artifact.popular[:5]
    assert result.items == recommender.artifact.streamer_names[popular].tolist()


def test_recommend_k_beyond_catalogue_returns_all_unwatched_once(recommender: Recommender) -> None:
    items = recommender.recommend(1000, k=1000).items
    assert len(items) == len(set(items)) == 20 - 9  # 9 watched of 20
    assert len(recommender.recommend(1000, k=1000, exclude_watched=False).items) == 20


@pytest.mark.parametrize("k", [0, 1001])
def test_recommend_k_out_of_range_raises(recommender: Recommender, k: int) -> None:
    with pytest.raises(ValueError, match=f"k must be between 1 and 1000, got {k}"):
        recommender.recommend(1000, k=k)


def test_user_index_known_and_unknown(recommender: Recommender) -> None:
    assert recommender.user_index(1000) == 0
    assert recommender.user_index(1039) == 39
    assert recommender.user_index(999) is None and recommender.user_index(10**18) is None

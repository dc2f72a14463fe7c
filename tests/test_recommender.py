from __future__ import annotations

import numpy as np
import pytest

from streamrec.recommender import Recommendation, Recommender, UnknownStreamerError
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


# -- precomputed lists -------------------------------------------------------------------


@pytest.fixture(scope="module")
def exact(checkerboard_artifact) -> Recommender:
    """Scores the whole catalogue for every request: the reference for the fast paths."""
    return Recommender(checkerboard_artifact, top_n=0)


def assert_same_ranking(
    rec: Recommender, user: int, got: Recommendation, want: Recommendation
) -> None:
    """Equal lists, except that items whose scores differ by float rounding may swap.

    Precomputed lists come from matrix-matrix products, requests from matrix-vector ones;
    the checkerboard's many near-equal scores (an even user's odd streamers) expose that.
    """
    assert (got.source, got.unknown_streamers, len(got.items)) == (
        want.source,
        want.unknown_streamers,
        len(want.items),
    )
    row = rec.user_index(user)
    if row is None or got.items == want.items:
        assert got.items == want.items
        return
    factors = rec.artifact.user_factors[row]
    index = {name: i for i, name in enumerate(rec.artifact.streamer_names)}

    def scores(items: list[str]) -> np.ndarray:
        return rec.artifact.item_factors[[index[n] for n in items]] @ factors

    np.testing.assert_allclose(scores(got.items), scores(want.items), atol=1e-5)


@pytest.mark.parametrize("top_n", [3, 12, 128])
@pytest.mark.parametrize("exclude_watched", [True, False])
def test_precomputed_lists_match_full_scoring(
    checkerboard_artifact, exact: Recommender, top_n: int, exclude_watched: bool
) -> None:
    fast = Recommender(checkerboard_artifact, top_n=top_n)
    assert fast.precomputed_users == 40
    for exclude in ([], ["s00", "s04", "s11"]):
        filters = fast.filters(exclude=exclude)
        for user in range(1000, 1040):
            for k in (1, 3, 10, 20):
                got = fast.recommend(user, k, exclude_watched, filters)
                want = exact.recommend(user, k, exclude_watched, filters)
                assert_same_ranking(fast, user, got, want)


def test_recommend_cached_declines_what_needs_a_catalogue_scan(checkerboard_artifact) -> None:
    rec = Recommender(checkerboard_artifact, top_n=3)
    assert rec.recommend_cached(1000, k=3) is not None
    assert rec.recommend_cached(1000, k=4) is None  # longer than the list, and it is partial
    assert rec.recommend_cached(7, k=4) is not None  # unknown users need no scan
    assert rec.recommend_cached(1000, k=4, filters=rec.filters(available=["s02"])) is not None


def test_max_users_precomputes_the_most_active_users(checkerboard_artifact, exact) -> None:
    rec = Recommender(checkerboard_artifact, top_n=5, max_users=10)
    assert rec.precomputed_users == 10
    activity = np.diff(checkerboard_artifact.user_items.indptr)
    assert activity[rec._slot >= 0].min() >= activity[rec._slot < 0].max()
    for user in range(1000, 1040):
        assert_same_ranking(rec, user, rec.recommend(user, 4), exact.recommend(user, 4))


# -- filters -----------------------------------------------------------------------------


def test_available_restricts_ranking_and_counts_unknown_names(recommender: Recommender) -> None:
    # User 1000 watched every even streamer but s00, its held-out one.
    filters = recommender.filters(available=["s03", "s02", "s00", "nobody", "s01", "s00"])
    result = recommender.recommend(1000, k=5, filters=filters)
    assert result.items[0] == "s00" and set(result.items) == {"s00", "s01", "s03"}
    assert (result.source, result.unknown_streamers) == ("als", 1)
    result = recommender.recommend(1000, k=5, exclude_watched=False, filters=filters)
    assert set(result.items[:2]) == {"s00", "s02"} and len(result.items) == 4


def test_exclude_removes_names_everywhere(recommender: Recommender) -> None:
    best = recommender.recommend(1000, k=1).items[0]
    filters = recommender.filters(exclude=[best, "ghost"])
    result = recommender.recommend(1000, k=3, filters=filters)
    assert best not in result.items and len(result.items) == 3
    assert result.unknown_streamers == 1
    popular = recommender.recommend(7, k=3, filters=filters)
    assert best not in popular.items and popular.source == "popular"


def test_popular_list_respects_available_and_exclude(recommender: Recommender) -> None:
    names = recommender.artifact.streamer_names
    order = names[recommender.artifact.popular].tolist()
    live = order[5:12]
    result = recommender.recommend(7, k=3, filters=recommender.filters(live, [order[6]]))
    assert result.items == [order[5], order[7], order[8]] and result.source == "popular"


def test_empty_available_gives_an_empty_list(recommender: Recommender) -> None:
    for user in (1000, 7):
        assert recommender.recommend(user, k=5, filters=recommender.filters([])).items == []


def test_filters_are_cached_and_read_only(recommender: Recommender) -> None:
    first = recommender.filters(["s01", "s03"])
    again = recommender.filters(["s01", "s03"])
    assert first.available is again.available
    assert not first.available.flags.writeable


# -- batch, new viewers, similar streamers ---------------------------------------------------


def test_batch_equals_one_by_one(recommender: Recommender, exact: Recommender) -> None:
    users = [1000, 7, 1001, 1039, 1000, 10**15]
    filters = recommender.filters(available=None, exclude=["s03"])
    for k in (1, 5, 20):
        for exclude_watched in (True, False):
            batch = recommender.recommend_batch(users, k, exclude_watched, filters)
            for user, got in zip(users, batch, strict=True):
                want = exact.recommend(user, k, exclude_watched, filters)
                assert_same_ranking(exact, user, got, want)
    live = recommender.filters(available=["s00", "s01", "s02", "s05", "s06"])
    batch = recommender.recommend_batch(users, 3, True, live)
    for user, got in zip(users, batch, strict=True):
        assert_same_ranking(exact, user, got, exact.recommend(user, 3, True, live))


def test_history_of_a_checkerboard_user_finds_the_held_out_streamer(
    recommender: Recommender,
) -> None:
    for u in (4, 7):
        row = recommender.user_index(1000 + u)
        names = recommender.artifact.streamer_names[recommender.watched(row)]
        history = [(name, 3.0) for name in names] + [("unknown", 1.0)]
        result = recommender.recommend_for_history(history, k=1)
        assert result.items == [f"s{held_out(u):02d}"]
        assert (result.source, result.unknown_streamers) == ("als-foldin", 1)


def test_history_without_known_streamers_gets_popular(recommender: Recommender) -> None:
    popular = recommender.recommend(7, k=4).items
    assert recommender.recommend_for_history([], k=4).items == popular
    result = recommender.recommend_for_history([("a", 1.0), ("b", 2.0)], k=4)
    assert (result.items, result.source, result.unknown_streamers) == (popular, "popular", 2)


def test_history_rejects_non_positive_watch_time(recommender: Recommender) -> None:
    with pytest.raises(ValueError, match="watch_time must be a positive finite number"):
        recommender.recommend_for_history([("s00", 0.0)], k=3)


def test_similar_streamers_share_the_audience_and_exclude_themselves(
    recommender: Recommender,
) -> None:
    similar = recommender.similar("s04", k=5)
    assert "s04" not in similar and len(similar) == 5
    assert all(int(name[1:]) % 2 == 0 for name in similar)


def test_similar_unknown_streamer_raises(recommender: Recommender) -> None:
    with pytest.raises(UnknownStreamerError, match="streamer 'nobody' is not in the model"):
        recommender.similar("nobody", k=3)

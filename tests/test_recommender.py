"""The recommender's requests: known and unknown users, the blend, filters, batch, the ranker."""

from __future__ import annotations

import numpy as np
import pytest

from streamrec.ranking.topn import top_k
from streamrec.serving.recommender import Recommendation, Recommender
from tests.conftest import assert_same_ranking, blended_scores, held_out


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


# -- blending in the user's own streamers ---------------------------------------------------


def test_repeat_weight_zero_ranks_by_als_alone(checkerboard_artifact) -> None:
    for top_n in (0, 128):
        rec = Recommender(checkerboard_artifact, top_n=top_n, repeat_weight=0.0)
        for user in (1000, 1001, 1017):
            row = rec.user_index(user)
            als = rec.artifact.item_factors @ rec.artifact.user_factors[row]
            want = rec.artifact.streamer_names[top_k(als, 20)].tolist()
            got = rec.recommend(user, 20, exclude_watched=False)
            assert_same_ranking(rec, user, got, Recommendation(want, "als"))


def test_default_repeat_weight_puts_watched_streamers_first_by_watch_time(
    recommender: Recommender,
) -> None:
    assert recommender.repeat_weight == 10.0
    for user in (1000, 1001, 1017):
        row = recommender.user_index(user)
        watch = recommender.artifact.user_items[row].toarray().ravel()
        items = recommender.recommend(user, 20, exclude_watched=False).items
        want = blended_scores(recommender, row, 10.0)
        assert items == recommender.artifact.streamer_names[top_k(want, 20)].tolist()
        index = [int(name[1:]) for name in items]
        # The 9 watched streamers come first, by watch time; the unwatched ones after them.
        assert np.all(watch[index[:9]] > 0) and np.all(watch[index[9:]] == 0)
        assert np.all(np.diff(watch[index[:9]]) <= 0)
    plain = recommender.recommend(1000, 20, exclude_watched=False, repeat_weight=0.0).items
    assert plain != recommender.recommend(1000, 20, exclude_watched=False).items


def test_repeat_weight_does_not_change_lists_without_watched_streamers(
    recommender: Recommender,
) -> None:
    for user in (1000, 1001):
        lists = [recommender.recommend(user, 11, repeat_weight=w).items for w in (0, 10, 1e6)]
        assert lists[0] == lists[1] == lists[2]


def test_repeat_weight_applies_to_available_batch_and_history(
    recommender: Recommender, exact: Recommender
) -> None:
    live = recommender.filters(available=["s00", "s02", "s04", "s06", "s01"])
    for weight in (0.0, 0.3, 10.0):
        got = recommender.recommend(1000, 4, False, live, repeat_weight=weight).items
        row = recommender.user_index(1000)
        scores = blended_scores(recommender, row, weight)[live.available]
        assert got == recommender.artifact.streamer_names[top_k(scores, 4, live.available)].tolist()
        users = [1000, 7, 1001, 1039]
        for filters in (recommender.filters(), live):
            batch = recommender.recommend_batch(users, 5, False, filters, repeat_weight=weight)
            for user, result in zip(users, batch, strict=True):
                single = exact.recommend(user, 5, False, filters, repeat_weight=weight)
                assert_same_ranking(exact, user, result, single, weight)
    # A new viewer's posted watch times rank their streamers under a large weight.
    history = [("s02", 1.0), ("s04", 9.0), ("s06", 3.0)]
    result = recommender.recommend_for_history(history, 3, exclude_watched=False)
    assert result.items == ["s04", "s06", "s02"]
    excluded = recommender.recommend_for_history(history, 3, repeat_weight=1e6)
    assert not {"s02", "s04", "s06"} & set(excluded.items)


@pytest.mark.parametrize("weight", [-1.0, float("nan"), float("inf")])
def test_invalid_repeat_weight_raises_naming_it(
    checkerboard_artifact, recommender: Recommender, weight: float
) -> None:
    with pytest.raises(ValueError, match=f"repeat weight must be finite and >= 0, got {weight}"):
        recommender.recommend(1000, 3, exclude_watched=False, repeat_weight=weight)
    with pytest.raises(ValueError, match="repeat weight must be finite"):
        Recommender(checkerboard_artifact, top_n=0, repeat_weight=weight)


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


def test_empty_available_gives_an_empty_list(recommender: Recommender) -> None:
    for user in (1000, 7):
        assert recommender.recommend(user, k=5, filters=recommender.filters([])).items == []


# -- batch and new viewers --------------------------------------------------------------------


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


# -- the live ranker (an artifact trained as als_fit.py trains it) ------------------------------


@pytest.fixture(scope="module")
def ranked(ranker_model_path) -> Recommender:
    from streamrec.model import artifact

    return Recommender(artifact.load(ranker_model_path))


def _ranker_list(rec: Recommender, user: int, k: int, names: list[str] | None = None) -> list[str]:
    """What the ranker alone makes of the user's allowed streamers (all when ``names`` is None)."""
    a = rec.artifact
    allowed = np.arange(rec.n_items) if names is None else rec.filters(available=names).available
    row = rec.user_index(user)
    scores = a.item_factors[allowed] @ a.user_factors[row]
    return a.streamer_names[rec._live_ranker.rank(row, allowed, scores, k)].tolist()


def test_lists_that_keep_watched_streamers_use_the_live_ranker(ranked: Recommender) -> None:
    assert ranked.live_ranking == "ranker"
    users = ranked.artifact.user_ids[:25].tolist()
    live = ranked.artifact.streamer_names[::3].tolist()
    for user in users:
        assert ranked.recommend(user, 10, exclude_watched=False).items == _ranker_list(
            ranked, user, 10
        )
        got = ranked.recommend(user, 5, False, ranked.filters(available=live)).items
        assert got == _ranker_list(ranked, user, 5, live) and set(got) <= set(live)
        # Default lists (watched excluded) stay plain ALS.
        assert ranked.recommend(user, 5).items == ranked.recommend(user, 5, repeat_weight=3).items
    batch = ranked.recommend_batch(users, 7, exclude_watched=False)
    assert [r.items for r in batch] == [ranked.recommend(u, 7, False).items for u in users]
    assert ranked.recommend_cached(users[0], 5, exclude_watched=False) is None  # a worker's job
    live_filter = ranked.filters(available=live)
    cached = ranked.recommend_cached(users[0], 5, False, live_filter)
    assert cached is not None and cached.items == _ranker_list(ranked, users[0], 5, live)


def test_an_explicit_repeat_weight_asks_for_the_blend(ranked: Recommender) -> None:
    import dataclasses

    plain = Recommender(dataclasses.replace(ranked.artifact, ranker_model=None))
    assert plain.live_ranking == "blend"
    for user in ranked.artifact.user_ids[:10].tolist():
        for weight in (0.0, 10.0):
            assert (
                ranked.recommend(user, 8, False, repeat_weight=weight).items
                == plain.recommend(user, 8, False, repeat_weight=weight).items
            )
    history = [(ranked.artifact.streamer_names[0], 3.0)]
    assert (
        ranked.recommend_for_history(history, 5, exclude_watched=False).items
        == plain.recommend_for_history(history, 5, exclude_watched=False).items
    )

from __future__ import annotations

import threading

import numpy as np
import pytest

from streamrec.ranking.blend import blend_scores
from streamrec.ranking.topn import top_k
from streamrec.serving.recommender import Recommendation, Recommender
from streamrec.serving.similar import UnknownStreamerError
from tests.conftest import FailingGate, held_out, wait_for_state


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
    rec: Recommender,
    user: int,
    got: Recommendation,
    want: Recommendation,
    weight: float | None = None,
) -> None:
    """Equal lists, except that items whose scores differ by float rounding may swap.

    Scores are blended with ``weight`` (default: the recommender's ``repeat_weight``).

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
    blended = blended_scores(rec, row, rec.repeat_weight if weight is None else weight)
    index = {name: i for i, name in enumerate(rec.artifact.streamer_names)}

    def scores(items: list[str]) -> np.ndarray:
        return blended[[index[n] for n in items]]

    np.testing.assert_allclose(scores(got.items), scores(want.items), atol=1e-5)


def blended_scores(rec: Recommender, row: int, weight: float) -> np.ndarray:
    """Every streamer's score for the user at ``row``, by the blend's formula."""
    als = rec.artifact.item_factors @ rec.artifact.user_factors[row]
    return blend_scores(als, rec.artifact.user_items[row], weight)


@pytest.mark.parametrize("top_n", [3, 12, 128])
@pytest.mark.parametrize(("exclude_watched", "weight"), [(True, 10.0), (False, 0.0), (False, 0.5)])
def test_precomputed_lists_match_full_scoring(
    checkerboard_artifact, top_n: int, exclude_watched: bool, weight: float
) -> None:
    fast = Recommender(checkerboard_artifact, top_n=top_n, repeat_weight=weight)
    exact = Recommender(checkerboard_artifact, top_n=0, repeat_weight=weight)
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
    slot = rec._lists.slot_of_row
    assert activity[slot >= 0].min() >= activity[slot < 0].max()
    for user in range(1000, 1040):
        assert_same_ranking(rec, user, rec.recommend(user, 4), exact.recommend(user, 4))


def test_lists_computed_later_match_the_full_scoring_served_meanwhile(
    checkerboard_artifact,
) -> None:
    rec = Recommender(checkerboard_artifact, top_n=12, precompute_now=False)
    assert (rec.precompute_state, rec.precomputed_users, rec.precompute_seconds) == (
        "pending",
        0,
        0.0,
    )
    assert rec.recommend_cached(1000, k=3) is None  # no lists yet: the caller scans
    requests = [
        (user, k, watched)
        for user in range(1000, 1040)
        for k in (1, 5)
        for watched in (True, False)
    ]
    before = [rec.recommend(user, k, exclude_watched) for user, k, exclude_watched in requests]
    assert rec.precompute() is True
    assert (rec.precompute_state, rec.precomputed_users) == ("ready", 40)
    assert rec.precompute_seconds > 0
    for (user, k, exclude_watched), want in zip(requests, before, strict=True):
        got = rec.recommend_cached(user, k, exclude_watched)
        assert got is not None
        assert_same_ranking(rec, user, got, want)
    assert rec.precompute() is True  # already done: nothing to do


def test_precompute_stops_when_asked_and_runs_only_once(checkerboard_artifact) -> None:
    gate, stop = threading.Event(), threading.Event()
    rec = Recommender(checkerboard_artifact, precompute_now=False, precompute_gate=gate)
    worker = threading.Thread(target=rec.precompute, args=(stop,))
    worker.start()
    wait_for_state(rec, "running")
    stop.set()
    worker.join(timeout=5)
    assert not worker.is_alive()
    assert (rec.precompute_state, rec.precomputed_users) == ("stopped", 0)
    assert rec.recommend(1000, k=1).items == ["s00"]  # still answers, by full scoring
    with pytest.raises(RuntimeError, match="precomputation is stopped; it runs only once"):
        rec.precompute()


def test_precompute_stopped_between_blocks_publishes_nothing(checkerboard_artifact) -> None:
    stop = threading.Event()
    stop.set()
    rec = Recommender(checkerboard_artifact, precompute_now=False)
    assert rec.precompute(stop) is False
    assert (rec.precompute_state, rec.precomputed_users) == ("stopped", 0)


def test_failed_precompute_leaves_full_scoring(checkerboard_artifact) -> None:
    rec = Recommender(checkerboard_artifact, precompute_now=False, precompute_gate=FailingGate())
    with pytest.raises(MemoryError, match="no room for the lists"):
        rec.precompute()
    assert (rec.precompute_state, rec.precomputed_users) == ("failed", 0)
    assert rec.recommend(1000, k=1).items == ["s00"]


@pytest.mark.parametrize(("top_n", "max_users"), [(0, None), (128, 0)])
def test_precompute_off(checkerboard_artifact, top_n: int, max_users: int | None) -> None:
    rec = Recommender(checkerboard_artifact, top_n=top_n, max_users=max_users)
    assert (rec.precompute_state, rec.precomputed_users) == ("off", 0)
    assert rec.precompute() is False


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"threads": 0}, "threads must be >= 1, got 0"),
        ({"precompute_gate": threading.Event()}, "precompute_gate needs precompute_now=False"),
    ],
)
def test_invalid_precompute_options_raise_naming_them(
    checkerboard_artifact, kwargs: dict, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Recommender(checkerboard_artifact, **kwargs)


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

"""The precomputed lists: the same as full scoring, computed later, stopped, failed or off."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from streamrec.serving.recommender import Recommender
from tests.conftest import FailingGate, assert_same_ranking, wait_for_state


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

"""The live set in memory: replace, deltas, versions, expiry, bounds, and lock-free reads."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from streamrec.model import artifact
from streamrec.serving.live_filter import LiveFilters, LiveSetUnavailableError
from streamrec.serving.live_state import PRUNE_SLACK, InProcessLiveState, LiveSetTooLargeError
from streamrec.serving.recommender import Recommender


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_replace_counts_added_and_removed_and_versions_only_changes() -> None:
    clock = Clock()
    state = InProcessLiveState(clock=clock)
    assert state.snapshot().status == "not fed" and state.snapshot().version == 0
    first, added, removed = state.replace(["a", "b", "b"])
    assert (sorted(first.refreshed), first.version, added, removed) == (["a", "b"], 1, 2, 0)
    clock.now += 5
    again, added, removed = state.replace(["b", "a"])
    assert (again.version, added, removed) == (1, 0, 0)  # refreshed, not changed
    assert again.changed_at == 1000.0 and again.written_at == 1005.0
    third, added, removed = state.replace(["c", "a"])
    assert (sorted(third.refreshed), third.version, added, removed) == (["a", "c"], 2, 1, 1)


def test_first_write_of_an_empty_set_feeds_it() -> None:
    state = InProcessLiveState()
    snapshot, _, _ = state.replace([])
    assert (snapshot.status, snapshot.version, len(snapshot)) == ("live", 1, 0)


def test_apply_adds_refreshes_and_drops() -> None:
    clock = Clock()
    state = InProcessLiveState(clock=clock)
    state.replace(["a", "b"])
    clock.now += 1
    snapshot, added, removed = state.apply(online=["b", "c"], offline=["a", "nobody"])
    assert (dict(snapshot.refreshed), added, removed) == ({"b": 1001.0, "c": 1001.0}, 1, 1)
    assert snapshot.version == 2
    unchanged, added, removed = state.apply(online=["b"], offline=["a"])
    assert (unchanged.version, added, removed) == (2, 0, 0)


def test_streamers_not_refreshed_within_the_ttl_go_offline() -> None:
    clock = Clock()
    state = InProcessLiveState(ttl=60, clock=clock)
    state.replace(["a", "b"])
    clock.now += 30
    state.apply(online=["b"], offline=[])
    clock.now = 1059.9
    assert len(state.snapshot()) == 2
    clock.now = 1060.0  # a's 60 s are up
    snapshot = state.snapshot()
    assert (sorted(snapshot.refreshed), snapshot.version, snapshot.status) == (["b"], 2, "live")
    assert snapshot.changed_at == clock.now
    clock.now = 1090.0 + 60 * PRUNE_SLACK
    expired = state.snapshot()
    assert (len(expired), expired.status, expired.version) == (0, "expired", 3)
    fed, _, _ = state.replace([])  # the directory writes again: known, nobody live
    assert fed.status == "live"


def test_a_prune_waits_a_slice_of_the_ttl_before_the_next() -> None:
    clock = Clock()
    state = InProcessLiveState(ttl=64, clock=clock)
    for name in "abc":
        state.apply(online=[name], offline=[])
        clock.now += 0.1
    clock.now = 1064.0  # a expires
    assert sorted(state.snapshot().refreshed) == ["b", "c"]
    clock.now = 1064.5  # b and c expired, but the next prune is due 1 s (64 / 64) after
    assert len(state.snapshot()) == 2
    clock.now = 1065.0
    assert state.snapshot().status == "expired"


def test_the_set_is_bounded_and_a_refused_write_changes_nothing() -> None:
    state = InProcessLiveState(max_streamers=2)
    state.replace(["a"])
    with pytest.raises(LiveSetTooLargeError, match=r"would hold 3 streamers, more than .* \(2\)"):
        state.apply(online=["b", "c"], offline=[])
    with pytest.raises(LiveSetTooLargeError):
        state.replace(["a", "b", "c"])
    assert sorted(state.snapshot().refreshed) == ["a"] and state.snapshot().version == 1


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="ttl must be >= 0"):
        InProcessLiveState(ttl=-1)
    with pytest.raises(ValueError, match="max_streamers must be >= 1"):
        InProcessLiveState(max_streamers=0)


def test_readers_see_whole_writes_while_writers_run() -> None:
    state = InProcessLiveState()
    sets = [[f"s{i}-{j}" for j in range(50)] for i in range(20)]
    torn = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            snapshot = state.snapshot()
            prefixes = {name.split("-")[0] for name in snapshot.refreshed}
            if len(prefixes) > 1 or len(snapshot) not in (0, 50):
                torn.append(snapshot)

    readers = [threading.Thread(target=read) for _ in range(3)]
    for reader in readers:
        reader.start()
    for _ in range(10):
        for names in sets:
            state.replace(names)
    stop.set()
    for reader in readers:
        reader.join()
    assert not torn and state.snapshot().version == 200


# -- the filter of live_only requests -------------------------------------------------------


def test_live_filters_resolve_once_per_version_and_model(
    checkerboard_artifact: artifact.Artifact,
) -> None:
    model = Recommender(checkerboard_artifact, top_n=0)
    live = LiveFilters(InProcessLiveState())
    with pytest.raises(LiveSetUnavailableError, match="none has been fed"):
        live.filters(model)
    live.state.replace(["s03", "s01", "ghost"])
    first = live.resolved(model)
    assert first.available.tolist() == [1, 3] and first.unknown == {"ghost"}
    assert live.resolved(model) is first
    assert live.filters(model).unknown == frozenset()  # the set's unknowns are not the request's
    live.state.apply(online=["s01"], offline=[])  # a refresh: same version, same resolution
    assert live.resolved(model) is first
    other = Recommender(checkerboard_artifact, top_n=0)  # e.g. after a reload
    assert live.resolved(other) is not first
    live.state.apply(online=["s05"], offline=[])
    assert live.resolved(other).available.tolist() == [1, 3, 5]


def test_live_filters_intersect_the_requests_own(
    checkerboard_artifact: artifact.Artifact,
) -> None:
    model = Recommender(checkerboard_artifact, top_n=0)
    live = LiveFilters(InProcessLiveState())
    live.state.replace([f"s{i:02d}" for i in range(0, 10)])
    requested = model.filters(available=["s08", "s09", "s12", "nope"], exclude=["s09"])
    filters = live.filters(model, requested)
    assert filters.available.tolist() == [8, 9] and filters.exclude.tolist() == [9]
    assert filters.unknown == {"nope"}
    assert np.array_equal(filters.available_factors, checkerboard_artifact.item_factors[[8, 9]])

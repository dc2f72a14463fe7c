"""The overlay's store of viewers: repeats, what a reload consumed, the memory bound, the lock."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from streamrec.serving.overlay import Overlay
from tests.conftest import batch


def test_exact_repeats_count_once() -> None:
    overlay = Overlay()
    overlay.add(batch("7,1,zeon,100,104"), 1)
    assert overlay.held(batch("7,1,zeon,100,104", "7,1,zeon,100,105")).tolist() == [True, False]
    assert overlay.add(batch("7,1,zeon,100,104"), 2).duplicates == 1
    assert overlay.events == 1


def test_a_reload_forgets_the_closed_sessions_of_consumed_segments_only() -> None:
    overlay = Overlay()
    overlay.add(batch("7,1,zeon,100,104", "7,2,alp,100,"), 1)
    overlay.add(batch("7,3,zeon,110,112", "8,4,alp,110,111"), 2)
    assert overlay.drop_consumed([1]) == 1
    viewer = overlay.viewer(7)
    assert viewer.names == ("alp", "zeon") and viewer.steps.tolist() == [12, 2]
    assert overlay.drop_consumed([2]) == 2
    assert overlay.viewer(8) is None and overlay.viewer(7).names == ("alp",)
    assert overlay.events == 1 and overlay.viewers == 1


def test_the_memory_bound_evicts_the_viewers_seen_least_recently() -> None:
    overlay = Overlay(max_events=10)
    for user in range(10):
        overlay.add(batch(f"{user},1,zeon,100,101"), 1)
    overlay.add(batch("0,2,alp,102,103"), 1)  # viewer 0 seen again: the most recent
    assert overlay.events == 9 and overlay.evicted_viewers == 2
    assert overlay.viewer(0) is not None and overlay.viewer(1) is None
    assert overlay.viewer(2) is None and overlay.viewer(3) is not None


def test_concurrent_adds_and_reads_stay_consistent() -> None:
    overlay = Overlay(popular_refresh_seconds=0)
    errors: list[BaseException] = []

    def write(offset: int) -> None:
        try:
            for start in range(200):
                overlay.add(batch(f"{offset + start % 7},{start},s{start % 5},{start},"), offset)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def read() -> None:
        try:
            for _ in range(400):
                for user in range(7):
                    overlay.viewer(user)
                overlay.popular_now()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(0,)), threading.Thread(target=read)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert overlay.events == 200
    assert sum(float(overlay.viewer(u).sessions.sum()) for u in range(7)) == 200


def test_bad_bounds_are_named() -> None:
    with pytest.raises(ValueError, match="max_events"):
        Overlay(max_events=0)
    assert np.isfinite(Overlay().now)

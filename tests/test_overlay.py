"""The overlay counts sessions as training does, closes open ones, forgets consumed ones."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from streamrec.data import events
from streamrec.serving.overlay import Overlay


def batch(*lines: str) -> events.EventBatch:
    return events.from_csv("".join(f"{line}\n" for line in lines).encode())


def test_closed_sessions_sum_per_streamer_and_count_one_step_at_least() -> None:
    overlay = Overlay()
    result = overlay.add(batch("7,1,zeon,100,104", "7,2,zeon,110,110", "7,3,alp,90,95"), 1)
    assert (result.added, result.duplicates, result.closed) == (3, 0, 0)
    viewer = overlay.viewer(7)
    assert viewer is not None and viewer.names == ("alp", "zeon")
    assert viewer.steps.tolist() == [5, 5] and viewer.sessions.tolist() == [1, 2]
    assert viewer.last_step.tolist() == [95, 110] and overlay.now == 110
    assert overlay.viewer(8) is None


def test_exact_repeats_count_once() -> None:
    overlay = Overlay()
    overlay.add(batch("7,1,zeon,100,104"), 1)
    assert overlay.held(batch("7,1,zeon,100,104", "7,1,zeon,100,105")).tolist() == [True, False]
    assert overlay.add(batch("7,1,zeon,100,104"), 2).duplicates == 1
    assert overlay.events == 1


def test_an_open_session_counts_until_now_and_its_close_replaces_it() -> None:
    overlay = Overlay(open_max_steps=20)
    overlay.add(batch("7,1,zeon,100,"), 1)
    assert overlay.viewer(7).steps.tolist() == [1]  # at least one step
    overlay.add(batch("8,9,other,112,113"), 1)  # time moves on
    viewer = overlay.viewer(7)
    assert viewer.steps.tolist() == [13] and viewer.last_step.tolist() == [113]
    overlay.add(batch("8,9,other,150,151"), 1)  # longer than open_max_steps: capped
    assert overlay.viewer(7).steps.tolist() == [20]
    result = overlay.add(batch("7,1,zeon,100,105"), 2)
    assert (result.added, result.closed) == (1, 1) and overlay.open_sessions == 0
    assert overlay.viewer(7).steps.tolist() == [5] and overlay.viewer(7).sessions.tolist() == [1]
    assert overlay.add(batch("7,1,zeon,100,"), 3).duplicates == 1  # a late open row


def test_versions_change_with_the_viewers_sessions_only() -> None:
    overlay = Overlay()
    overlay.add(batch("7,1,zeon,100,104"), 1)
    first = overlay.viewer(7).version
    overlay.add(batch("8,1,zeon,120,124"), 1)
    assert overlay.viewer(7).version == first  # closed only: now does not matter
    overlay.add(batch("7,2,alp,120,"), 1)
    opened = overlay.viewer(7).version
    assert opened != first
    overlay.add(batch("8,3,alp,130,131"), 1)
    assert overlay.viewer(7).version != opened  # open: now matters


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


def test_popular_now_counts_recent_and_watching_viewers() -> None:
    overlay = Overlay(popular_steps=6, popular_refresh_seconds=0)
    assert overlay.popular_now() is None
    overlay.add(
        batch("1,1,zeon,100,", "2,2,zeon,101,102", "3,3,alp,101,102", "1,4,zeon,101,102"), 1
    )
    now = overlay.popular_now()
    assert now.names == ("zeon", "alp") and now.viewers.tolist() == [2, 1]
    overlay.add(batch("4,5,x,120,121"), 1)  # the window moved: only the open session stays
    assert overlay.popular_now().names == ("x", "zeon")
    overlay.add(batch("1,1,zeon,100,110"), 1)  # closed
    assert overlay.popular_now().names == ("x",)


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

"""A viewer's sessions summed per streamer: closed ones, open ones until now, their version."""

from __future__ import annotations

from streamrec.serving.overlay import Overlay
from tests.conftest import batch


def test_closed_sessions_sum_per_streamer_and_count_one_step_at_least() -> None:
    overlay = Overlay()
    result = overlay.add(batch("7,1,zeon,100,104", "7,2,zeon,110,110", "7,3,alp,90,95"), 1)
    assert (result.added, result.duplicates, result.closed) == (3, 0, 0)
    viewer = overlay.viewer(7)
    assert viewer is not None and viewer.names == ("alp", "zeon")
    assert viewer.steps.tolist() == [5, 5] and viewer.sessions.tolist() == [1, 2]
    assert viewer.last_step.tolist() == [95, 110] and overlay.now == 110
    assert overlay.viewer(8) is None


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

"""Popular now: the distinct viewers who started or are watching a streamer recently."""

from __future__ import annotations

from streamrec.serving.overlay import Overlay
from tests.conftest import batch


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


def test_an_open_session_stops_counting_after_open_max_steps() -> None:
    # A session never closed (a client that crashed) is not watched forever.
    overlay = Overlay(popular_steps=6, open_max_steps=10, popular_refresh_seconds=0)
    overlay.add(batch("1,1,zeon,100,", "2,2,alp,100,"), 1)
    overlay.add(batch("3,3,x,109,109"), 1)  # now 9 steps on: both still watching
    assert overlay.popular_now().names == ("alp", "x", "zeon")
    overlay.add(batch("3,4,x,110,110"), 1)  # now 10 steps on: open as long as counts
    assert overlay.popular_now().names == ("x",)
    assert overlay.open_sessions == 2  # still held: their watch time counts, capped
    overlay.add(batch("1,1,zeon,100,112"), 1)  # closing one later changes no count
    assert overlay.popular_now().names == ("x",)
    assert overlay.open_sessions == 1
    overlay.add(batch("4,5,y,95,"), 1)  # already open too long when it arrives
    assert overlay.popular_now().names == ("x",)


def test_an_open_session_closed_before_its_end_stops_counting_once() -> None:
    overlay = Overlay(popular_steps=3, open_max_steps=10, popular_refresh_seconds=0)
    overlay.add(batch("1,1,zeon,100,", "2,2,zeon,105,"), 1)
    overlay.add(batch("1,1,zeon,100,104"), 1)  # closed before its end, step 110
    assert overlay.popular_now().viewers.tolist() == [1]
    overlay.add(batch("3,3,x,112,112"), 1)  # past user 1's end: user 2 still counts
    assert overlay.popular_now().names == ("x", "zeon")
    assert overlay.popular_now().viewers.tolist() == [1, 1]
    overlay.add(batch("3,4,x,115,115"), 1)  # user 2's end
    assert overlay.popular_now().names == ("x",)

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

"""A request's streamer names as filters: resolved once per distinct list, read-only."""

from __future__ import annotations

from streamrec.serving.recommender import Recommender


def test_filters_are_cached_and_read_only(recommender: Recommender) -> None:
    first = recommender.filters(["s01", "s03"])
    again = recommender.filters(["s01", "s03"])
    assert first.available is again.available
    assert not first.available.flags.writeable

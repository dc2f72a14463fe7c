"""The popular list: under a request's filters, and ordered by popular now when there is one."""

from __future__ import annotations

from streamrec.serving.recommender import Recommender
from tests.conftest import batch


def test_popular_list_respects_available_and_exclude(recommender: Recommender) -> None:
    names = recommender.artifact.streamer_names
    order = names[recommender.artifact.popular].tolist()
    live = order[5:12]
    result = recommender.recommend(7, k=3, filters=recommender.filters(live, [order[6]]))
    assert result.items == [order[5], order[7], order[8]] and result.source == "popular"


def test_popular_now_orders_the_popular_lists(fresh) -> None:
    rec, overlay = fresh
    before = rec.recommend(5, k=20).items
    overlay.add(batch("7,1,s19,100,", "8,1,s19,100,", "9,1,s18,100,101"), 1)
    after = rec.recommend(5, k=20).items
    assert after[:2] == ["s19", "s18"] and sorted(after) == sorted(before)
    live = rec.filters(available=["s00", "s18", "s19"])
    assert rec.recommend(5, k=3, filters=live).items[:2] == ["s19", "s18"]

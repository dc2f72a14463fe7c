"""Lists read the viewer's events since training: watched, factors, ranker."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from streamrec.model import artifact
from streamrec.ranking.foldin import FoldIn, params_from_metadata
from streamrec.serving.overlay import Overlay
from streamrec.serving.recommender import Recommender
from tests.conftest import batch, held_out


def test_an_event_shows_in_exclude_watched_from_the_next_request(fresh) -> None:
    rec, overlay = fresh
    target = f"s{held_out(0):02d}"
    assert rec.recommend(1000, k=1).items == [target]
    overlay.add(batch(f"1000,1,{target},10,12"), 1)
    assert target not in rec.recommend(1000, k=5).items
    assert target not in rec.recommend_batch([1000], k=5)[0].items
    assert rec.recommend_cached(1000, k=5) is None  # no precomputed list holds it: scan
    live = rec.filters(available=[target, "s02", "s04"])
    assert target not in rec.recommend_cached(1000, k=3, filters=live).items


def test_factors_are_re_solved_from_the_whole_history(fresh, checkerboard_artifact) -> None:
    rec, overlay = fresh
    a = checkerboard_artifact
    overlay.add(batch("1000,1,s01,10,14", "1000,2,s00,10,12"), 1)
    row = rec.user_index(1000)
    merged = a.user_items[row].toarray()[0]
    merged[list(a.streamer_names).index("s01")] += 4
    merged[list(a.streamer_names).index("s00")] += 2
    got = rec._fresh_viewer(1000, row)
    assert got is not None
    items = np.flatnonzero(merged)
    assert got.history.items.tolist() == items.tolist()
    assert got.history.watch.tolist() == merged[items].tolist()
    params = params_from_metadata(a.metadata)
    expected = FoldIn(a.item_factors, params).user_factors(items, merged[items])
    np.testing.assert_allclose(got.factors, expected, rtol=1e-5)
    # (FoldIn is implicit's recalculate_user: tests/test_foldin.py)
    ranked = rec.recommend(1000, k=5).items
    scores = a.item_factors @ expected
    scores[items] = -np.inf
    assert ranked == a.streamer_names[np.argsort(-scores, kind="stable")[:5]].tolist()


def test_a_burst_of_events_re_solves_once_per_version(fresh) -> None:
    rec, overlay = fresh
    overlay.add(batch(*(f"1000,{i},s01,{i},{i + 1}" for i in range(100))), 1)
    row = rec.user_index(1000)
    first = rec._fresh_viewer(1000, row)
    assert rec._fresh_viewer(1000, row) is first  # cached
    overlay.add(batch("1000,500,s03,500,501"), 2)
    assert rec._fresh_viewer(1000, row) is not first


def test_an_unknown_viewer_with_events_gets_folded_in_lists(fresh) -> None:
    rec, overlay = fresh
    assert rec.recommend(5, k=3).source == "popular"
    overlay.add(batch("5,1,s00,10,14", "5,2,s02,10,14", "5,3,ghost,10,14"), 1)
    result = rec.recommend(5, k=3)
    assert result.source == "als-foldin"
    assert not {"s00", "s02"} & set(result.items)
    assert all(int(name[1:]) % 2 == 0 for name in result.items)  # the even community
    overlay.add(batch("6,1,ghost,10,14"), 1)  # only unknown streamers: still popular
    assert rec.recommend(6, k=3).source == "popular"


def test_the_ranker_reads_fresh_watch_time(ranker_model_path: Path) -> None:
    rec = Recommender(artifact.load(ranker_model_path))
    overlay = Overlay()
    rec.attach(overlay)
    user = int(rec.artifact.user_ids[0])
    names = rec.artifact.streamer_names
    live_names = names[:40].tolist()
    live = rec.filters(available=live_names)
    before = rec.recommend(user, k=40, exclude_watched=False, filters=live).items
    target = before[-1]  # the one the ranker liked least
    now = rec.data_now
    overlay.add(
        batch(*(f"{user},{i},{target},{now + 3 * i},{now + 3 * i + 3}" for i in range(30))), 1
    )
    after = rec.recommend(user, k=40, exclude_watched=False, filters=live).items
    assert after != before
    fresh = rec._fresh_viewer(user, rec.user_index(user))
    assert fresh is not None and fresh.now == now + 90
    allowed = live.available
    scores = rec.artifact.item_factors[allowed] @ fresh.factors
    expected = rec._live_ranker.rank(fresh.history, allowed, scores, 40, fresh.now)
    assert after == names[expected].tolist()

"""Shape statistics of a sessions data set, on hand-made data where each answer is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from streamrec.evaluation import shape
from streamrec.model.als import ALSParams
from tests.conftest import sessions_frame


def frame(rows: list[tuple[int, str, int, int]], streamers: str) -> pd.DataFrame:
    """Like ``sessions_frame``, with every streamer of ``streamers`` a category (some unwatched)."""
    sessions = sessions_frame(rows)
    categories = sorted(streamers)
    return sessions.assign(
        streamer_name=pd.Categorical(sessions["streamer_name"].astype(str), categories=categories)
    )


def test_repeat_share_counts_returns_among_later_sessions() -> None:
    # User 1: a, b, a, a -> 2 repeats of 3 later sessions; user 2: c, c -> 1 of 1; user 3: one.
    rows = [(1, "a", 0, 1), (1, "b", 1, 2), (1, "a", 2, 3), (1, "a", 5, 6)]
    rows += [(2, "c", 0, 1), (2, "c", 4, 5), (3, "a", 0, 1)]
    assert shape.repeat_share(sessions_frame(rows)) == pytest.approx(3 / 4)


def test_repeat_share_is_zero_with_one_session_per_user() -> None:
    assert shape.repeat_share(sessions_frame([(1, "a", 0, 1), (2, "a", 0, 1)])) == 0.0


def test_activity_is_sessions_per_user() -> None:
    counts = {1: 1, 2: 2, 3: 3, 4: 10}
    rows = [(u, "a", t, t + 1) for u, n in counts.items() for t in range(n)]
    result = shape.activity(sessions_frame(rows))
    assert result.median == 2.5
    assert result.mean == 4.0
    assert result.p90 == pytest.approx(3 + 0.7 * 7)  # linear interpolation between 3 and 10


def test_popularity_of_a_zipf_catalogue() -> None:
    # Ten streamers with 2520 / r sessions at rank r: exactly Zipf with exponent 1.
    counts = [2520 // r for r in range(1, 11)]
    names = [f"s{r:02d}" for r in range(1, 11)]
    rows = [(t, name, 0, 1) for name, n in zip(names, counts, strict=True) for t in range(n)]
    result = shape.popularity(sessions_frame(rows))
    assert result.top1_share == pytest.approx(2520 / sum(counts))  # ceil(1% of 10) = 1 streamer
    assert result.top10_share == pytest.approx(2520 / sum(counts))
    assert result.slope == pytest.approx(-1.0)  # the head is the top 2 (at least two points)
    ascending = np.sort(counts)
    gini = sum((2 * i - 11) * c for i, c in enumerate(ascending, start=1)) / (10 * sum(counts))
    assert result.gini == pytest.approx(gini)


def test_popularity_of_equal_streamers_has_no_skew() -> None:
    rows = [(u, name, 0, 1) for u in range(3) for name in "abcd"]
    result = shape.popularity(sessions_frame(rows))
    assert result.gini == pytest.approx(0.0)
    assert result.top10_share == pytest.approx(0.25)
    assert result.slope == pytest.approx(0.0)


def test_popularity_ignores_streamers_without_sessions() -> None:
    sessions = frame([(1, "a", 0, 1), (2, "a", 0, 1), (2, "b", 0, 1), (3, "a", 1, 2)], "abcdef")
    assert shape.popularity(sessions).top1_share == pytest.approx(3 / 4)  # 1 of 2, not of 6


def test_last_window_repeat_and_new_shares() -> None:
    # T = 10, W = 2: the window is [8, 10]. User 1 saw a, b before and watches a (first), then
    # c; user 2 saw a and watches c (first), then d; user 3 has no history, user 4 no window.
    rows = [(1, "a", 0, 1), (1, "b", 1, 2), (1, "a", 8, 9), (1, "c", 9, 10)]
    rows += [(2, "a", 3, 4), (2, "c", 8, 9), (2, "d", 9, 10)]
    rows += [(3, "a", 8, 9), (4, "b", 2, 3)]
    result = shape.last_window(sessions_frame(rows), window=2)
    assert result.users == 2
    assert result.next_repeat_share == 0.5  # user 1's a is a repeat, user 2's c is not
    assert result.new_share == pytest.approx(3 / 4)  # (1, c), (2, c), (2, d) of 4 pairs


def test_live_median_counts_streamers_live_at_each_step() -> None:
    # a is live over [0, 4), b over [1, 2), c over [1, 3): 1, 3, 2, 1 streamers at steps 0..3.
    rows = [(1, "a", 0, 2), (2, "a", 2, 4), (1, "b", 1, 2), (3, "c", 1, 3)]
    assert shape.live_median(sessions_frame(rows)) == 1.5


def test_shared_lists_counts_rows_with_a_twin() -> None:
    lists = np.array([[1, 2, 3], [1, 2, 3], [3, 2, 1], [4, 5, 6], [4, 5, 6], [7, 8, 9]])
    assert shape.shared_lists(lists) == 4
    assert shape.shared_lists(np.empty((0, 3), dtype=np.int32)) == 0


def test_collapse_counts_identical_lists_of_a_real_als() -> None:
    # Users 1-3 watch a and b once each, users 4-5 watch c and d twice each; twelve streamers.
    # Users with the same history get the same factors, so two lists in all. With k = 10 of the
    # 10 streamers a user has not watched, the two groups' lists hold different streamers.
    rows = [(u, name, 0, 1) for u in (1, 2, 3) for name in "ab"]
    rows += [(u, name, t, t + 1) for u in (4, 5) for name in "cd" for t in (0, 5)]
    sessions = frame(rows, "abcdefghijkl")
    params = ALSParams(factors=4, iterations=5, regularization=1.0)
    result = shape.collapse(sessions, params, heavy=3, k=10)
    # The heaviest three are users 4 and 5 (4 sessions), then user 1: 4 and 5 share a list.
    assert (result.heavy, result.heavy_shared) == (3, 2)
    assert (result.users, result.distinct_lists) == (5, 2)
    assert result.distinct_share == pytest.approx(2 / 5)


def test_collapse_compares_a_sample_of_users() -> None:
    rows = [(u, name, 0, 1) for u in range(1, 9) for name in ("ab" if u % 2 else "cd")]
    result = shape.collapse(frame(rows, "abcdefgh"), ALSParams(factors=4, iterations=3), 40, 4, 3)
    assert result.heavy == 8
    assert result.heavy_shared == 8
    assert result.users == 3


def test_sample_like_slice_keeps_heavy_viewers_of_the_community() -> None:
    # Community {a, b}; users 1 and 2 have 3 sessions on it before step 10, user 3 only 2
    # (its third is at step 12, after the end); c is outside the community.
    rows = [(1, "a", 0, 4), (1, "b", 2, 3), (1, "a", 5, 9), (1, "c", 6, 7)]
    rows += [(2, "b", 1, 2), (2, "b", 3, 5), (2, "a", 4, 4)]
    rows += [(3, "a", 1, 2), (3, "b", 2, 3), (3, "a", 12, 13)]
    sample = shape.sample_like_slice(sessions_frame(rows), {"a", "b"}, 5, 3, end=10)
    assert sample["user_id"].tolist() == [1, 1, 1, 2, 2, 2]
    assert sample["time_stop"].tolist() == (sample["time_start"] + 1).tolist()
    assert list(sample["streamer_name"].cat.categories) == ["a", "b"]


def test_sample_like_slice_draws_the_number_of_users_asked() -> None:
    rows = [(u, "a", t, t + 1) for u in range(1, 21) for t in range(u)]
    sessions = sessions_frame(rows)
    sample = shape.sample_like_slice(sessions, {"a"}, users=5, min_sessions=2, seed=3)
    chosen = sample["user_id"].unique()
    assert len(chosen) == 5 and chosen.min() >= 2  # user 1 has one session: never eligible
    again = shape.sample_like_slice(sessions, {"a"}, users=5, min_sessions=2, seed=3)
    assert again.equals(sample)


def test_describe_gathers_every_statistic() -> None:
    rows = [(1, "a", 0, 1), (1, "b", 1, 2), (1, "a", 8, 9), (2, "a", 3, 4), (2, "c", 8, 9)]
    sessions = sessions_frame(rows)
    result = shape.describe(sessions, window=2)
    assert (result.sessions, result.users, result.streamers) == (5, 2, 3)
    assert result.repeat_share == shape.repeat_share(sessions)
    assert result.window == shape.last_window(sessions, window=2)
    assert result.collapse is None
    with_lists = shape.describe(sessions, ALSParams(factors=2, iterations=2), window=2)
    assert with_lists.collapse is not None and with_lists.collapse.users == 2

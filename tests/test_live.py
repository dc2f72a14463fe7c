from __future__ import annotations

import numpy as np
import pandas as pd

from streamrec.data.live import LiveIndex
from tests.conftest import sessions_frame


def brute_force_live(sessions: pd.DataFrame, step: int) -> list[int]:
    start = sessions["time_start"].to_numpy()
    stop = np.maximum(sessions["time_stop"].to_numpy(), start + 1)
    codes = sessions["streamer_name"].cat.codes.to_numpy()
    return sorted(set(codes[(start <= step) & (step < stop)].tolist()))


def test_live_is_start_inclusive_stop_exclusive_and_zero_length_is_one_step() -> None:
    sessions = sessions_frame([(1, "a", 2, 4), (2, "b", 4, 4), (3, "c", 0, 1)])
    live = LiveIndex.from_sessions(sessions)
    assert [live.live(t).tolist() for t in range(6)] == [[2], [], [0], [0], [1], []]
    assert live.n_steps == 5 and live.n_items == 3


def test_overlapping_sessions_of_a_streamer_count_once() -> None:
    sessions = sessions_frame([(1, "a", 0, 5), (2, "a", 3, 8), (3, "a", 8, 9), (4, "b", 1, 2)])
    live = LiveIndex.from_sessions(sessions)
    # One live interval for a ([0, 9)), held at the starts 0, 1, 3 and 8; b's at its start 1.
    assert live.steps_items.nnz == 4 + 1
    assert live.count(np.array([0, 1, 8, 9, -1, 2, 5])).tolist() == [1, 2, 1, 0, 0, 1, 1]


def test_the_index_does_not_grow_with_the_time_unit() -> None:
    # Steps of a second, a billion of them: two sessions, two rows.
    sessions = sessions_frame([(1, "a", 10, 999_999_990), (2, "b", 500_000_000, 999_999_999)])
    live = LiveIndex.from_sessions(sessions)
    assert live.steps_items.shape[0] == 2 and live.steps_items.nnz == 3
    assert live.n_steps == 999_999_999
    assert [live.live(t).tolist() for t in (9, 10, 600_000_000, 999_999_995)] == [
        [],
        [0],
        [0, 1],
        [1],
    ]


def test_matches_brute_force_on_random_sessions() -> None:
    rng = np.random.default_rng(0)
    start = rng.integers(0, 200, 500)
    rows = [
        (int(u), f"s{int(i):02d}", int(s), int(s + d))
        for u, i, s, d in zip(
            rng.integers(0, 50, 500),
            rng.integers(0, 30, 500),
            start,
            rng.integers(0, 12, 500),
            strict=True,
        )
    ]
    sessions = sessions_frame(rows)
    live = LiveIndex.from_sessions(sessions)
    for step in range(live.n_steps + 2):
        assert live.live(step).tolist() == brute_force_live(sessions, step)


def test_streamer_columns_follow_all_categories_of_a_subset() -> None:
    sessions = sessions_frame([(1, "a", 0, 2), (2, "z", 5, 6)])
    live = LiveIndex.from_sessions(sessions[sessions["streamer_name"] == "z"])
    assert live.n_items == 2 and live.live(5).tolist() == [1]

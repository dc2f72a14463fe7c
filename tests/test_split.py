from __future__ import annotations

import numpy as np
import pytest

from streamrec.data.split import Fold, TimeSplit, choose_window, user_items
from tests.conftest import sessions_frame


def boundary_sessions() -> list[tuple[int, str, int, int]]:
    # T = 100, W = 10: train < 80, valid [80, 90), test [90, 100].
    return [
        (1, "a", 79, 85),  # last train start; runs into validation
        (1, "b", 80, 80),  # first validation start, zero length
        (2, "a", 89, 95),  # last validation start
        (2, "c", 90, 92),  # first test start
        (3, "b", 100, 100),  # T itself is in the test window
        (3, "a", 0, 3),
    ]


def test_split_boundaries_are_exact() -> None:
    sessions = sessions_frame(boundary_sessions())
    split = TimeSplit.from_sessions(sessions, window=10)
    assert split.end == 100
    assert split.valid == Fold("valid", 80, 90) and split.test == Fold("test", 90, 101)
    starts = lambda frame: sorted(frame["time_start"].tolist())  # noqa: E731
    assert starts(split.valid.history(sessions)) == [0, 79]
    assert starts(split.valid.targets(sessions)) == [80, 89]
    assert starts(split.test.history(sessions)) == [0, 79, 80, 89]
    assert starts(split.test.targets(sessions)) == [90, 100]


def test_history_is_clipped_at_the_cut() -> None:
    sessions = sessions_frame(boundary_sessions())
    history = TimeSplit(end=100, window=10).valid.history(sessions)
    row = history[history["time_start"] == 79]
    assert row["time_stop"].tolist() == [80]  # 85 clipped to the cut
    assert history["time_stop"].dtype == np.int32
    assert sessions["time_stop"].max() == 100  # input untouched


def test_end_can_be_given() -> None:
    split = TimeSplit.from_sessions(sessions_frame(boundary_sessions()), window=5, end=60)
    assert split.test == Fold("test", 55, 61)


@pytest.mark.parametrize(
    ("end", "window", "message"),
    [
        (100, 0, "window must be >= 1 step, got 0"),
        (100, 50, "window=50 leaves no training steps"),
    ],
)
def test_split_invalid_window_names_value(end: int, window: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TimeSplit(end=end, window=window)


def test_fold_by_name() -> None:
    split = TimeSplit(end=100, window=10)
    assert split.fold("valid") == split.valid and split.fold("test") == split.test
    with pytest.raises(ValueError, match="fold must be 'valid' or 'test', got 'train'"):
        split.fold("train")


def test_user_items_keeps_every_user_row_and_streamer_column() -> None:
    sessions = sessions_frame(boundary_sessions())
    subset = sessions[sessions["user_id"] == 2]
    matrix = user_items(subset, np.array([1, 2, 3]), n_items=3)
    assert matrix.shape == (3, 3)
    assert matrix.toarray().tolist() == [[0, 0, 0], [6, 0, 2], [0, 0, 0]]


def test_user_items_unknown_user_raises() -> None:
    sessions = sessions_frame(boundary_sessions())
    with pytest.raises(ValueError, match="missing from user_ids"):
        user_items(sessions, np.array([1, 2]), n_items=3)


def _viewers(n_users: int, last_step: int) -> list[tuple[int, str, int, int]]:
    """Every viewer has a session at step 0; viewer u comes back at step last_step - u."""
    rows = [(u, "a", 0, 1) for u in range(n_users)]
    return rows + [(u, "b", last_step - u, last_step - u + 1) for u in range(n_users)]


def test_choose_window_takes_enough_returning_viewers() -> None:
    sessions = sessions_frame(_viewers(1500, 5000))  # T = 5001, a third of it: 1,667 steps
    # The latest W steps [T - W, T] hold the returns of viewers u <= W - 1: W of them.
    assert choose_window(sessions, min_users=1000, min_share=0.01) == 1000
    assert choose_window(sessions, min_users=10, min_share=0.001) == 10


def test_choose_window_also_wants_a_share_of_the_sessions() -> None:
    sessions = sessions_frame(_viewers(1500, 5000))
    # 40% of the 3,000 sessions are the returns of viewers u < 1,200.
    assert choose_window(sessions, min_users=10, min_share=0.4) == 1200


def test_choose_window_on_small_data_asks_for_half_of_what_it_can_have() -> None:
    sessions = sessions_frame(_viewers(30, 100))  # T = 101; at most a third: 33 steps
    # All 30 viewers return within 33 steps: half of them, 15, are asked for.
    assert choose_window(sessions, min_users=1000, min_share=0.01) == 15


def test_choose_window_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="min_users >= 1"):
        choose_window(sessions_frame(_viewers(3, 10)), min_users=0)

from __future__ import annotations

import numpy as np
import pytest

from streamrec.split import Fold, TimeSplit, user_items
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

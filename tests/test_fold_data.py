"""A fold's data for both protocols: its users, their next sessions, the cold users."""

from __future__ import annotations

import pandas as pd

from streamrec.data.split import TimeSplit
from streamrec.evaluation.fold_data import prepare_fold
from tests.conftest import sessions_frame
from tests.hand_made import A, C


def test_prepare_fold_users_targets_and_cold_users(hand_made: pd.DataFrame) -> None:
    fold = prepare_fold(hand_made, TimeSplit.from_sessions(hand_made, window=10).test)
    assert fold.user_ids[fold.users].tolist() == [1, 2, 4]
    assert fold.cold_users == 2
    assert fold.next_step.tolist() == [32, 31, 32]
    assert fold.next_item.tolist() == [A, C, C]
    assert fold.next_is_repeat().tolist() == [True, True, False]
    relevant = fold.relevant()
    assert [relevant["all"][r].indices.tolist() for r in range(3)] == [[A, C], [C], [C]]
    assert [relevant["new"][r].indices.tolist() for r in range(3)] == [[C], [], [C]]
    assert [relevant["repeat"][r].indices.tolist() for r in range(3)] == [[A], [C], []]


def test_next_session_tie_goes_to_the_longest_then_lowest_streamer() -> None:
    rows = [(1, "a", 0, 5), (1, "c", 32, 33), (1, "b", 32, 36), (1, "d", 32, 36)]
    sessions = sessions_frame(rows + [(9, "a", 40, 40)])
    fold = prepare_fold(sessions, TimeSplit(end=40, window=10).test)
    assert fold.next_item.tolist() == [1]  # b and d both last 4 steps; b has the lower index

from __future__ import annotations

import numpy as np
import pytest

from streamrec.ranking.features import FEATURES, NEVER, ViewerHistory, feature_rows
from tests.conftest import sessions_frame

ROWS = [  # (user, streamer, start, stop)
    (1, "a", 0, 2),
    (1, "a", 5, 6),
    (1, "b", 3, 3),  # zero length: one step
    (2, "b", 1, 4),
    (2, "c", 8, 12),  # runs past now=10: clipped
]


def test_history_sums_counts_and_remembers_the_last_step() -> None:
    history = ViewerHistory.from_sessions(sessions_frame(ROWS), np.array([1, 2, 3]), 3, now=10)
    assert history.watch.toarray().tolist() == [[3, 1, 0], [0, 3, 4], [0, 0, 0]]
    assert history.sessions.tolist() == [2, 1, 1, 1]
    assert history.last_step.tolist() == [6, 3, 4, 10]
    assert history.viewers.tolist() == [1, 2, 1]
    history.check()


def test_history_rejects_unknown_users() -> None:
    with pytest.raises(ValueError, match="missing from user_ids"):
        ViewerHistory.from_sessions(sessions_frame(ROWS), np.array([1]), 3)


def test_feature_rows_of_a_known_viewer() -> None:
    history = ViewerHistory.from_sessions(sessions_frame(ROWS), np.array([1, 2]), 3, now=10)
    x = feature_rows(history, 0, np.array([0, 2]), np.array([0.5, 0.2], dtype=np.float32))
    column = {name: x[:, j].tolist() for j, name in enumerate(FEATURES)}
    assert column["als_score"] == pytest.approx([0.5, 0.2])
    assert column["als_gap"] == pytest.approx([0.0, -0.3])
    assert column["log_watch_steps"] == pytest.approx([np.log1p(3), 0])
    assert column["log_sessions"] == pytest.approx([np.log1p(2), 0])
    assert column["log_steps_since_watched"] == pytest.approx([np.log1p(4), np.log1p(NEVER)])
    assert column["watch_share"] == pytest.approx([0.75, 0])
    assert column["log_viewers"] == pytest.approx([np.log1p(1), np.log1p(1)])
    assert column["log_viewer_steps"] == pytest.approx([np.log1p(4)] * 2)
    assert column["log_viewer_streamers"] == pytest.approx([np.log1p(2)] * 2)
    assert column["log_steps_since_active"] == pytest.approx([np.log1p(4)] * 2)


def test_feature_rows_without_history_hold_no_nan() -> None:
    history = ViewerHistory.from_sessions(sessions_frame(ROWS), np.array([1, 2]), 3)
    x = feature_rows(history, None, np.array([1]), np.array([0.1], dtype=np.float32))
    assert np.isfinite(x).all() and x[0, FEATURES.index("log_viewer_steps")] == 0

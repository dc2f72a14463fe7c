"""The ranker's training queries are asked as the server with watch events asks them."""

from __future__ import annotations

import numpy as np

from streamrec.data.live import LiveIndex
from streamrec.model.als import ALSParams
from streamrec.ranking.features import ViewerHistory
from streamrec.ranking.foldin import FoldIn
from streamrec.training.live_queries import session_queries
from tests.conftest import sessions_frame

NAMES = ["a", "b", "c", "d"]


def frame(rows: list[tuple[int, str, int, int]]):
    sessions = sessions_frame(rows)
    sessions["streamer_name"] = sessions["streamer_name"].cat.set_categories(NAMES)
    return sessions


def test_one_query_per_viewer_and_start_with_the_history_known_then() -> None:
    before = frame([(1, "a", 0, 5), (2, "b", 0, 3)])
    window = frame(
        [
            (1, "b", 10, 14),  # viewer 1's first start: asked as of the cut
            (1, "c", 10, 11),  # same start, shorter: not its own query
            (1, "a", 12, 20),  # asked with b (open at 12: 2 steps) and c (closed) merged in
            (3, "d", 11, 12),  # no history before: not asked at its first start...
            (3, "a", 15, 16),  # ... but at its second, with d alone
        ]
    )
    user_ids = np.array([1, 2, 3])
    history = ViewerHistory.from_sessions(before, user_ids, len(NAMES), now=8)
    rng = np.random.default_rng(0)
    items = rng.normal(size=(len(NAMES), 3)).astype(np.float32)
    users = rng.normal(size=(3, 3)).astype(np.float32)
    fold_in = FoldIn(items, ALSParams(factors=3, regularization=0.5))
    live = LiveIndex.from_sessions(
        frame([*before.itertuples(index=False), *window.itertuples(index=False)])
    )
    queries = session_queries(window, user_ids, history, users, fold_in, live)

    assert queries.rows.tolist() == [0, 0, 2]
    assert queries.target.tolist() == [NAMES.index("b"), NAMES.index("a"), NAMES.index("a")]
    assert queries.now.tolist() == [8, 12, 15]
    first, second, third = queries.viewers
    assert first is None
    np.testing.assert_array_equal(queries.factors[0], users[0])
    assert second.items.tolist() == [0, 1, 2]  # a (before), b and c (window)
    assert second.watch.tolist() == [5, 2, 1] and second.last_step.tolist() == [5, 12, 11]
    np.testing.assert_allclose(
        queries.factors[1], fold_in.user_factors(second.items, second.watch), rtol=1e-6
    )
    assert third.items.tolist() == [3] and third.watch.tolist() == [1]


def test_queries_beyond_the_bound_are_a_seeded_sample() -> None:
    window = frame([(1, "a", t, t + 1) for t in range(10, 40)])
    before = frame([(1, "b", 0, 5)])
    history = ViewerHistory.from_sessions(before, np.array([1]), len(NAMES), now=8)
    items = np.eye(4, 3, dtype=np.float32)
    args = (window, np.array([1]), history, np.ones((1, 3), np.float32))
    live = LiveIndex.from_sessions(window)
    fold_in = FoldIn(items, ALSParams(factors=3))
    one = session_queries(*args, fold_in, live, seed=3, max_queries=7)
    two = session_queries(*args, fold_in, live, seed=3, max_queries=7)
    assert len(one.rows) == 7 and one.now.tolist() == two.now.tolist()
    assert one.now.tolist() == sorted(one.now.tolist())

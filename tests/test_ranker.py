from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from streamrec.model import artifact
from streamrec.ranking import ranker
from streamrec.ranking.features import ViewerHistory
from streamrec.ranking.ranker import LiveRanker, Queries, candidates, from_artifact, train_ranker
from streamrec.ranking.trees import TreeEnsemble
from tests.conftest import fit_artifact, sessions_frame

N_USERS, N_ITEMS = 200, 30


def _history_and_queries(seed: int = 0) -> tuple[ViewerHistory, Queries, np.ndarray, np.ndarray]:
    """Each viewer watched 3 streamers, one of them far more: next they watch that one."""
    rng = np.random.default_rng(seed)
    rows, favourite = [], []
    for u in range(N_USERS):
        own = rng.choice(N_ITEMS, 3, replace=False)
        favourite.append(own[0])
        for j, item in enumerate(own):
            for s in range(6 if j == 0 else 1):
                rows.append((u, f"s{item:02d}", 10 * s + j, 10 * s + j + 1))
    sessions = sessions_frame(rows)
    history = ViewerHistory.from_sessions(sessions, np.arange(N_USERS), N_ITEMS, now=100)
    live = [np.arange(N_ITEMS)] * N_USERS
    queries = Queries(np.arange(N_USERS), live, np.array(favourite))
    user_factors = rng.standard_normal((N_USERS, 4)).astype(np.float32)
    item_factors = rng.standard_normal((N_ITEMS, 4)).astype(np.float32)
    return history, queries, user_factors, item_factors


def test_candidates_are_everything_when_few() -> None:
    allowed = np.arange(10)
    got = candidates(allowed, np.zeros(10), np.zeros(10), np.arange(10))
    assert got.tolist() == list(range(10))


def test_candidates_keep_own_best_and_popular(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ranker, "OWN", 1)
    monkeypatch.setattr(ranker, "ALS_BEST", 2)
    monkeypatch.setattr(ranker, "POPULAR", 1)
    allowed = np.arange(100, 110)
    scores = np.linspace(0, 1, 10)  # the last two positions are ALS's best
    watch = np.zeros(10)
    watch[[1, 3]] = [1, 5]  # the most watched, position 3, is kept
    popularity_rank = np.arange(200)[::-1]  # item 109 is the most popular
    got = candidates(allowed, scores, watch, popularity_rank)
    assert got.tolist() == [3, 8, 9]


def test_train_ranker_learns_that_viewers_return_to_their_favourite() -> None:
    history, queries, user_factors, item_factors = _history_and_queries()
    popularity_rank = np.arange(N_ITEMS)
    trained = train_ranker(queries, history, user_factors, item_factors, popularity_rank)
    assert trained is not None
    text, summary = trained
    assert summary["queries"] == N_USERS and summary["hr@1 ranker"] >= 0.95
    assert summary["hr@1 ranker"] > summary["hr@1 blend"] - 1e-9
    assert trained == train_ranker(queries, history, user_factors, item_factors, popularity_rank)
    live = LiveRanker(TreeEnsemble.from_model_string(text), history, popularity_rank)
    hits = [
        live.rank(u, np.arange(N_ITEMS), item_factors @ user_factors[u], k=3)[0] == fav
        for u, fav in enumerate(queries.target)
    ]
    assert np.mean(hits) >= 0.95


def test_train_ranker_needs_enough_queries() -> None:
    history, queries, user_factors, item_factors = _history_and_queries()
    few = Queries(queries.rows[:5], queries.live[:5], queries.target[:5])
    assert train_ranker(few, history, user_factors, item_factors, np.arange(N_ITEMS)) is None


def test_rank_puts_candidates_first_then_the_rest_by_als(monkeypatch: pytest.MonkeyPatch) -> None:
    history, queries, user_factors, item_factors = _history_and_queries()
    text, _ = train_ranker(queries, history, user_factors, item_factors, np.arange(N_ITEMS))
    live = LiveRanker(TreeEnsemble.from_model_string(text), history, np.arange(N_ITEMS))
    monkeypatch.setattr(ranker, "OWN", 1)
    monkeypatch.setattr(ranker, "ALS_BEST", 1)
    monkeypatch.setattr(ranker, "POPULAR", 1)
    scores = item_factors @ user_factors[0]
    ranked = live.rank(0, np.arange(N_ITEMS), scores, k=N_ITEMS)
    picked = candidates(np.arange(N_ITEMS), scores, history.watch[0].toarray()[0], np.arange(30))
    assert sorted(ranked[: len(picked)].tolist()) == sorted(picked.tolist())
    rest = ranked[len(picked) :]
    assert np.all(np.diff(scores[rest]) <= 0) and len(set(ranked.tolist())) == N_ITEMS


def test_from_artifact_reads_the_ranker_and_rejects_a_broken_one() -> None:
    base = fit_artifact(sessions_frame([(1, "a", 0, 2), (1, "b", 1, 3), (2, "a", 0, 1)]))
    assert from_artifact(base) is None
    history, queries, user_factors, item_factors = _history_and_queries()
    text, _ = train_ranker(queries, history, user_factors, item_factors, np.arange(N_ITEMS))
    nnz = base.user_items.nnz
    good = dataclasses.replace(
        base,
        metadata={**base.metadata, "ranker": {"now": 3}},
        ranker_model=text,
        watch_sessions=np.ones(nnz, np.float32),
        watch_last_step=np.zeros(nnz, np.float32),
    )
    assert isinstance(from_artifact(good), LiveRanker)
    with pytest.raises(artifact.ArtifactError, match="ranker cannot be read"):
        from_artifact(dataclasses.replace(good, ranker_model="not a model"))
    with pytest.raises(artifact.ArtifactError, match="no ranker metadata"):
        from_artifact(dataclasses.replace(good, metadata=base.metadata))

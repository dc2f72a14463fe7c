"""The split, both protocols and the whole evaluation, on hand-made data with known answers."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from implicit.evaluation import ranking_metrics_at_k
from threadpoolctl import threadpool_limits

from streamrec import data
from streamrec.data.live import LiveIndex
from streamrec.data.split import TimeSplit
from streamrec.data.synth import PRESETS, write_sessions
from streamrec.evaluation.baselines import ALS, Popularity, Repeat
from streamrec.evaluation.evaluate import evaluate
from streamrec.evaluation.fold_data import prepare_fold
from streamrec.evaluation.protocols import (
    BUCKETS,
    evaluate_topk,
    live_metrics,
    live_ranks,
    paired_hits,
)
from streamrec.evaluation.report import to_json
from streamrec.model.als import ALSParams
from tests.conftest import sessions_frame

# T = 40, W = 10: the test fold fits on sessions starting before 30, evaluates [30, 40].
HAND_MADE = [
    # history: popularity is z (3 viewers), c (2, 5 steps), b (2, 4 steps), a (1 viewer)
    (1, "a", 0, 10),
    (1, "b", 10, 12),
    (2, "z", 0, 5),
    (2, "c", 5, 6),
    (3, "z", 0, 5),
    (4, "z", 0, 5),
    (4, "b", 6, 8),
    (5, "c", 0, 4),
    # test window: live at 31 = {c}; at 32 = {a, c} (z and b are not live)
    (1, "a", 32, 35),  # user 1 returns to their top streamer: a repeat target
    (1, "c", 36, 38),  # then discovers c
    (2, "c", 31, 34),  # user 2 returns to c, the only live streamer at 31
    (4, "c", 32, 33),  # user 4 discovers c
    (6, "a", 33, 34),  # user 6 has no history: cold, not evaluated
    (7, "b", 40, 40),  # T = 40; user 7 has no history either
]
A, B, C, Z = 0, 1, 2, 3


@pytest.fixture(scope="module")
def hand_made() -> pd.DataFrame:
    return sessions_frame(HAND_MADE)


@pytest.fixture(scope="module")
def tiny_sessions(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    path = tmp_path_factory.mktemp("tiny") / "tiny.csv"
    write_sessions(PRESETS["tiny"], path)
    return data.read_sessions(path)[0]


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


def test_repeat_model_hits_a_returning_user_at_rank_one(hand_made: pd.DataFrame) -> None:
    fold = prepare_fold(hand_made, TimeSplit(end=40, window=10).test)
    live = LiveIndex.from_sessions(hand_made)
    ranks = live_ranks(Repeat().fit(fold.history), fold, live)
    assert ranks.tolist() == [1, 1, 1]
    result = live_metrics(ranks, fold.next_is_repeat())
    assert result["all"]["hit_rate@1"] == 1.0 and result["repeat"]["users"] == 2


def test_streamers_not_live_are_not_candidates(hand_made: pd.DataFrame) -> None:
    # z is the most popular streamer but is not live at 31 or 32: were it ranked, every
    # popularity rank would be one worse.
    fold = prepare_fold(hand_made, TimeSplit(end=40, window=10).test)
    live = LiveIndex.from_sessions(hand_made)
    ranks = live_ranks(Popularity().fit(fold.history), fold, live)
    assert ranks.tolist() == [2, 1, 1]  # user 1: c (more popular, live) comes before a
    result = live_metrics(ranks, fold.next_is_repeat())
    assert result["all"]["hit_rate@1"] == pytest.approx(2 / 3)
    assert result["repeat"]["ndcg@5"] == pytest.approx((1 / math.log2(3) + 1) / 2)
    assert result["new"]["hit_rate@1"] == 1.0


def test_live_ranks_refuses_a_target_that_is_not_live(hand_made: pd.DataFrame) -> None:
    fold = prepare_fold(hand_made, TimeSplit(end=40, window=10).test)
    only_c_at_31 = sp.csr_matrix(([True], ([31], [C])), shape=(50, 4), dtype=bool)
    with pytest.raises(ValueError, match="the next streamer of user 1 is not live at its start"):
        live_ranks(Popularity().fit(fold.history), fold, LiveIndex(only_c_at_31))


def test_topk_protocol_known_answer(hand_made: pd.DataFrame) -> None:
    fold = prepare_fold(hand_made, TimeSplit(end=40, window=10).test)
    result = evaluate_topk(Popularity().fit(fold.history), fold, max_k=4)
    # Popularity: z, c, b, a. Excluded: user 1 gets [z, c], user 2 [z, b, a], user 4 [c, a].
    new = result["exclude"]["new"]
    assert int(new["users"]) == 2
    assert new["ndcg"].tolist() == pytest.approx(
        [0.5, (1 / math.log2(3) + 1) / 2] * 1 + [(1 / math.log2(3) + 1) / 2] * 2
    )
    assert result["exclude"]["repeat"]["hit_rate"].tolist() == [0.0] * 4
    kept = result["keep"]["all"]
    # Kept: everyone gets [z, c, b, a]; user 1 hits c at 2 and a at 4, users 2 and 4 c at 2.
    assert kept["recall"][1] == pytest.approx((1 / 2 + 1 + 1) / 3)
    assert kept["map"][3] == pytest.approx(((1 / 2 + 2 / 4) / 2 + 1 / 2 + 1 / 2) / 3)


def test_topk_protocol_matches_implicit_ranking_metrics(tiny_sessions: pd.DataFrame) -> None:
    fold = prepare_fold(tiny_sessions, TimeSplit.from_sessions(tiny_sessions, window=60).test)
    model = ALS(ALSParams(factors=8, iterations=10, regularization=1.0)).fit(fold.history)
    ours = evaluate_topk(model, fold, max_k=10, modes=("exclude",))["exclude"]["all"]
    # The same factors in an implicit model; test items only for the users we evaluate.
    evaluated = np.zeros(fold.history.shape[0], dtype=bool)
    evaluated[fold.users] = True
    test = sp.csr_matrix(fold.target.multiply(evaluated[:, None]))
    test.eliminate_zeros()  # implicit counts stored zeros as test items
    with threadpool_limits(1, "blas"):
        reference_model = AlternatingLeastSquares(factors=8)
        reference_model.user_factors = model.user_factors_
        reference_model.item_factors = model.item_factors_
        reference = ranking_metrics_at_k(
            reference_model, fold.history, test, K=10, show_progress=False
        )
    assert ours["map"][9] > 0.05
    assert ours["map"][9] == pytest.approx(reference["map"], abs=1e-6)
    assert ours["ndcg"][9] == pytest.approx(reference["ndcg"], abs=1e-6)


def test_evaluate_runs_every_model_on_the_same_users(tiny_sessions: pd.DataFrame) -> None:
    result = evaluate(tiny_sessions, window=60, max_k=20)
    names = [m.name for m in result.models]
    assert names == ["popularity", "repeat", "mf-gd", "als", "bpr", "als+repeat"]
    assert result.fold.name == "test" and result.counts["users"] > 50
    assert 0.2 < result.counts["repeat_share"] < 0.9
    for m in result.models:
        assert m.fit_seconds >= 0
        for mode in ("exclude", "keep"):
            for bucket in BUCKETS:
                curve = m.topk[mode][bucket]["recall"]
                assert len(curve) == 20 and np.all(np.diff(curve) >= 0) and curve[-1] <= 1
        assert set(m.live) == set(BUCKETS)
        assert m.live["all"]["users"] == result.counts["users"]
    repeat, popularity = result.model("repeat"), result.model("popularity")
    # Watched streamers excluded, "repeat" is the popularity ranking.
    assert np.allclose(
        repeat.topk["exclude"]["new"]["ndcg"], popularity.topk["exclude"]["new"]["ndcg"]
    )
    assert repeat.live["repeat"]["hit_rate@1"] > popularity.live["repeat"]["hit_rate@1"]
    json.dumps(to_json(result))  # every number is plain JSON


def test_evaluate_validation_fold_and_user_sample(tiny_sessions: pd.DataFrame) -> None:
    result = evaluate(tiny_sessions, [Popularity()], window=60, fold="valid", max_users=40)
    assert result.fold.name == "valid" and result.counts["users"] == 40


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_k": 0, "window": 60}, "max_k must be >= 1, got 0"),
        ({"fold": "train", "window": 60}, "fold must be 'valid' or 'test', got 'train'"),
        ({"window": 500}, "window=500 leaves no training steps"),
    ],
)
def test_evaluate_invalid_arguments(
    tiny_sessions: pd.DataFrame, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        evaluate(tiny_sessions, [Popularity()], **kwargs)  # type: ignore[arg-type]


def test_evaluate_refuses_models_with_the_same_name(tiny_sessions: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="model names must be distinct"):
        evaluate(tiny_sessions, [Popularity(), Popularity()], window=60)


def test_empty_window_is_an_error(hand_made: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="needs sessions before step"):
        evaluate(hand_made, [Popularity()], window=10, end=200)


def test_paired_hits_counts_discordant_targets_and_tests_them() -> None:
    pair = paired_hits(np.array([1, 1, 3, 1]), np.array([2, 1, 1, 5]), k=1)
    assert (pair.gained, pair.lost, pair.p_value) == (2, 1, 1.0)
    # 10 discordant targets, all for the model: p = 2 * (1/2)^10.
    ten = paired_hits(np.ones(12, dtype=int), np.array([2] * 10 + [1, 1]), k=1)
    assert (ten.gained, ten.lost) == (10, 0) and ten.p_value == pytest.approx(2 / 1024)
    assert paired_hits(np.array([4]), np.array([9]), k=5).gained == 1
    assert paired_hits(np.array([1]), np.array([1])).p_value == 1.0
    with pytest.raises(ValueError, match=r"ranks have shapes \(2,\) and \(3,\): not paired"):
        paired_hits(np.ones(2), np.ones(3))

"""Both protocols on one fitted model, on hand-made data with known answers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from implicit.evaluation import ranking_metrics_at_k
from threadpoolctl import threadpool_limits

from streamrec.data.live import LiveIndex
from streamrec.data.split import TimeSplit
from streamrec.evaluation.baselines import ALS, Popularity, Repeat
from streamrec.evaluation.fold_data import prepare_fold
from streamrec.evaluation.protocols import evaluate_topk, live_metrics, live_ranks, paired_hits
from streamrec.model.als import ALSParams
from tests.hand_made import C


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

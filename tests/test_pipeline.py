from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from streamrec import data
from streamrec.model.als import ALSParams
from streamrec.training.pipeline import TrainingPlan, TrainingRun, ranker_wins, train_pipeline

START = ALSParams(factors=8, iterations=6)


@pytest.fixture(scope="module")
def sessions(tiny_csv: Path) -> pd.DataFrame:
    return data.read_sessions(tiny_csv)[0]


@pytest.fixture(scope="module")
def run(sessions: pd.DataFrame) -> TrainingRun:
    return train_pipeline(sessions, TrainingPlan(params=START, budget_fits=3))


def test_pipeline_tunes_on_the_latest_window_and_trains_the_ranker(
    run: TrainingRun, sessions: pd.DataFrame
) -> None:
    v = run.validation
    assert v["end"] == sessions["time_stop"].max() and v["cut"] == v["end"] - v["window"]
    assert v["users"] > 0 and v["trials"][0]["params"] == START.as_dict()
    figures = v["ndcg@10 new"]
    assert set(figures) == {"popularity", "fixed defaults", "chosen"}
    finished = [t["metrics"]["ndcg@10 new"] for t in v["trials"] if t["pruned_at"] is None]
    assert figures["chosen"] == pytest.approx(max(finished), abs=1e-6)
    assert run.params == run.tuning.best.params
    assert run.ranker_model is not None and v["ranker"]["queries"] > 0
    assert run.user_factors.shape == (len(run.interactions.user_ids), run.params.factors)
    assert run.history.watch.nnz == run.interactions.user_items.nnz
    report = run.report()
    assert "fixed defaults" in report and "live ranker:" in report


def test_pipeline_is_deterministic(run: TrainingRun, sessions: pd.DataFrame) -> None:
    again = train_pipeline(sessions, TrainingPlan(params=START, budget_fits=3))
    assert again.params == run.params and again.ranker_model == run.ranker_model
    np.testing.assert_array_equal(again.item_factors, run.item_factors)


def test_fixed_parameters_train_exactly_what_was_asked(sessions: pd.DataFrame) -> None:
    fixed = ALSParams(factors=4, iterations=3, regularization=5.0)
    run = train_pipeline(sessions, TrainingPlan(params=fixed, tune=False))
    assert run.params == fixed and run.tuning is None and run.ranker_model is not None
    assert set(run.validation["ndcg@10 new"]) == {"popularity", "chosen"}
    bare = train_pipeline(sessions, TrainingPlan(params=fixed, tune=False, ranker=False))
    assert bare.params == fixed and bare.ranker_model is None and "skipped" in bare.validation


def test_report_says_plainly_when_popularity_wins(run: TrainingRun) -> None:
    figures = run.validation["ndcg@10 new"]
    saved = dict(figures)
    try:
        figures["chosen"] = figures["popularity"]
        assert "does not beat popularity" in run.report()
    finally:
        figures.update(saved)
    assert "does not beat popularity" not in run.report()


def test_data_without_a_validation_window_still_trains(sessions: pd.DataFrame) -> None:
    first = sessions[sessions["time_start"] == sessions["time_start"].min()]
    run = train_pipeline(first, TrainingPlan(params=START, budget_fits=2))
    assert "skipped" in run.validation and run.params == START
    assert run.report().startswith("validation skipped:")


def test_a_ranker_that_loses_to_the_blend_is_not_shipped() -> None:
    assert ranker_wins({"hr@1 ranker": 0.40, "hr@1 blend": 0.38})
    assert ranker_wins({"hr@1 ranker": 0.38, "hr@1 blend": 0.38})
    assert not ranker_wins({"hr@1 ranker": 0.37, "hr@1 blend": 0.38})


def test_plan_rejects_bad_budget_and_window() -> None:
    with pytest.raises(ValueError, match="tune budget must be > 0 plain fits, got 0"):
        TrainingPlan(budget_fits=0)
    with pytest.raises(ValueError, match="window must be >= 1 step, got 0"):
        TrainingPlan(window=0)

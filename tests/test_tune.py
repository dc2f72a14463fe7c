from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from streamrec import data
from streamrec.data.split import Fold, choose_window
from streamrec.data.synth import PRESETS, write_sessions
from streamrec.evaluation.fold_data import FoldData, prepare_fold
from streamrec.model.als import ALSParams
from streamrec.training.tune import (
    OBJECTIVE,
    SearchSpace,
    relative_cost,
    trial_cost,
    trial_values,
    tune_als,
)

START = ALSParams(factors=8, iterations=6, regularization=1.0)
FAST = SearchSpace(factors=(4, 8), iterations=(3, 12))


@pytest.fixture(scope="module")
def tiny_sessions(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    path: Path = tmp_path_factory.mktemp("tiny") / "tiny.csv"
    write_sessions(PRESETS["tiny"], path)
    return data.read_sessions(path)[0]


@pytest.fixture(scope="module")
def fold(tiny_sessions: pd.DataFrame) -> FoldData:
    end = int(tiny_sessions["time_stop"].max())
    window = choose_window(tiny_sessions)
    return prepare_fold(tiny_sessions, Fold("valid", end - window, end + 1))


def test_tune_starts_from_the_given_setting_and_keeps_the_best(fold: FoldData) -> None:
    seen = []
    result = tune_als(
        fold, budget_fits=50, max_trials=4, start=START, space=FAST, on_trial=seen.append
    )
    assert [t.number for t in result.trials] == [0, 1, 2, 3] and seen == result.trials
    assert result.trials[0].params == START and result.trials[0].cost == 1
    finished = [t for t in result.trials if t.pruned_at is None]
    assert result.best.score == max(t.score for t in finished)
    assert 0 < result.best.score <= 1 and result.users == len(fold.users)
    table = result.table().splitlines()
    assert OBJECTIVE in table[0] and len(table) == 2 + 4
    assert table[2].startswith(f"| {result.best.number} |")
    assert [r["number"] for r in result.as_records()] == [0, 1, 2, 3]


def test_tune_is_deterministic_for_a_seed(fold: FoldData) -> None:
    runs = [tune_als(fold, budget_fits=6, start=START, space=FAST, seed=3) for _ in range(2)]
    assert [t.params for t in runs[0].trials] == [t.params for t in runs[1].trials]
    assert [t.metrics for t in runs[0].trials] == [t.metrics for t in runs[1].trials]
    assert all(t.params.seed == 3 for t in runs[0].trials)


def test_tune_stops_when_the_budget_of_fits_is_spent(fold: FoldData) -> None:
    result = tune_als(fold, budget_fits=3, start=START, space=FAST)
    spent = [t.cost for t in result.trials]
    assert sum(spent[:-1]) < 3 <= sum(spent)
    assert tune_als(fold, budget_fits=0.5, start=START).trials[0].params == START
    assert len(tune_als(fold, budget_fits=0.5, start=START).trials) == 1


def test_tune_prunes_trials_below_the_median(fold: FoldData) -> None:
    result = tune_als(fold, budget_fits=40, max_trials=14, start=START, space=FAST, seed=1)
    pruned = [t for t in result.trials if t.pruned_at is not None]
    assert pruned, "MedianPruner stopped no trial in 14"
    assert all(t.pruned_at % 5 == 0 and t.pruned_at < t.params.iterations for t in pruned)
    assert all(t.cost < trial_cost(t.params, START) for t in pruned)


def test_trial_cost_counts_the_fit_and_every_scoring() -> None:
    reference = ALSParams(factors=8, iterations=15)  # scored at 5, 10 and 15: 1 + 0.5 * 3
    assert trial_cost(reference, reference) == 1
    # Half the iterations (scored at 5 and at its end) of the same fit: (0.5 + 0.5 * 2) / 2.5.
    assert trial_cost(ALSParams(factors=8, iterations=8), reference) == pytest.approx(
        (8 / 15 + 0.5 * 2) / 2.5
    )
    # Pruned after 5 of 30 iterations: a sixth of a double fit, one scoring.
    assert trial_cost(ALSParams(factors=8, iterations=30), reference, 5) == pytest.approx(
        (2 / 6 + 0.5) / 2.5
    )


def test_relative_cost_grows_with_iterations_and_factors() -> None:
    assert relative_cost(START, START) == 1
    assert relative_cost(ALSParams(factors=8, iterations=12), START) == 2
    assert relative_cost(ALSParams(factors=32, iterations=6), START) == pytest.approx(8)


def test_trial_values_round_trip_the_search_space() -> None:
    assert trial_values(ALSParams(confidence="linear", eps=5)).keys() == {
        "confidence",
        "factors",
        "iterations",
        "regularization",
        "alpha",
    }
    assert trial_values(ALSParams())["eps"] == 1.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"budget_fits": 0}, "budget_fits must be > 0, got 0"),
        ({"max_seconds": 0}, "max_seconds must be > 0, got 0"),
        ({"max_trials": 0}, "max_trials must be >= 1, got 0"),
    ],
)
def test_tune_invalid_arguments(fold: FoldData, kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        tune_als(fold, **kwargs)  # type: ignore[arg-type]

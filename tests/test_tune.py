from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from streamrec import artifact, data
from streamrec.cli.train import main as als_fit
from streamrec.synth import PRESETS, write_sessions
from streamrec.train import ALSParams
from streamrec.tune import OBJECTIVE, SearchSpace, tune_als

START = ALSParams(factors=4, iterations=3)
FAST = SearchSpace(factors=(4, 8), iterations=(2, 3))


@pytest.fixture(scope="module")
def tiny_sessions(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    path: Path = tmp_path_factory.mktemp("tiny") / "tiny.csv"
    write_sessions(PRESETS["tiny"], path)
    return data.read_sessions(path)[0]


def test_tune_starts_from_the_given_setting_and_keeps_the_best(
    tiny_sessions: pd.DataFrame,
) -> None:
    seen = []
    result = tune_als(
        tiny_sessions,
        budget_seconds=60,
        max_trials=3,
        window=60,
        start=START,
        space=FAST,
        on_trial=seen.append,
    )
    assert [t.number for t in result.trials] == [0, 1, 2] and seen == result.trials
    assert result.trials[0].params == START
    assert result.best.score == max(t.score for t in result.trials)
    assert 0 < result.best.score <= 1 and result.users > 0
    table = result.table().splitlines()
    assert OBJECTIVE in table[0] and len(table) == 2 + 3
    assert table[2].startswith(f"| {result.best.number} |")


def test_tune_stops_when_the_budget_is_spent(tiny_sessions: pd.DataFrame) -> None:
    result = tune_als(tiny_sessions, budget_seconds=1e-9, window=60, start=START)
    assert len(result.trials) == 1  # the first trial always runs


def test_search_space_samples_valid_settings() -> None:
    rng = np.random.default_rng(0)
    samples = [SearchSpace().sample(rng, seed=3) for _ in range(200)]
    assert {p.confidence for p in samples} == {"log", "linear"}
    assert all(0.01 <= p.regularization <= 100 and 0.5 <= p.alpha <= 50 for p in samples)
    assert all(p.eps == 1.0 for p in samples if p.confidence == "linear")
    assert all(p.seed == 3 for p in samples)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"budget_seconds": 0}, "budget_seconds must be > 0, got 0"),
        ({"max_trials": 0}, "max_trials must be >= 1, got 0"),
    ],
)
def test_tune_invalid_arguments(
    tiny_sessions: pd.DataFrame, kwargs: dict[str, float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        tune_als(tiny_sessions, window=60, **kwargs)  # type: ignore[arg-type]


def test_als_fit_tune_prints_trials_and_trains_with_the_best(
    tiny_sessions: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = tmp_path / "tiny.csv"
    write_sessions(PRESETS["tiny"], csv)
    model = tmp_path / "model.npz"
    argv = ["--data", str(csv), "--model", str(model), "--quiet", "--factors", "4"]
    argv += ["--iterations", "3", "--tune", "--tune-trials", "2", "--window", "60"]
    assert als_fit(argv) == 0
    out = capsys.readouterr().out
    assert "trial 0: ndcg@10 new" in out and "trial 1: ndcg@10 new" in out
    assert f"| {OBJECTIVE} |" in out and "best: trial" in out
    trained = artifact.load(model).metadata["params"]
    best_line = next(line for line in out.splitlines() if line.startswith("best: trial"))
    best = int(best_line.split()[2].rstrip(","))
    table_row = next(line for line in out.splitlines() if line.startswith(f"| {best} |"))
    assert table_row.split(" | ")[1] == str(trained["factors"])


def test_als_fit_tune_bad_budget_is_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = tmp_path / "tiny.csv"
    write_sessions(PRESETS["tiny"], csv)
    argv = ["--data", str(csv), "--model", str(tmp_path / "m.npz"), "--tune", "--window", "60"]
    assert als_fit([*argv, "--tune-budget", "0"]) == 2
    assert "budget_seconds must be > 0, got 0.0" in capsys.readouterr().err

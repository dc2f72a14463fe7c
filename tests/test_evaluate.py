"""The whole evaluation: every model of a fold on the same users, and its arguments."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from streamrec.evaluation.baselines import Popularity
from streamrec.evaluation.evaluate import evaluate
from streamrec.evaluation.protocols import BUCKETS
from streamrec.evaluation.report import to_json


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

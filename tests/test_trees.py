from __future__ import annotations

import lightgbm
import numpy as np
import pytest

from streamrec.ranking.trees import ModelFormatError, TreeEnsemble


def _booster(zero_as_missing: bool, nan_share: float) -> tuple[lightgbm.Booster, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.random((3000, 6))
    x[:, 2] = np.round(x[:, 2] * 3)  # a feature with many exact zeros
    x[rng.random(x.shape) < nan_share] = np.nan
    label = ((np.nan_to_num(x[:, 0]) + np.nan_to_num(x[:, 2]) / 3) > 1).astype(float)
    params = {
        "objective": "lambdarank",
        "num_leaves": 15,
        "max_depth": 6,
        "verbose": -1,
        "num_threads": 1,
        "deterministic": True,
        "force_row_wise": True,
        "zero_as_missing": zero_as_missing,
    }
    booster = lightgbm.train(params, lightgbm.Dataset(x, label, group=[30] * 100), 40)
    test = rng.random((500, 6))
    test[:, 2] = np.round(test[:, 2] * 3)
    test[rng.random(test.shape) < 0.2] = np.nan
    return booster, test


@pytest.mark.parametrize(
    ("zero_as_missing", "nan_share"), [(False, 0.0), (False, 0.2), (True, 0.2)]
)
def test_predict_equals_lightgbm(zero_as_missing: bool, nan_share: float) -> None:
    booster, x = _booster(zero_as_missing, nan_share)
    trees = TreeEnsemble.from_model_string(booster.model_to_string())
    assert trees.n_trees == booster.num_trees() and trees.n_features == 6
    np.testing.assert_allclose(trees.predict(x), booster.predict(x), rtol=0, atol=1e-9)
    assert trees.predict(x[:0]).shape == (0,)


def test_predict_rejects_the_wrong_number_of_features() -> None:
    booster, x = _booster(False, 0.0)
    with pytest.raises(ValueError, match=r"shape \(rows, 6\)"):
        TreeEnsemble.from_model_string(booster.model_to_string()).predict(x[:, :5])


def test_from_model_string_rejects_text_that_is_no_model() -> None:
    with pytest.raises(ModelFormatError, match="not a LightGBM model"):
        TreeEnsemble.from_model_string("tree\nnot really")

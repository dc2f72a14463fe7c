from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from streamrec.model.als import ALSParams, confidence_weights, fit_als
from streamrec.settings import Settings


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("factors", 0, "factors must be >= 1, got 0"),
        ("iterations", -1, "iterations must be >= 1, got -1"),
        ("regularization", -0.1, "regularization must be >= 0"),
        ("alpha", 0.0, "alpha must be > 0, got 0.0"),
        ("confidence", "sqrt", "confidence must be 'linear' or 'log', got 'sqrt'"),
    ],
)
def test_params_invalid_value_names_field(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ALSParams(**{field: value})


def test_params_from_settings_with_overrides() -> None:
    params = ALSParams.from_settings(Settings(factors=12), iterations=3, alpha=None)
    assert params.factors == 12 and params.iterations == 3
    assert params.alpha == Settings().alpha


def test_confidence_weights_log_and_linear() -> None:
    m = sp.csr_matrix(np.array([[0.0, 3.0], [1.0, 0.0]], dtype=np.float32))
    log = confidence_weights(m, ALSParams(confidence="log", eps=1.0))
    assert np.allclose(log.toarray(), [[0.0, np.log(4.0)], [np.log(2.0), 0.0]])
    linear = confidence_weights(m, ALSParams(confidence="linear"))
    assert np.array_equal(linear.toarray(), m.toarray())
    assert m.data.tolist() == [3.0, 1.0]  # input untouched


def test_fit_als_returns_float32_factors_of_the_right_shape() -> None:
    m = sp.random(30, 12, density=0.3, format="csr", dtype=np.float32, random_state=0)
    users, items = fit_als(m, ALSParams(factors=5, iterations=3))
    assert users.shape == (30, 5) and items.shape == (12, 5)
    assert users.dtype == np.float32 and np.isfinite(users).all()


def test_fit_als_empty_matrix_raises() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        fit_als(sp.csr_matrix((0, 3), dtype=np.float32), ALSParams())

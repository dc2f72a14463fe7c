"""Fit implicit-feedback ALS on a users x streamers watch-time matrix.

Hu, Koren and Volinsky, "Collaborative Filtering for Implicit Feedback Datasets" (ICDM 2008):
each observed watch time w becomes a preference p = 1 with confidence c = alpha * f(w)
(implicit's convention: unobserved pairs have p = 0 and c = 1; the paper writes 1 + alpha * r).
No I/O here beyond what it is given.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from streamrec.settings import Confidence, Settings

logger = logging.getLogger(__name__)


class TrainingError(RuntimeError):
    """Fitting produced an unusable model (e.g. NaN factors)."""


@dataclass(frozen=True)
class ALSParams:
    """ALS hyperparameters; names follow implicit's, plus the confidence transform."""

    factors: int = 64
    iterations: int = 15
    regularization: float = 70.0  # tuned on twitch-100k; see the README's evaluation
    alpha: float = 2.0
    confidence: Confidence = "log"
    eps: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("factors", "iterations"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.regularization < 0:
            raise ValueError(f"regularization must be >= 0, got {self.regularization}")
        for name in ("alpha", "eps"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.confidence not in ("linear", "log"):
            raise ValueError(f"confidence must be 'linear' or 'log', got {self.confidence!r}")

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> ALSParams:
        """Take each field from ``overrides`` when given (not None), else from settings."""
        values = {name: getattr(settings, name) for name in cls.__dataclass_fields__}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def confidence_weights(user_items: sp.csr_matrix, params: ALSParams) -> sp.csr_matrix:
    """f(w) per observed watch time w: w itself ('linear') or log(1 + w / eps) ('log').

    implicit multiplies by alpha and adds 1 itself, so this returns f(w) only.
    """
    weights = sp.csr_matrix(user_items, dtype=np.float32, copy=True)
    if params.confidence == "log":
        weights.data = np.log1p(weights.data / np.float32(params.eps)).astype(np.float32)
    return weights


def fit_als(
    user_items: sp.csr_matrix, params: ALSParams, show_progress: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Fit ALS and return ``(user_factors, item_factors)`` as float32 arrays.

    Parameters
    ----------
    user_items : scipy.sparse.csr_matrix
        Users x streamers watch steps.
    params : ALSParams
        Hyperparameters.
    show_progress : bool
        Show implicit's tqdm bar, one tick per iteration.

    Raises
    ------
    TrainingError
        The factors contain NaN or infinity.
    """
    from implicit.als import AlternatingLeastSquares

    n_users, n_items = user_items.shape
    if n_users == 0 or n_items == 0:
        raise ValueError(f"user_items must be non-empty, got shape {user_items.shape}")
    weights = confidence_weights(user_items, params)
    # implicit runs its own threads; OpenBLAS threads on top of them oversubscribe the cores
    # (implicit checks this when the model is built, so the model is built inside the limit).
    with threadpool_limits(limits=1, user_api="blas"):
        model = AlternatingLeastSquares(
            factors=params.factors,
            regularization=params.regularization,
            alpha=params.alpha,
            iterations=params.iterations,
            random_state=params.seed,
        )
        model.fit(weights, show_progress=show_progress)
    user_factors = np.ascontiguousarray(model.user_factors, dtype=np.float32)
    item_factors = np.ascontiguousarray(model.item_factors, dtype=np.float32)
    if not (np.isfinite(user_factors).all() and np.isfinite(item_factors).all()):
        raise TrainingError(
            "ALS produced non-finite factors; lower alpha or raise regularization "
            f"(alpha={params.alpha}, regularization={params.regularization})"
        )
    return user_factors, item_factors

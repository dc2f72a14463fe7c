"""Fit implicit-feedback ALS on a users x streamers watch-time matrix.

Hu, Koren and Volinsky, "Collaborative Filtering for Implicit Feedback Datasets" (ICDM 2008):
each observed watch time w becomes a preference p = 1 with confidence c = alpha * f(w)
(implicit's convention: unobserved pairs have p = 0 and c = 1; the paper writes 1 + alpha * r).
No I/O here beyond what it is given.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from streamrec.settings import Confidence, Settings

logger = logging.getLogger(__name__)


class TrainingError(RuntimeError):
    """Fitting produced an unusable model (e.g. NaN factors)."""


def check_hyperparameters(
    params: object,
    *,
    counts: Sequence[str] = (),
    non_negative: Sequence[str] = (),
    positive: Sequence[str] = (),
    choices: Mapping[str, Sequence[str]] | None = None,
) -> None:
    """Raise ValueError for the first attribute of ``params`` outside its range.

    Checked in this order: ``counts`` must be >= 1, ``non_negative`` >= 0, ``positive`` > 0,
    and each name in ``choices`` one of its strings.

    Examples
    --------
    >>> check_hyperparameters(ALSParams(), counts=["factors"], choices={"confidence": ["log"]})
    >>> check_hyperparameters(ALSParams(), positive=["seed"])
    Traceback (most recent call last):
    ...
    ValueError: seed must be > 0, got 0
    """
    for name in counts:
        if getattr(params, name) < 1:
            raise ValueError(f"{name} must be >= 1, got {getattr(params, name)}")
    for name in non_negative:
        if getattr(params, name) < 0:
            raise ValueError(f"{name} must be >= 0, got {getattr(params, name)}")
    for name in positive:
        if not getattr(params, name) > 0:
            raise ValueError(f"{name} must be > 0, got {getattr(params, name)}")
    for name, allowed in (choices or {}).items():
        if getattr(params, name) not in allowed:
            expected = " or ".join(repr(value) for value in allowed)
            raise ValueError(f"{name} must be {expected}, got {getattr(params, name)!r}")


@dataclass(frozen=True)
class ALSParams:
    """ALS hyperparameters; names follow implicit's, plus the confidence transform."""

    factors: int = 64
    iterations: int = 15
    regularization: float = 30.0  # the most robust across data shapes; see the README
    alpha: float = 4.0
    confidence: Confidence = "log"
    eps: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        check_hyperparameters(
            self,
            counts=("factors", "iterations"),
            non_negative=("regularization",),
            positive=("alpha", "eps"),
            choices={"confidence": ("linear", "log")},
        )

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
    weights.data = confidence_of(weights.data, params)
    return weights


def confidence_of(watch: np.ndarray, params: ALSParams) -> np.ndarray:
    """:func:`confidence_weights` of an array of watch times (float32)."""
    watch = np.asarray(watch, dtype=np.float32)
    if params.confidence == "log":
        return np.log1p(watch / np.float32(params.eps)).astype(np.float32)
    return watch.copy()


def fit_als(
    user_items: sp.csr_matrix,
    params: ALSParams,
    show_progress: bool = False,
    on_iteration: Callable[[Any, int], None] | None = None,
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
    on_iteration : callable, optional
        Called as ``on_iteration(model, iteration)`` after each iteration (0-based) with
        implicit's model, whose factors are those after that iteration; an exception it raises
        stops the fit (e.g. to prune a tuning trial).

    Raises
    ------
    TrainingError
        The factors contain NaN or infinity.
    """
    from implicit.als import AlternatingLeastSquares

    n_users, n_items = user_items.shape
    if n_users == 0 or n_items == 0:
        raise ValueError(f"user_items must be non-empty, got shape {user_items.shape}")
    user_factors, item_factors = fit_implicit(
        lambda: AlternatingLeastSquares(
            factors=params.factors,
            regularization=params.regularization,
            alpha=params.alpha,
            iterations=params.iterations,
            random_state=params.seed,
        ),
        confidence_weights(user_items, params),
        show_progress,
        on_iteration,
    )
    if not (np.isfinite(user_factors).all() and np.isfinite(item_factors).all()):
        raise TrainingError(
            "ALS produced non-finite factors; lower alpha or raise regularization "
            f"(alpha={params.alpha}, regularization={params.regularization})"
        )
    return user_factors, item_factors


def fit_implicit(
    build: Callable[[], Any],
    user_items: sp.csr_matrix,
    show_progress: bool = False,
    on_iteration: Callable[[Any, int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Build an implicit model with ``build()``, fit it, return its factors as float32 arrays.

    implicit runs its own threads; OpenBLAS threads on top of them oversubscribe the cores
    (implicit checks this when the model is built, so the model is built inside the limit).
    """
    with threadpool_limits(limits=1, user_api="blas"):
        model = build()
        callback = None
        if on_iteration is not None:

            def callback(iteration: int, _elapsed: float, _loss: float) -> None:
                on_iteration(model, iteration)

        model.fit(user_items, show_progress=show_progress, callback=callback)
    user_factors = np.ascontiguousarray(model.user_factors, dtype=np.float32)
    item_factors = np.ascontiguousarray(model.item_factors, dtype=np.float32)
    return user_factors, item_factors

"""Offline evaluation on a time split: fit every model on a fold, both protocols on the same users.

The users and targets are those of :mod:`streamrec.evaluation.fold_data`, the protocols those of
:mod:`streamrec.evaluation.protocols`.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from streamrec.data.live import LiveIndex
from streamrec.data.split import DEFAULT_WINDOW, Fold, TimeSplit
from streamrec.evaluation.baselines import (
    ALS,
    BPR,
    Blend,
    Estimator,
    GradientMF,
    Popularity,
    Repeat,
)
from streamrec.evaluation.fold_data import prepare_fold
from streamrec.evaluation.protocols import MAX_K, evaluate_topk, live_metrics, live_ranks
from streamrec.model.als import ALSParams
from streamrec.ranking.blend import DEFAULT_WEIGHT

logger = logging.getLogger(__name__)


@dataclass
class ModelResult:
    """One model's numbers on one fold."""

    name: str
    params: dict[str, Any]
    fit_seconds: float
    eval_seconds: float
    topk: dict[str, dict[str, dict[str, np.ndarray]]]
    live: dict[str, dict[str, float]]
    live_ranks: np.ndarray = field(repr=False)
    """Protocol 2 rank of each evaluated user's target, in the fold's user order."""


@dataclass
class Evaluation:
    """Every model's results on one fold, with what they were measured on."""

    split: TimeSplit
    fold: Fold
    counts: dict[str, float]
    models: list[ModelResult] = field(default_factory=list)

    def model(self, name: str) -> ModelResult:
        """The results of the model called ``name``."""
        for result in self.models:
            if result.name == name:
                return result
        raise KeyError(f"no model named {name!r}; have {[m.name for m in self.models]}")

    def best_live(self, k: int = 1) -> ModelResult:
        """The model with the highest protocol 2 HR@``k`` over all targets (first on ties)."""
        if not self.models:
            raise ValueError("the evaluation has no model results")
        return max(self.models, key=lambda m: m.live["all"][f"hit_rate@{k}"])


def default_models(
    als_params: ALSParams | None = None, blend_weight: float = DEFAULT_WEIGHT
) -> list[Estimator]:
    """The compared models: popularity, repeat, gradient MF, ALS, BPR and the ALS blend.

    ``als_params`` defaults to the project's defaults (what ``als_fit.py`` trains); the blend
    shares the ALS model (fitted once).
    """
    als = ALS(als_params or ALSParams())
    return [Popularity(), Repeat(), GradientMF(), als, BPR(), Blend(als, weight=blend_weight)]


def evaluate(
    sessions: pd.DataFrame,
    models: Sequence[Estimator] | None = None,
    *,
    window: int = DEFAULT_WINDOW,
    end: int | None = None,
    fold: str = "test",
    max_k: int = MAX_K,
    max_users: int | None = None,
    seed: int = 0,
) -> Evaluation:
    """Fit every model on the fold's history and evaluate both protocols on its window.

    Parameters
    ----------
    sessions : pandas.DataFrame
        As returned by :func:`streamrec.data.sessions.read_sessions`.
    models : sequence of Estimator, optional
        Unfitted models with distinct names; :func:`default_models` when None.
    window : int
        W, in steps (see :class:`~streamrec.data.split.TimeSplit`).
    end : int, optional
        T, the last step; the data's last step when None.
    fold : str
        ``"test"`` (fit on train + validation) or ``"valid"`` (fit on train).
    max_k : int
        Largest cut-off of protocol 1.
    max_users : int, optional
        Evaluate a seeded random sample of this many users.
    seed : int
        Seed of that sample.

    Returns
    -------
    Evaluation

    Examples
    --------
    >>> sessions, _ = data.read_sessions("data/sessions.csv")  # doctest: +SKIP
    >>> result = evaluate(sessions, window=250)  # doctest: +SKIP
    >>> result.model("als").topk["exclude"]["new"]["ndcg"][9]  # NDCG@10  # doctest: +SKIP
    """
    if max_k < 1:
        raise ValueError(f"max_k must be >= 1, got {max_k}")
    models = list(default_models() if models is None else models)
    names = [m.name for m in models]
    if len(set(names)) != len(names):
        raise ValueError(f"model names must be distinct, got {names}")
    split = TimeSplit.from_sessions(sessions, window=window, end=end)
    chosen = split.fold(fold)
    started = time.perf_counter()
    fold_data = prepare_fold(sessions, chosen, max_users=max_users, seed=seed)
    live = LiveIndex.from_sessions(sessions)
    is_repeat = fold_data.next_is_repeat()
    relevant = fold_data.relevant()
    counts = {
        "users": len(fold_data.users),
        "cold_users": fold_data.cold_users,
        "streamers": len(fold_data.streamer_names),
        "history_nnz": fold_data.history.nnz,
        "target_pairs": relevant["all"].nnz,
        "repeat_pairs": relevant["repeat"].nnz,
        "repeat_share": float(is_repeat.mean()) if len(is_repeat) else 0.0,
        "live_per_step": float(live.count(fold_data.next_step).mean()),
    }
    logger.info("prepared fold %s in %.1fs: %s", fold, time.perf_counter() - started, counts)
    evaluation = Evaluation(split=split, fold=chosen, counts=counts)
    for model in models:
        fit_sessions = getattr(model, "fit_sessions", None)
        if fit_sessions is not None:  # trains on sessions, as als_fit.py does
            fit_sessions(chosen.history(sessions), fold_data.history, fold_data.user_ids)
        else:
            model.fit(fold_data.history)
        started = time.perf_counter()
        topk = evaluate_topk(model, fold_data, max_k)
        ranks = live_ranks(model, fold_data, live)
        live_result = live_metrics(ranks, is_repeat)
        seconds = time.perf_counter() - started
        logger.info("evaluated %s in %.1fs", model.name, seconds)
        evaluation.models.append(
            ModelResult(
                model.name, _params(model), model.fit_seconds_, seconds, topk, live_result, ranks
            )
        )
    return evaluation


def _params(model: Estimator) -> dict[str, Any]:
    params = model.get_params()
    for name, value in list(params.items()):
        if isinstance(value, ALSParams):
            params[name] = value.as_dict()
        elif isinstance(value, Estimator):
            params[name] = value.name
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            params[name] = dataclasses.asdict(value)
    return params

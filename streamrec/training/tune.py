"""Search the ALS hyperparameters on a validation window with Optuna, within a budget.

Every trial fits ALS on the sessions before the window's cut and scores protocol 1 of
:mod:`streamrec.evaluation.protocols` on the window, with watched streamers excluded, as the service
ranks its default lists. The objective is NDCG@10 on *new* targets (streamers the viewer had not
watched): discovery is what ALS is for, while returns to known streamers are the live ranker's job
(:mod:`streamrec.ranking.ranker`). Trial 0 is the starting setting (the fixed defaults), so the
search reports what it gained over them.

The sampler is Optuna's TPE (Bergstra et al., NeurIPS 2011), seeded; a trial is pruned when its
NDCG after 5, 10, ... iterations falls below the median of earlier trials at that iteration
(Optuna's ``MedianPruner``). The budget is counted in *plain fits*: trial 0, a fit of the fixed
setting with its scoring, costs 1, and another trial's cost is estimated from its iterations,
factors and scorings (:func:`trial_cost`), so for a given seed the same trials run on any
machine, however loaded. An optional wall-clock limit can end the search earlier.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from streamrec.evaluation.baselines import ALS
from streamrec.evaluation.fold_data import FoldData
from streamrec.evaluation.protocols import evaluate_topk
from streamrec.model.als import ALSParams, fit_als

logger = logging.getLogger(__name__)

OBJECTIVE = "ndcg@10 new"
CHECKPOINT = 5  # iterations between two pruning checks


@dataclass(frozen=True)
class SearchSpace:
    """Where the search samples: choices, integer ranges and log-uniform ranges."""

    factors: tuple[int, ...] = (16, 32, 64, 128)
    iterations: tuple[int, int] = (5, 30)
    regularization: tuple[float, float] = (0.01, 1000.0)
    alpha: tuple[float, float] = (0.3, 100.0)
    confidence: tuple[str, ...] = ("log", "linear")
    eps: tuple[float, float] = (0.3, 30.0)

    def suggest(self, trial: Any, seed: int) -> ALSParams:
        """One setting from an Optuna trial (``eps`` only varies with the ``log`` confidence)."""
        confidence = trial.suggest_categorical("confidence", list(self.confidence))
        eps = trial.suggest_float("eps", *self.eps, log=True) if confidence == "log" else 1.0
        return ALSParams(
            factors=trial.suggest_categorical("factors", list(self.factors)),
            iterations=trial.suggest_int("iterations", *self.iterations),
            regularization=trial.suggest_float("regularization", *self.regularization, log=True),
            alpha=trial.suggest_float("alpha", *self.alpha, log=True),
            confidence=confidence,
            eps=eps,
            seed=seed,
        )


def trial_values(params: ALSParams) -> dict[str, Any]:
    """``params`` as the Optuna parameters :meth:`SearchSpace.suggest` asks for."""
    values: dict[str, Any] = {
        "confidence": params.confidence,
        "factors": params.factors,
        "iterations": params.iterations,
        "regularization": params.regularization,
        "alpha": params.alpha,
    }
    if params.confidence == "log":
        values["eps"] = params.eps
    return values


@dataclass(frozen=True)
class Trial:
    """One evaluated setting; ``metrics`` holds the objective and a few context numbers."""

    number: int
    params: ALSParams
    metrics: dict[str, float]
    seconds: float
    cost: float
    """Estimated cost in plain fits (trial 0 = 1)."""
    pruned_at: int | None = None
    """The iteration the trial was pruned after, or None when it ran to the end."""

    @property
    def score(self) -> float:
        return self.metrics[OBJECTIVE]


@dataclass
class TuneResult:
    """All trials in order, and the best one (highest objective of a finished trial)."""

    trials: list[Trial] = field(default_factory=list)
    users: int = 0
    best_factors: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)
    """User and item factors of :attr:`best` (fitted on the fold's history)."""

    @property
    def best(self) -> Trial:
        finished = [t for t in self.trials if t.pruned_at is None]
        if not finished:
            raise ValueError("no trial has finished")
        return max(finished, key=lambda t: (t.score, -t.number))

    def table(self, limit: int | None = None) -> str:
        """The trials as a Markdown table, best first (pruned trials last)."""
        header = (
            "| # | factors | iterations | regularization | alpha | confidence | eps "
            f"| {OBJECTIVE} | ndcg@10 all | recall@10 new | cost (fits) | s |"
        )
        lines = [header, "|" + "---|" * 12]
        ordered = sorted(self.trials, key=lambda t: (t.pruned_at is not None, -t.score, t.number))
        for t in ordered[:limit]:
            p = t.params
            eps = f"{p.eps:.3g}" if p.confidence == "log" else "-"
            iterations = f"{p.iterations}" if t.pruned_at is None else f"pruned at {t.pruned_at}"
            lines.append(
                f"| {t.number} | {p.factors} | {iterations} | {p.regularization:.3g} "
                f"| {p.alpha:.3g} | {p.confidence} | {eps} | {t.score:.4f} "
                f"| {t.metrics['ndcg@10 all']:.4f} | {t.metrics['recall@10 new']:.4f} "
                f"| {t.cost:.2f} | {t.seconds:.1f} |"
            )
        return "\n".join(lines)

    def as_records(self) -> list[dict[str, Any]]:
        """The trials as JSON-ready dictionaries (for the artifact's metadata)."""
        return [
            {
                "number": t.number,
                "params": t.params.as_dict(),
                "metrics": {k: round(v, 6) for k, v in t.metrics.items()},
                "pruned_at": t.pruned_at,
                "cost": round(t.cost, 3),
            }
            for t in self.trials
        ]


# A scoring of the window costs about half of a fit of the fixed setting (measured: 0.4-0.6 on
# the real slice, the small preset and the 100k-user preset).
SCORING_COST = 0.5


def trial_cost(params: ALSParams, reference: ALSParams, iterations: int | None = None) -> float:
    """Estimated cost of a trial that ran ``iterations`` (all when None), in trial-0 units.

    A trial fits (:func:`relative_cost`, for the share of iterations it ran) and scores the
    window at every checkpoint it reaches and at its end; trial 0 (``reference`` run to the
    end) costs exactly 1.
    """
    ran = params.iterations if iterations is None else iterations
    fit = relative_cost(params, reference) * ran / params.iterations
    return (fit + SCORING_COST * _scorings(ran, params.iterations)) / (
        1 + SCORING_COST * _scorings(reference.iterations, reference.iterations)
    )


def _scorings(ran: int, iterations: int) -> int:
    """Scorings of a trial of ``iterations`` that ran ``ran``: its checkpoints, and its end."""
    checkpoints = len(range(CHECKPOINT, min(ran, iterations - 1) + 1, CHECKPOINT))
    return checkpoints + (ran == iterations)


def relative_cost(params: ALSParams, reference: ALSParams) -> float:
    """Estimated fit cost of ``params`` in fits of ``reference``.

    An ALS iteration solves one small system per user and per streamer; implicit's conjugate
    gradient makes each solve about linear in the factors, plus the factors x factors Gram
    matrix: cost grows like ``iterations * factors ** 1.5`` (a rough, deterministic model).
    """
    return (params.iterations / reference.iterations) * (params.factors / reference.factors) ** 1.5


def evaluate_factors(
    user_factors: np.ndarray, item_factors: np.ndarray, params: ALSParams, data: FoldData
) -> dict[str, float]:
    """Protocol 1 (watched excluded) of the given factors on the fold's window."""
    model = ALS(params)
    model.user_factors_, model.item_factors_, model.user_items_ = (
        user_factors,
        item_factors,
        data.history,
    )
    result = evaluate_topk(model, data, max_k=10, modes=("exclude",))["exclude"]
    return {
        OBJECTIVE: float(result["new"]["ndcg"][9]),
        "ndcg@10 all": float(result["all"]["ndcg"][9]),
        "recall@10 new": float(result["new"]["recall"][9]),
    }


def tune_als(
    data: FoldData,
    *,
    budget_fits: float = 10.0,
    max_seconds: float | None = None,
    max_trials: int | None = None,
    start: ALSParams | None = None,
    space: SearchSpace | None = None,
    seed: int = 0,
    on_trial: Callable[[Trial], None] | None = None,
) -> TuneResult:
    """Search ``space`` on the fold; no trial starts once the budget is spent.

    Parameters
    ----------
    data : FoldData
        The validation fold (:func:`streamrec.evaluation.fold_data.prepare_fold`).
    budget_fits : float
        Budget in plain fits (> 0): trial 0 costs 1, the others their estimated cost
        (:func:`trial_cost`; a pruned trial what it ran).
    max_seconds : float, optional
        Wall-clock limit as well (then the number of trials depends on the machine).
    max_trials : int, optional
        Stop after this many trials (>= 1).
    start : ALSParams, optional
        Trial 0, the setting to beat; the project defaults when None.
    space : SearchSpace, optional
        Where to sample the other trials.
    seed : int
        Seed of the sampler and of every ALS fit.
    on_trial : callable, optional
        Called with each finished or pruned trial (e.g. to print progress).

    Returns
    -------
    TuneResult

    Examples
    --------
    >>> result = tune_als(fold_data, budget_fits=10)  # doctest: +SKIP
    >>> print(result.table())  # doctest: +SKIP
    """
    import optuna

    if not budget_fits > 0:
        raise ValueError(f"budget_fits must be > 0, got {budget_fits}")
    if max_seconds is not None and not max_seconds > 0:
        raise ValueError(f"max_seconds must be > 0, got {max_seconds}")
    if max_trials is not None and max_trials < 1:
        raise ValueError(f"max_trials must be >= 1, got {max_trials}")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = space or SearchSpace()
    start = replace(start or ALSParams(), seed=seed)
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=5),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=CHECKPOINT - 1),
    )
    study.enqueue_trial(trial_values(start))
    result = TuneResult(users=len(data.users))
    spent, started = 0.0, time.perf_counter()
    limit = math.inf if max_trials is None else max_trials
    seen: set[ALSParams] = set()
    while len(result.trials) < limit and spent < budget_fits:
        if max_seconds is not None and time.perf_counter() - started >= max_seconds:
            break
        trial = study.ask()
        params = space.suggest(trial, seed) if result.trials else start
        if params in seen:  # TPE may propose a setting again: score it once
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            spent += 0.05
            continue
        seen.add(params)
        finished, factors = _run(trial, len(result.trials), params, data, start)
        if factors is None:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, finished.score)
        spent += finished.cost
        result.trials.append(finished)
        if factors is not None and result.best is finished:
            result.best_factors = factors
        logger.info("trial %d: %s = %.4f (%s)", finished.number, OBJECTIVE, finished.score, params)
        if on_trial is not None:
            on_trial(finished)
    return result


def _run(
    trial: Any, number: int, params: ALSParams, data: FoldData, start: ALSParams
) -> tuple[Trial, tuple[np.ndarray, np.ndarray] | None]:
    """Fit with pruning checks every ``CHECKPOINT`` iterations: the trial's record, and its
    factors unless it was pruned."""
    started = time.perf_counter()
    last: dict[str, float] = {}

    def check(model: Any, iteration: int) -> None:
        done = iteration + 1
        if done % CHECKPOINT or done == params.iterations:
            return
        metrics = evaluate_factors(
            np.asarray(model.user_factors), np.asarray(model.item_factors), params, data
        )
        last.clear()
        last.update(metrics)
        trial.report(metrics[OBJECTIVE], done)
        if trial.should_prune():
            raise _Pruned(done)

    try:
        user_factors, item_factors = fit_als(data.history, params, on_iteration=check)
    except _Pruned as pruned:
        record = Trial(
            number,
            params,
            dict(last),
            time.perf_counter() - started,
            trial_cost(params, start, pruned.iteration),
            pruned_at=pruned.iteration,
        )
        return record, None
    metrics = evaluate_factors(user_factors, item_factors, params, data)
    trial.report(metrics[OBJECTIVE], params.iterations)
    cost = trial_cost(params, start)
    record = Trial(number, params, metrics, time.perf_counter() - started, cost)
    return record, (user_factors, item_factors)


class _Pruned(Exception):
    """Raised from the fit's iteration callback to stop a pruned trial."""

    def __init__(self, iteration: int) -> None:
        super().__init__(f"pruned after {iteration} iterations")
        self.iteration = iteration

"""Random search of the ALS hyperparameters on the validation window, within a time budget.

Every trial fits ALS on the training sessions (before ``T - 2W``) and scores protocol 1 of
:mod:`streamrec.evaluate` on the validation window ``[T - 2W, T - W)`` with watched streamers
excluded, as the service ranks them. The objective is NDCG@10 on *new* targets (streamers the
user had not watched): discovery is what ALS is for, while returns to known streamers are
better served by the user's own history (see :mod:`streamrec.blend`). The first trial is the
current setting, so the search reports how much it gained over it.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from streamrec.baselines import ALS
from streamrec.evaluate import FoldData, evaluate_topk, prepare_fold
from streamrec.split import DEFAULT_WINDOW, TimeSplit
from streamrec.train import ALSParams

logger = logging.getLogger(__name__)

OBJECTIVE = "ndcg@10 new"


@dataclass(frozen=True)
class SearchSpace:
    """Where the random search samples: choices, and log-uniform ranges ``(low, high)``."""

    factors: tuple[int, ...] = (16, 32, 64, 128)
    iterations: tuple[int, ...] = (5, 10, 15, 25)
    regularization: tuple[float, float] = (0.01, 100.0)
    alpha: tuple[float, float] = (0.5, 50.0)
    confidence: tuple[str, ...] = ("log", "linear")
    eps: tuple[float, float] = (0.5, 20.0)

    def sample(self, rng: np.random.Generator, seed: int = 0) -> ALSParams:
        """One random setting (``eps`` only varies with the ``log`` confidence)."""

        def log_uniform(bounds: tuple[float, float]) -> float:
            low, high = np.log(bounds[0]), np.log(bounds[1])
            return float(f"{np.exp(rng.uniform(low, high)):.3g}")

        confidence = str(rng.choice(self.confidence))
        return ALSParams(
            factors=int(rng.choice(self.factors)),
            iterations=int(rng.choice(self.iterations)),
            regularization=log_uniform(self.regularization),
            alpha=log_uniform(self.alpha),
            confidence=confidence,  # type: ignore[arg-type]
            eps=log_uniform(self.eps) if confidence == "log" else 1.0,
            seed=seed,
        )


@dataclass(frozen=True)
class Trial:
    """One evaluated setting; ``metrics`` holds the objective and a few context numbers."""

    number: int
    params: ALSParams
    metrics: dict[str, float]
    fit_seconds: float
    eval_seconds: float

    @property
    def score(self) -> float:
        return self.metrics[OBJECTIVE]


@dataclass
class TuneResult:
    """All trials in order, and the best one (highest objective; earliest on a tie)."""

    trials: list[Trial] = field(default_factory=list)
    users: int = 0

    @property
    def best(self) -> Trial:
        if not self.trials:
            raise ValueError("no trial has finished")
        return max(self.trials, key=lambda t: (t.score, -t.number))

    def table(self) -> str:
        """The trials as a Markdown table, best first."""
        header = (
            "| # | factors | iterations | regularization | alpha | confidence | eps "
            f"| {OBJECTIVE} | ndcg@10 all | recall@10 new | fit s |"
        )
        lines = [header, "|" + "---|" * 11]
        for t in sorted(self.trials, key=lambda t: (-t.score, t.number)):
            p = t.params
            eps = f"{p.eps:g}" if p.confidence == "log" else "-"
            lines.append(
                f"| {t.number} | {p.factors} | {p.iterations} | {p.regularization:g} "
                f"| {p.alpha:g} | {p.confidence} | {eps} | {t.score:.4f} "
                f"| {t.metrics['ndcg@10 all']:.4f} | {t.metrics['recall@10 new']:.4f} "
                f"| {t.fit_seconds:.1f} |"
            )
        return "\n".join(lines)


def run_trial(number: int, params: ALSParams, data: FoldData) -> Trial:
    """Fit ALS with ``params`` on the fold's history and score it on its window."""
    model = ALS(params).fit(data.history)
    started = time.perf_counter()
    result = evaluate_topk(model, data, max_k=10, modes=("exclude",))["exclude"]
    metrics = {
        OBJECTIVE: float(result["new"]["ndcg"][9]),
        "ndcg@10 all": float(result["all"]["ndcg"][9]),
        "recall@10 new": float(result["new"]["recall"][9]),
    }
    return Trial(number, params, metrics, model.fit_seconds_, time.perf_counter() - started)


def tune_als(
    sessions: pd.DataFrame,
    *,
    budget_seconds: float = 600.0,
    max_trials: int | None = None,
    window: int = DEFAULT_WINDOW,
    end: int | None = None,
    start: ALSParams | None = None,
    space: SearchSpace | None = None,
    max_users: int | None = None,
    seed: int = 0,
    on_trial: Callable[[Trial], None] | None = None,
) -> TuneResult:
    """Random search over ``space``; no new trial starts once ``budget_seconds`` are spent.

    Parameters
    ----------
    sessions : pandas.DataFrame
        As returned by :func:`streamrec.data.read_sessions`.
    budget_seconds : float
        Time budget, > 0. The first trial always runs; the last may end after the budget.
    max_trials : int, optional
        Stop after this many trials (>= 1) even within the budget.
    window, end : int
        W and T of the split (see :class:`~streamrec.split.TimeSplit`).
    start : ALSParams, optional
        Trial 0, the setting to beat; the project defaults when None.
    space : SearchSpace, optional
        Where to sample the other trials.
    max_users : int, optional
        Evaluate a seeded random sample of this many validation users (faster, noisier).
    seed : int
        Seed of the sampling (and of every ALS fit).
    on_trial : callable, optional
        Called with each finished trial (e.g. to print progress).

    Returns
    -------
    TuneResult

    Examples
    --------
    >>> result = tune_als(sessions, budget_seconds=1800)  # doctest: +SKIP
    >>> print(result.table())  # doctest: +SKIP
    """
    if not budget_seconds > 0:
        raise ValueError(f"budget_seconds must be > 0, got {budget_seconds}")
    if max_trials is not None and max_trials < 1:
        raise ValueError(f"max_trials must be >= 1, got {max_trials}")
    started = time.perf_counter()
    fold = TimeSplit.from_sessions(sessions, window=window, end=end).valid
    data = prepare_fold(sessions, fold, max_users=max_users, seed=seed)
    space = space or SearchSpace()
    rng = np.random.default_rng(seed)
    result = TuneResult(users=len(data.users))
    params = replace(start or ALSParams(), seed=seed)
    seen: set[ALSParams] = set()
    limit = math.inf if max_trials is None else max_trials
    while len(result.trials) < limit:
        if params not in seen:
            seen.add(params)
            trial = run_trial(len(result.trials), params, data)
            result.trials.append(trial)
            logger.info("trial %d: %s = %.4f (%s)", trial.number, OBJECTIVE, trial.score, params)
            if on_trial is not None:
                on_trial(trial)
        if time.perf_counter() - started >= budget_seconds:
            break
        params = space.sample(rng, seed=seed)
    return result


def run_tuning(
    sessions: pd.DataFrame,
    start: ALSParams,
    *,
    budget_seconds: float,
    max_trials: int | None = None,
    window: int = DEFAULT_WINDOW,
    echo: Callable[[str], None] = logger.info,
) -> ALSParams:
    """``als_fit.py --tune``: search on the sessions' validation window, report, return the best.

    ``sessions`` as :func:`streamrec.data.read_sessions` returns them (the command line reads
    the file once, for the search and the final training). Each finished trial and then the
    table of all trials go to ``echo`` (the command line passes ``print``). The returned
    setting keeps ``start.seed``.
    """
    echo(
        f"tuning on the validation window (W = {window} steps) for up to {budget_seconds:g}s; "
        f"objective {OBJECTIVE} (protocol 1, watched streamers excluded)"
    )

    def show(trial: Trial) -> None:
        echo(
            f"trial {trial.number}: {OBJECTIVE} {trial.score:.4f} in "
            f"{trial.fit_seconds + trial.eval_seconds:.0f}s  {trial.params.as_dict()}"
        )

    result = tune_als(
        sessions,
        budget_seconds=budget_seconds,
        max_trials=max_trials,
        window=window,
        start=start,
        seed=start.seed,
        on_trial=show,
    )
    best = result.best
    echo(result.table())
    echo(
        f"best: trial {best.number}, {OBJECTIVE} {best.score:.4f} "
        f"(trial 0, the starting setting: {result.trials[0].score:.4f}); training on all data"
    )
    return best.params

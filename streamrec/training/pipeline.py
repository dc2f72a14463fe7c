"""Training that fits itself to the data: validate, tune, learn the live ranker, refit.

What ``python als_fit.py`` runs (no I/O here; the command line reads and writes):

1. **Validation window.** The latest sessions, ``[T - W, T]``, with ``W`` chosen from the data
   (:func:`streamrec.data.split.choose_window`: enough viewers for a stable estimate).
2. **Search.** ALS hyperparameters are searched on that window within a budget of plain fits
   (:func:`streamrec.training.tune.tune_als`), unless the caller fixed them. Popularity and the
   fixed defaults are scored on the same window, so the summary can say what the search gained and
   whether the model beats popularity at all.
3. **Live ranker.** With the winner's factors fitted before the window, each viewer's sessions
   in the window, among the streamers live at their start, are LambdaRank queries, asked with
   the history the server would hold then, with watch events and without
   (:mod:`streamrec.training.live_queries`, :mod:`streamrec.ranking.ranker`).
4. **Refit** on all the data with the winner, and summarise the history the ranker reads at
   serving time (:class:`streamrec.ranking.features.ViewerHistory`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from streamrec.data.live import LiveIndex
from streamrec.data.sessions import Interactions, build_interactions
from streamrec.data.split import Fold, choose_window
from streamrec.evaluation.baselines import Popularity
from streamrec.evaluation.fold_data import FoldData, prepare_fold
from streamrec.evaluation.protocols import evaluate_topk
from streamrec.model.als import ALSParams, fit_als
from streamrec.model.popularity import PopularityRanker
from streamrec.ranking.features import ViewerHistory
from streamrec.ranking.foldin import FoldIn
from streamrec.ranking.ranker import train_ranker
from streamrec.training.live_queries import session_queries
from streamrec.training.tune import OBJECTIVE, TuneResult, evaluate_factors, tune_als

logger = logging.getLogger(__name__)

DEFAULT_BUDGET = 10.0  # plain fits
TUNE_USERS = 5000  # validation users a tuning trial is scored on (a seeded sample)


@dataclass(frozen=True)
class TrainingPlan:
    """What to train: fixed parameters, or a search starting from them, and the ranker."""

    params: ALSParams = field(default_factory=ALSParams)
    tune: bool = True
    budget_fits: float = DEFAULT_BUDGET
    max_seconds: float | None = None
    max_trials: int | None = None
    window: int | None = None
    ranker: bool = True

    def __post_init__(self) -> None:
        if not self.budget_fits > 0:
            raise ValueError(f"tune budget must be > 0 plain fits, got {self.budget_fits}")
        if self.window is not None and self.window < 1:
            raise ValueError(f"window must be >= 1 step, got {self.window}")


@dataclass
class TrainingRun:
    """A finished run: the model's parts and what was measured on the validation window."""

    interactions: Interactions
    params: ALSParams
    user_factors: np.ndarray
    item_factors: np.ndarray
    history: ViewerHistory
    ranker_model: str | None
    validation: dict[str, Any]
    tuning: TuneResult | None
    seconds: dict[str, float]

    def report(self) -> str:
        """The run's validation figures and verdict, as lines for the training summary."""
        v = self.validation
        if "skipped" in v:
            return f"validation skipped: {v['skipped']}"
        figures = v["ndcg@10 new"]
        lines = [
            f"validation window: the latest {v['window']} steps ([{v['cut']}, {v['end']}]), "
            f"{v['users']:,} viewers with history; {OBJECTIVE} with watched streamers excluded:",
            "",
            "| model | " + OBJECTIVE + " |",
            "|---|---:|",
        ]
        lines += [f"| {name} | {value:.4f} |" for name, value in figures.items()]
        lines.append("")
        if figures["chosen"] <= figures["popularity"]:
            lines.append(
                "WARNING: the trained model does not beat popularity on validation; "
                "its lists are no better than the popular list for this data."
            )
        ranker = v.get("ranker")
        if ranker and "ranker_skipped" not in v:
            lines.append(
                f"live ranker: {ranker['queries']:,} next-session queries, "
                f"{ranker['rounds']} rounds; next session HR@1 among live streamers on the "
                f"{ranker['held_out']:,} held-out queries: ranker {ranker['hr@1 ranker']:.4f}, "
                f"blend {ranker['hr@1 blend']:.4f}, repeat {ranker['hr@1 repeat']:.4f}"
            )
        elif "ranker_skipped" in v:
            lines.append(f"live ranker: none ({v['ranker_skipped']}); the blend serves")
        return "\n".join(lines)


def train_pipeline(
    sessions: pd.DataFrame,
    plan: TrainingPlan,
    show_progress: bool = False,
    echo: Callable[[str], None] = logger.info,
) -> TrainingRun:
    """Run the whole training on ``sessions`` (as :func:`streamrec.data.read_sessions` gives).

    Each tuning trial and phase is reported through ``echo``.
    """
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    interactions = build_interactions(sessions)
    end = int(sessions["time_stop"].max())
    params, tuning, ranker_model = plan.params, None, None
    validation: dict[str, Any] = {}
    fold_data = _validation_fold(sessions, plan, end, validation)
    if fold_data is not None:
        tuning, params, factors = _search(fold_data, plan, validation, echo)
        seconds["tune"] = time.perf_counter() - started
        if plan.ranker:
            ranker_model = _ranker(sessions, fold_data, factors, params, validation)
        else:
            validation["ranker_skipped"] = "not asked for"
        seconds["ranker"] = time.perf_counter() - started - seconds["tune"]
    fit_started = time.perf_counter()
    user_factors, item_factors = fit_als(interactions.user_items, params, show_progress)
    seconds["fit"] = time.perf_counter() - fit_started
    history = ViewerHistory.from_sessions(
        sessions, interactions.user_ids, len(interactions.streamer_names), now=end
    )
    return TrainingRun(
        interactions,
        params,
        user_factors,
        item_factors,
        history,
        ranker_model,
        validation,
        tuning,
        seconds,
    )


def _validation_fold(
    sessions: pd.DataFrame, plan: TrainingPlan, end: int, validation: dict[str, Any]
) -> FoldData | None:
    """The validation fold, or None (noted in ``validation``) when the data has none."""
    if not plan.tune and not plan.ranker:
        validation["skipped"] = "no tuning and no ranker asked for"
        return None
    try:
        window = plan.window or choose_window(sessions)
        fold = Fold("valid", end - window, end + 1)
        fold_data = prepare_fold(sessions, fold, max_users=None)
    except ValueError as exc:
        validation["skipped"] = f"the data has no usable validation window ({exc})"
        return None
    validation.update(window=window, cut=fold.cut, end=end, users=len(fold_data.users))
    return fold_data


def _search(
    fold_data: FoldData, plan: TrainingPlan, validation: dict[str, Any], echo: Callable[[str], None]
) -> tuple[TuneResult | None, ALSParams, tuple[np.ndarray, np.ndarray]]:
    """Tune (or score the fixed setting) on the fold: the search, the setting to train, and
    its factors fitted on the fold's history (what the ranker learns from)."""
    sample = _sample(fold_data, TUNE_USERS, plan.params.seed)
    popularity = Popularity().fit(sample.history)
    pop = evaluate_topk(popularity, sample, max_k=10, modes=("exclude",))["exclude"]
    figures = {"popularity": float(pop["new"]["ndcg"][9])}
    if not plan.tune:
        factors = fit_als(sample.history, plan.params)
        figures["chosen"] = evaluate_factors(*factors, plan.params, sample)[OBJECTIVE]
        validation["ndcg@10 new"] = figures
        return None, plan.params, factors

    def show(trial: Any) -> None:
        state = "" if trial.pruned_at is None else f" (pruned after {trial.pruned_at} iterations)"
        echo(
            f"trial {trial.number}: {OBJECTIVE} {trial.score:.4f}{state} in {trial.seconds:.1f}s"
            f"  {trial.params.as_dict()}"
        )

    echo(
        f"tuning on the latest {validation['window']} steps ({len(sample.users):,} viewers), "
        f"budget {plan.budget_fits:g} plain fits; objective {OBJECTIVE}, watched excluded"
    )
    result = tune_als(
        sample,
        budget_fits=plan.budget_fits,
        max_seconds=plan.max_seconds,
        max_trials=plan.max_trials,
        start=plan.params,
        seed=plan.params.seed,
        on_trial=show,
    )
    best = result.best
    figures["fixed defaults"] = result.trials[0].score
    figures["chosen"] = best.score
    validation["ndcg@10 new"] = figures
    validation["trials"] = result.as_records()
    validation["best_trial"] = best.number
    assert result.best_factors is not None  # the best trial is a finished one
    return result, best.params, result.best_factors


def _sample(fold_data: FoldData, users: int, seed: int) -> FoldData:
    """The fold restricted to a seeded sample of its evaluated users (all when few)."""
    if len(fold_data.users) <= users:
        return fold_data
    picked = np.sort(np.random.default_rng(seed).choice(len(fold_data.users), users, False))
    return FoldData(
        fold=fold_data.fold,
        user_ids=fold_data.user_ids,
        streamer_names=fold_data.streamer_names,
        history=fold_data.history,
        target=fold_data.target,
        users=fold_data.users[picked],
        next_step=fold_data.next_step[picked],
        next_item=fold_data.next_item[picked],
        cold_users=fold_data.cold_users,
    )


def _ranker(
    sessions: pd.DataFrame,
    fold_data: FoldData,
    factors: tuple[np.ndarray, np.ndarray],
    params: ALSParams,
    validation: dict[str, Any],
) -> str | None:
    """Train the live ranker on the fold's sessions with factors fitted before it."""
    user_factors, item_factors = factors
    seed = params.seed
    history = ViewerHistory.from_sessions(
        fold_data.fold.history(sessions),
        fold_data.user_ids,
        len(fold_data.streamer_names),
        now=fold_data.fold.cut,
    )
    queries = session_queries(
        fold_data.fold.targets(sessions),
        fold_data.user_ids,
        history,
        user_factors,
        FoldIn(item_factors, params),
        LiveIndex.from_sessions(sessions),
        seed=seed,
    )
    popularity_rank = popularity_ranks(fold_data.history)
    trained = train_ranker(queries, history, user_factors, item_factors, popularity_rank, seed=seed)
    if trained is None:
        validation["ranker_skipped"] = "too few next-session queries in the validation window"
        return None
    model, summary = trained
    validation["ranker"] = summary
    if not ranker_wins(summary):
        validation["ranker_skipped"] = (
            f"it did not beat the blend on held-out queries (HR@1 {summary['hr@1 ranker']:.4f} "
            f"against {summary['hr@1 blend']:.4f})"
        )
        return None
    return model


def ranker_wins(summary: dict[str, Any]) -> bool:
    """Whether the ranker is worth serving: its held-out HR@1 is at least the blend's.

    The blend is what serves lists that keep watched streamers without a ranker, so a ranker
    that loses to it on queries it has not seen is not shipped, whatever data it came from.
    """
    return float(summary["hr@1 ranker"]) >= float(summary["hr@1 blend"])


def popularity_ranks(user_items: Any) -> np.ndarray:
    """Popularity rank of every streamer (0 = most popular), as the service ranks them."""
    return PopularityRanker().fit(user_items).ranks()

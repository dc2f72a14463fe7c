"""Offline evaluation on a time split: two protocols, every model on the same users.

Evaluated users are those with history before the fold's cut and at least one session in its
window (users without history get the popularity ranking from every model, so they tell the
models apart in nothing; they are counted as ``cold_users``).

**Protocol 1, top-K over all streamers.** A user's relevant set is the streamers they watch in
the window. Reported for three target sets: ``all``; ``new``, the streamers the user had not
watched before the cut (discovery); ``repeat``, those they had. Each is computed with the
watched streamers excluded from the list (``exclude``, what the service does by default) and
kept (``keep``). A user enters a target set's mean only when it is non-empty for them.

**Protocol 2, next session among live streamers** (Rappaz, McAuley, Aberer, "Recommendation on
Live-Streaming Platforms", RecSys 2021). A user's target is the streamer of their first session
in the window, starting at step ``t`` (of several starting at ``t``, the longest, then the
lowest streamer index). It is ranked only among the streamers live at ``t``
(:class:`~streamrec.live.LiveIndex`), watched ones included: ``HR@k = [rank <= k]`` and
``NDCG@k = [rank <= k] / log2(rank + 1)``, the definitions of :mod:`streamrec.evaluation.metrics`
for one relevant item. Split into ``all`` / ``new`` / ``repeat`` targets; ``repeat_share`` is the
share of repeat targets. Two models' hit rates are compared on the same targets with an exact
McNemar test (:func:`paired_hits`): close means need it.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.stats import binomtest

from streamrec.blend import DEFAULT_WEIGHT
from streamrec.evaluation.baselines import (
    ALS,
    BPR,
    Blend,
    Estimator,
    GradientMF,
    Popularity,
    Repeat,
)
from streamrec.evaluation.batch_metrics import hit_matrix, metrics_at_ks
from streamrec.live import LiveIndex
from streamrec.split import DEFAULT_WINDOW, Fold, TimeSplit, user_items
from streamrec.topn import mask_stored, rank_among, select_padded
from streamrec.train import ALSParams

logger = logging.getLogger(__name__)

BUCKETS = ("all", "new", "repeat")
MODES = ("exclude", "keep")  # protocol 1 with watched streamers excluded / kept
LIVE_KS = (1, 5, 10)
MAX_K = 50
# Scores held at once: rows x columns of one batch (64 MB of float32 scores).
_BATCH_CELLS = 1 << 24


@dataclass(frozen=True)
class FoldData:
    """What both protocols need for one fold, rows indexed like ``user_ids``.

    Attributes
    ----------
    history, target : scipy.sparse.csr_matrix
        All users x all streamers: watch steps before the cut (clipped at it), and in the
        window.
    users : numpy.ndarray
        Rows evaluated: history and at least one target session, sorted.
    next_step, next_item : numpy.ndarray
        Per evaluated user, protocol 2's step ``t`` and target streamer.
    cold_users : int
        Users with sessions in the window but none before the cut (not evaluated).
    """

    fold: Fold
    user_ids: np.ndarray
    streamer_names: np.ndarray
    history: sp.csr_matrix
    target: sp.csr_matrix
    users: np.ndarray
    next_step: np.ndarray
    next_item: np.ndarray
    cold_users: int

    def relevant(self) -> dict[str, sp.csr_matrix]:
        """Protocol 1's relevant sets of the evaluated users, per target set (binary).

        Computed once per fold: every model and tuning trial is scored against the same sets.
        """
        return self._relevant

    @functools.cached_property
    def _relevant(self) -> dict[str, sp.csr_matrix]:
        target = (self.target[self.users] > 0).astype(np.int8)
        repeat = target.multiply(self.history[self.users] > 0).astype(np.int8).tocsr()
        new = (target - repeat).tocsr()
        new.eliminate_zeros()
        return {"all": target.tocsr(), "new": new, "repeat": repeat}

    def next_is_repeat(self) -> np.ndarray:
        """Per evaluated user, whether protocol 2's target was watched before the cut."""
        return np.asarray(self.history[self.users, self.next_item] > 0).ravel()


def prepare_fold(
    sessions: pd.DataFrame, fold: Fold, max_users: int | None = None, seed: int = 0
) -> FoldData:
    """History, targets and evaluated users of ``fold``.

    Parameters
    ----------
    sessions : pandas.DataFrame
        As returned by :func:`streamrec.data.read_sessions`.
    fold : Fold
        From :class:`~streamrec.split.TimeSplit`.
    max_users : int, optional
        Evaluate a random sample of this many users (seeded), e.g. to tune faster.
    seed : int
        Seed of that sample.
    """
    user_ids = np.unique(sessions["user_id"].to_numpy(dtype=np.int64))
    names = sessions["streamer_name"].cat.categories.to_numpy(dtype=object)
    history_sessions = fold.history(sessions)
    target_sessions = fold.targets(sessions)
    if len(history_sessions) == 0 or len(target_sessions) == 0:
        raise ValueError(
            f"fold {fold.name!r} needs sessions before step {fold.cut} and in "
            f"[{fold.cut}, {fold.stop}), got {len(history_sessions)} and {len(target_sessions)}"
        )
    history = user_items(history_sessions, user_ids, len(names))
    target = user_items(target_sessions, user_ids, len(names))
    has_target = np.diff(target.indptr) > 0
    has_history = np.diff(history.indptr) > 0
    users = np.flatnonzero(has_target & has_history)
    if max_users is not None and len(users) > max_users:
        users = np.sort(np.random.default_rng(seed).choice(users, max_users, replace=False))
    step, item = _next_sessions(target_sessions, user_ids, users)
    return FoldData(
        fold=fold,
        user_ids=user_ids,
        streamer_names=names,
        history=history,
        target=target,
        users=users,
        next_step=step,
        next_item=item,
        cold_users=int((has_target & ~has_history).sum()),
    )


def _next_sessions(
    targets: pd.DataFrame, user_ids: np.ndarray, users: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each user's first session in the window: its start step and streamer."""
    rows = np.searchsorted(user_ids, targets["user_id"].to_numpy(dtype=np.int64))
    start = targets["time_start"].to_numpy(dtype=np.int64)
    length = targets["time_stop"].to_numpy(dtype=np.int64) - start
    item = targets["streamer_name"].cat.codes.to_numpy().astype(np.int64)
    # Per user: earliest start, then longest session, then lowest streamer index.
    order = np.lexsort((item, -length, start, rows))
    rows, first = np.unique(rows[order], return_index=True)
    pick = order[first][np.searchsorted(rows, users)]
    return start[pick], item[pick]


def evaluate_topk(
    model: Estimator, data: FoldData, max_k: int = MAX_K, modes: Sequence[str] = MODES
) -> dict[str, dict[str, dict[str, np.ndarray]]]:
    """Protocol 1 for a fitted model: ``result[mode][target set][metric][k - 1]``.

    ``mode`` is ``"exclude"`` or ``"keep"`` (watched streamers left out of the list or not;
    both by default), the target sets are ``BUCKETS``, metrics those of
    :func:`streamrec.evaluation.batch_metrics.metrics_at_ks` for ``k = 1..max_k`` (plus
    ``"users"``).
    """
    unknown = set(modes) - set(MODES)
    if unknown or not modes:
        raise ValueError(f"modes must be a non-empty subset of {MODES}, got {modes!r}")
    lists = {mode: np.empty((len(data.users), max_k), dtype=np.int32) for mode in modes}
    n_items = data.history.shape[1]
    for rows in _batches(len(data.users), n_items):
        users = data.users[rows]
        scores = model.score(users)
        if "keep" in lists:
            lists["keep"][rows] = select_padded(scores, max_k)
        if "exclude" in lists:
            mask_stored(scores, data.history[users])
            lists["exclude"][rows] = select_padded(scores, max_k)
    relevant = data.relevant()
    return {
        mode: {
            bucket: metrics_at_ks(hit_matrix(lists[mode], rel), np.diff(rel.indptr))
            for bucket, rel in relevant.items()
        }
        for mode in modes
    }


def live_ranks(model: Estimator, data: FoldData, live: LiveIndex) -> np.ndarray:
    """Protocol 2: rank of each evaluated user's next streamer among those live then.

    A model with a ``live_scores(user, items)`` method (the served configuration, whose
    ranking of a list depends on the whole list) scores each user's live streamers alone.
    """
    ranks = np.empty(len(data.users), dtype=np.int64)
    live_scores = getattr(model, "live_scores", None)
    if live_scores is not None:
        for j, (user, step, target) in enumerate(
            zip(data.users, data.next_step, data.next_item, strict=True)
        ):
            items = live.live(int(step))
            at = np.searchsorted(items, target)
            if at == len(items) or items[at] != target:
                raise ValueError(f"the next streamer of user row {user} is not live then")
            scores = live_scores(int(user), items)[None, :]
            columns = np.arange(len(items))
            ranks[j] = rank_among(scores, np.array([at]), np.zeros_like(columns), columns)[0]
        return ranks
    # Users sorted by step share their candidates, which keeps each batch's columns few.
    by_step = np.argsort(data.next_step, kind="stable")
    live_count = int(live.count(data.next_step).max(initial=1))
    for rows in _batches(len(by_step), 4 * live_count):
        picked = by_step[rows]
        steps = data.next_step[picked]
        candidates = [live.live(int(t)) for t in steps]
        columns = np.unique(np.concatenate(candidates))
        scores = model.score(data.users[picked], columns)
        cand_rows = np.repeat(np.arange(len(picked)), [len(c) for c in candidates])
        cand_cols = np.searchsorted(columns, np.concatenate(candidates))
        targets = np.searchsorted(columns, data.next_item[picked])
        # Each target must be among its own row's candidates (it is, when live comes from the
        # same sessions: the target's session makes its streamer live at that step).
        own = np.bincount(cand_rows[cand_cols == targets[cand_rows]], minlength=len(picked))
        if not (own == 1).all():
            user = data.user_ids[data.users[picked[np.argmin(own)]]]
            raise ValueError(f"the next streamer of user {user} is not live at its start step")
        ranks[picked] = rank_among(scores, targets, cand_rows, cand_cols)
    return ranks


def live_metrics(
    ranks: np.ndarray, is_repeat: np.ndarray, ks: Sequence[int] = LIVE_KS
) -> dict[str, dict[str, float]]:
    """``HR@k`` and ``NDCG@k`` of protocol 2 per target set, from the targets' ranks."""
    result: dict[str, dict[str, float]] = {}
    for bucket, mask in (("all", slice(None)), ("new", ~is_repeat), ("repeat", is_repeat)):
        r = ranks[mask]
        row: dict[str, float] = {"users": float(len(r))}
        for k in ks:
            hit = r <= k
            row[f"hit_rate@{k}"] = float(hit.mean()) if len(r) else 0.0
            row[f"ndcg@{k}"] = float((hit / np.log2(r + 1.0)).mean()) if len(r) else 0.0
        result[bucket] = row
    return result


@dataclass(frozen=True)
class PairedHits:
    """Two models' protocol 2 hits at ``k`` on the same targets.

    ``gained``: targets the model hits and the reference misses; ``lost``: the reverse;
    ``p_value``: exact two-sided McNemar test (binomial on ``gained`` of ``gained + lost``
    discordant targets at 1/2), 1.0 when there are none.
    """

    k: int
    gained: int
    lost: int
    p_value: float


def paired_hits(ranks: np.ndarray, reference: np.ndarray, k: int = 1) -> PairedHits:
    """Compare two models' protocol 2 ranks of the same targets at ``k``.

    Examples
    --------
    >>> paired_hits(np.array([1, 1, 3, 1]), np.array([2, 1, 1, 5]), k=1)
    PairedHits(k=1, gained=2, lost=1, p_value=1.0)
    """
    if ranks.shape != reference.shape:
        raise ValueError(f"ranks have shapes {ranks.shape} and {reference.shape}: not paired")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    hit, other = ranks <= k, reference <= k
    gained, lost = int((hit & ~other).sum()), int((other & ~hit).sum())
    p_value = binomtest(gained, gained + lost, 0.5).pvalue if gained + lost else 1.0
    return PairedHits(k, gained, lost, float(p_value))


def _batches(n_rows: int, n_columns: int) -> Iterator[slice]:
    size = max(1, _BATCH_CELLS // max(n_columns, 1))
    for start in range(0, n_rows, size):
        yield slice(start, min(start + size, n_rows))


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
        As returned by :func:`streamrec.data.read_sessions`.
    models : sequence of Estimator, optional
        Unfitted models with distinct names; :func:`default_models` when None.
    window : int
        W, in steps (see :class:`~streamrec.split.TimeSplit`).
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

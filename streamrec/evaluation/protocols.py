"""The two protocols on one fitted model and fold, and the paired test of two models' hits.

Both score the evaluated users of a fold (:class:`~streamrec.evaluation.fold_data.FoldData`).

**Protocol 1, top-K over all streamers.** A user's relevant set is the streamers they watch in
the window. Reported for three target sets: ``all``; ``new``, the streamers the user had not
watched before the cut (discovery); ``repeat``, those they had. Each is computed with the
watched streamers excluded from the list (``exclude``, what the service does by default) and
kept (``keep``). A user enters a target set's mean only when it is non-empty for them.

**Protocol 2, next session among live streamers** (Rappaz, McAuley, Aberer, "Recommendation on
Live-Streaming Platforms", RecSys 2021). A user's target is the streamer of their first session
in the window, starting at step ``t`` (of several starting at ``t``, the longest, then the
lowest streamer index). It is ranked only among the streamers live at ``t``
(:class:`~streamrec.data.live.LiveIndex`), watched ones included: ``HR@k = [rank <= k]`` and
``NDCG@k = [rank <= k] / log2(rank + 1)``, the definitions of :mod:`streamrec.evaluation.metrics`
for one relevant item. Split into ``all`` / ``new`` / ``repeat`` targets; ``repeat_share`` is the
share of repeat targets. Two models' hit rates are compared on the same targets with an exact
McNemar test (:func:`paired_hits`): close means need it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import binomtest

from streamrec.data.live import LiveIndex
from streamrec.evaluation.baselines import Estimator
from streamrec.evaluation.batch_metrics import hit_matrix, metrics_at_ks
from streamrec.evaluation.fold_data import FoldData
from streamrec.ranking.topn import mask_stored, rank_among, select_padded

BUCKETS = ("all", "new", "repeat")
MODES = ("exclude", "keep")  # protocol 1 with watched streamers excluded / kept
LIVE_KS = (1, 5, 10)
MAX_K = 50
# Scores held at once: rows x columns of one batch (64 MB of float32 scores).
_BATCH_CELLS = 1 << 24


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

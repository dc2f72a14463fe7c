"""The learned live ranker: LambdaRank trees over a viewer's candidates among live streamers.

About half of what viewers watch next is a streamer they already watch, and ALS alone ranks
those returns poorly; a fixed bonus on watch time (:mod:`streamrec.ranking.blend`) puts every
watched streamer first and so almost never suggests a new one. The ranker learns the trade-off
from the data: gradient-boosted trees (LightGBM, LambdaRank objective; Burges, "From RankNet to
LambdaRank to LambdaMART", 2010) order a short candidate list on the features of
:mod:`streamrec.ranking.features` (ALS score, the viewer's watch time, sessions and recency on the
candidate, its popularity, the viewer's activity).

**Candidates** (:func:`candidates`), among the streamers a request allows (the live ones):
the viewer's own streamers (their ``OWN`` most watched), ALS's ``ALS_BEST`` best and the
``POPULAR`` most popular. Everything else follows them by ALS score.

**Training** (:func:`train_ranker`): with factors fitted on the sessions before a cut, each
viewer's sessions after it are queries (:mod:`streamrec.training.live_queries`): their
candidates among the streamers live at their start, labelled 1 for the streamer watched, with
the viewer's history as the server would know it then. The model is LightGBM's text format, so
the artifact stores no pickle; serving evaluates it with :mod:`streamrec.ranking.trees`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from streamrec.model.artifact import Artifact, ArtifactError
from streamrec.model.popularity import PopularityRanker
from streamrec.ranking.blend import DEFAULT_WEIGHT
from streamrec.ranking.features import FEATURES, ViewerHistory, ViewerRow, feature_rows, viewer_row
from streamrec.ranking.topn import top_k
from streamrec.ranking.trees import ModelFormatError, TreeEnsemble

logger = logging.getLogger(__name__)

OWN = 64
ALS_BEST = 50
POPULAR = 20
# LightGBM settings: small, shallow trees (serving walks them per request) and a fixed seed,
# one thread and deterministic mode, so a training run gives the same model every time.
LGBM_PARAMS = {
    "objective": "lambdarank",
    "metric": "ndcg",
    "eval_at": [1, 10],
    "learning_rate": 0.1,
    "num_leaves": 15,
    "max_depth": 6,
    "min_data_in_leaf": 20,
    "feature_fraction": 0.9,
    "lambdarank_truncation_level": 20,
    "num_threads": 1,
    "deterministic": True,
    "force_row_wise": True,
    "seed": 0,
    "verbose": -1,
}
MAX_ROUNDS = 300
MIN_QUERIES = 20
EARLY_STOPPING = 20


def candidates(
    allowed: np.ndarray,
    als_scores: np.ndarray,
    watch: np.ndarray,
    popularity_rank: np.ndarray,
) -> np.ndarray:
    """Positions in ``allowed`` of the candidates, sorted.

    Parameters
    ----------
    allowed : numpy.ndarray
        The streamers the list may hold (e.g. live now), item indices.
    als_scores : numpy.ndarray
        The viewer's ALS score of each allowed streamer.
    watch : numpy.ndarray
        The viewer's watch steps on each allowed streamer (0: never watched).
    popularity_rank : numpy.ndarray
        Popularity rank of every item (0 = most popular).
    """
    n = len(allowed)
    if n <= OWN + ALS_BEST + POPULAR:
        return np.arange(n)
    picked = np.zeros(n, dtype=bool)
    watched = np.flatnonzero(watch > 0)
    if len(watched) > OWN:
        watched = watched[np.argpartition(-watch[watched], OWN)[:OWN]]
    picked[watched] = True
    # The best and the most popular, found by partitioning rather than sorting: the set is
    # what matters, the trees order it.
    picked[np.argpartition(-als_scores, ALS_BEST)[:ALS_BEST]] = True
    picked[np.argpartition(popularity_rank[allowed], POPULAR)[:POPULAR]] = True
    return np.flatnonzero(picked)


@dataclass(frozen=True)
class LiveRanker:
    """A trained ranker with the history its features read.

    ``rank`` orders one viewer's allowed streamers: the candidates by the trees' score, then
    the others by ALS score.
    """

    trees: TreeEnsemble
    history: ViewerHistory
    popularity_rank: np.ndarray

    def rank(
        self,
        row: int | ViewerRow | None,
        allowed: np.ndarray,
        als_scores: np.ndarray,
        k: int,
        now: int | None = None,
    ) -> np.ndarray:
        """The best ``k`` of ``allowed`` (item indices) for the viewer at ``row`` (a model row,
        the viewer's history itself, or None); recencies count from ``now`` (default: the
        history's)."""
        if len(allowed) == 0:
            return allowed
        viewer = viewer_row(self.history, row)
        watch = _watch_of(viewer, allowed)
        picked = candidates(allowed, als_scores, watch, self.popularity_rank)
        x = feature_rows(self.history, viewer, allowed[picked], als_scores[picked], now)
        order = picked[np.lexsort((allowed[picked], -self.trees.predict(x)))]
        if len(order) >= k or len(picked) == len(allowed):
            return allowed[order[:k]]
        rest = np.ones(len(allowed), dtype=bool)
        rest[picked] = False
        others = np.flatnonzero(rest)
        others = others[top_k(als_scores[others], k - len(order))]
        return allowed[np.concatenate((order, others))]

    def scores(
        self, row: int | ViewerRow | None, allowed: np.ndarray, als_scores: np.ndarray
    ) -> np.ndarray:
        """A score per allowed streamer whose order is :meth:`rank`'s (for evaluation)."""
        ranked = self.rank(row, allowed, als_scores, len(allowed))
        out = np.empty(len(allowed), dtype=np.float64)
        out[np.searchsorted(allowed, ranked)] = np.arange(len(allowed), 0, -1)
        return out


def from_artifact(artifact: Artifact) -> LiveRanker | None:
    """The artifact's live ranker with the history it reads, or None when it has none.

    Raises
    ------
    ArtifactError
        The ranker cannot be read, or its history does not line up with the model.
    """
    if artifact.ranker_model is None:
        return None
    settings = artifact.metadata.get("ranker")
    sessions, last_step = artifact.watch_sessions, artifact.watch_last_step
    if not isinstance(settings, dict) or sessions is None or last_step is None:
        raise ArtifactError("the artifact has a ranker but no ranker metadata or watch history")
    try:
        trees = TreeEnsemble.from_model_string(artifact.ranker_model)
        now = int(settings["now"])
    except (ModelFormatError, KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(f"the live ranker cannot be read: {exc}") from exc
    if trees.n_features != len(FEATURES):
        raise ArtifactError(
            f"the live ranker reads {trees.n_features} features; this server computes "
            f"{len(FEATURES)}: retrain with this version"
        )
    watch = artifact.user_items
    if not watch.has_sorted_indices:
        raise ArtifactError("the artifact's watched lists must be sorted to serve a ranker")
    viewers = np.bincount(watch.indices, minlength=watch.shape[1]).astype(np.float32)
    history = ViewerHistory(watch, sessions, last_step, viewers, now)
    return LiveRanker(trees, history, PopularityRanker.from_order(artifact.popular).ranks())


def _watch_of(viewer: ViewerRow | None, items: np.ndarray) -> np.ndarray:
    """The viewer's watch steps on each of the sorted ``items``."""
    out = np.zeros(len(items), dtype=np.float32)
    if viewer is None or len(items) == 0:
        return out
    own = viewer.items
    position = np.searchsorted(items, own)
    position[position == len(items)] = 0
    found = items[position] == own
    out[position[found]] = viewer.watch[found]
    return out


@dataclass(frozen=True)
class Queries:
    """Training queries: a viewer's next session among the streamers live at its start.

    Without ``viewers``, every query reads its viewer's row of the history and factors; with
    them (:mod:`streamrec.training.live_queries`), a query may bring the viewer's history as of
    its step, the factors re-solved from it and that step (None: the row, as of the cut).
    """

    rows: np.ndarray
    """Model row of each query's viewer."""
    live: list[np.ndarray]
    """Sorted item indices live at the query's step."""
    target: np.ndarray
    """The item watched."""
    viewers: list[ViewerRow | None] | None = None
    factors: np.ndarray | None = None
    now: np.ndarray | None = None


def query_features(
    queries: Queries,
    history: ViewerHistory,
    user_factors: np.ndarray,
    item_factors: np.ndarray,
    popularity_rank: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Feature rows, labels and group sizes of the queries whose target is a candidate.

    The fourth array tells, per query, whether it was kept (a query whose target is not
    among its candidates teaches nothing, and no list built from them could hit it).
    """
    xs, labels, groups = [], [], []
    kept = np.zeros(len(queries.rows), dtype=bool)
    for j, (row, live, target) in enumerate(
        zip(queries.rows, queries.live, queries.target, strict=True)
    ):
        viewer, factors, now = viewer_row(history, int(row)), user_factors[row], None
        if queries.viewers is not None and queries.viewers[j] is not None:
            assert queries.factors is not None and queries.now is not None
            viewer, factors, now = queries.viewers[j], queries.factors[j], int(queries.now[j])
        scores = item_factors[live] @ factors
        watch = _watch_of(viewer, live)
        picked = candidates(live, scores, watch, popularity_rank)
        label = (live[picked] == target).astype(np.float32)
        if not label.any() or len(picked) < 2:
            continue
        kept[j] = True
        xs.append(feature_rows(history, viewer, live[picked], scores[picked], now))
        labels.append(label)
        groups.append(len(picked))
    if not xs:
        empty = np.empty((0, len(FEATURES)), dtype=np.float32)
        return empty, np.empty(0, np.float32), np.empty(0, np.int64), kept
    return np.concatenate(xs), np.concatenate(labels), np.asarray(groups, np.int64), kept


def train_ranker(
    queries: Queries,
    history: ViewerHistory,
    user_factors: np.ndarray,
    item_factors: np.ndarray,
    popularity_rank: np.ndarray,
    seed: int = 0,
) -> tuple[str, dict[str, float | int]] | None:
    """Train the LambdaRank model; return its text and a summary, or None without queries.

    A seeded fifth of the queries is held out to choose the number of boosting rounds (early
    stopping on NDCG@1) and to compare the ranker with the blend and repeat on queries it has
    not seen (HR@1 over all held-out queries; one whose target is no candidate is a miss);
    the model is then refitted on all queries with that many rounds.
    """
    import lightgbm

    x, y, groups, kept = query_features(
        queries, history, user_factors, item_factors, popularity_rank
    )
    if len(groups) < MIN_QUERIES:
        logger.warning("only %d ranker queries: no ranker trained", len(groups))
        return None
    params = {**LGBM_PARAMS, "seed": seed}
    # Held out by viewer: a viewer's queries are all held out or none, so the held-out HR@1
    # is on viewers the trees never saw.
    by_viewer = np.random.default_rng(seed).random(int(queries.rows.max()) + 1) < 0.2
    held_query = by_viewer[queries.rows]
    held = held_query[kept]
    if held.sum() < 2 or (~held).sum() < 2:
        held = np.arange(len(groups)) % 5 == 0
    row_held = np.repeat(held, groups)
    fit_set = lightgbm.Dataset(x[~row_held], y[~row_held], group=groups[~held])
    valid_set = lightgbm.Dataset(x[row_held], y[row_held], group=groups[held], reference=fit_set)
    probe = lightgbm.train(
        params,
        fit_set,
        MAX_ROUNDS,
        valid_sets=[valid_set],
        callbacks=[lightgbm.early_stopping(EARLY_STOPPING, first_metric_only=True, verbose=False)],
    )
    rounds = max(int(probe.best_iteration or MAX_ROUNDS), 1)
    model = lightgbm.train(params, lightgbm.Dataset(x, y, group=groups), rounds)
    held_x, held_y, held_groups = x[row_held], y[row_held], groups[held]
    n_held = int(held_query.sum()) if held_query.sum() >= 2 else int(held.sum())
    summary: dict[str, float | int] = {
        "queries": len(groups),
        "queries_without_target": int((~kept).sum()),
        "candidates_per_query": round(float(np.mean(groups)), 1),
        "rounds": rounds,
        "held_out": n_held,
    }
    for name, score in (
        ("ranker", probe.predict(held_x, num_iteration=rounds)),
        ("blend", held_x[:, 0] + DEFAULT_WEIGHT * held_x[:, 2]),
        ("repeat", held_x[:, 2] + 1e-3 * held_x[:, 6]),
    ):
        summary[f"hr@1 {name}"] = round(_hits_at_1(score, held_y, held_groups) / n_held, 4)
    return model.model_to_string(), summary


def _hits_at_1(scores: np.ndarray, labels: np.ndarray, groups: np.ndarray) -> int:
    """Queries whose best-scored candidate (first on ties) is the target."""
    hits, start = 0, 0
    for size in groups.tolist():
        hits += int(labels[start + int(np.argmax(scores[start : start + size]))] > 0)
        start += size
    return hits

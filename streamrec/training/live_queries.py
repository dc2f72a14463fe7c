"""The live ranker's training queries, as the server with watch events will ask them.

A server fed watch events (:mod:`streamrec.serving.overlay`) asks the ranker about a viewer
with everything they watched so far: the model's history plus their sessions since, open ones
counted up to now, and factors re-solved from it all (:mod:`streamrec.serving.fresh`). A server
without events asks with the model's history alone. The ranker must learn from both kinds of
question, so that what it learns holds for what it is asked (a viewer's last streamer, for one,
is rarely their next: its stream has usually just ended).

:func:`session_queries` makes one query per viewer and start step of the validation window:
the streamer watched (the longest session starting then, as in the evaluation), among the
streamers live then. A viewer's first start in the window is asked with the history before
the window, as of the cut; each later one with that history plus the viewer's earlier window
sessions, as of that step, and with factors re-solved from it. Viewers without any earlier
session are not asked (they get the popular list).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from streamrec.data.live import LiveIndex
from streamrec.ranking.features import ViewerHistory, ViewerRow, merge_rows, viewer_row
from streamrec.ranking.foldin import FoldIn
from streamrec.ranking.ranker import Queries

MAX_QUERIES = 50_000
"""Queries kept (a seeded sample beyond it): enough to learn ten features, and bounded work."""


def session_queries(
    window: pd.DataFrame,
    user_ids: np.ndarray,
    history: ViewerHistory,
    user_factors: np.ndarray,
    fold_in: FoldIn,
    live: LiveIndex,
    seed: int = 0,
    max_queries: int = MAX_QUERIES,
) -> Queries:
    """The window's queries (see the module docstring).

    Parameters
    ----------
    window : pandas.DataFrame
        The validation window's sessions (as :func:`streamrec.data.read_sessions` gives them,
        streamer codes as the history's columns).
    user_ids : numpy.ndarray
        Sorted ids of the history's rows (every window viewer among them).
    history : ViewerHistory
        The history before the window, ``now`` its cut.
    user_factors : numpy.ndarray
        Factors fitted on that history, by row.
    fold_in : FoldIn
        Re-solves a viewer's factors from a history, with the item factors of that fit.
    live : LiveIndex
        Who is live at each step.
    """
    rows = np.searchsorted(user_ids, window["user_id"].to_numpy(dtype=np.int64))
    start = window["time_start"].to_numpy(dtype=np.int64)
    stop = window["time_stop"].to_numpy(dtype=np.int64)
    item = window["streamer_name"].cat.codes.to_numpy().astype(np.int64)
    # Per viewer in time order; per start, the longest session first, then the lowest index.
    order = np.lexsort((item, start - stop, start, rows))
    rows, start, stop, item = rows[order], start[order], stop[order], item[order]
    first = np.r_[True, (rows[1:] != rows[:-1]) | (start[1:] != start[:-1])]
    asked = np.flatnonzero(first)  # one query per (viewer, start step): its first session
    has_history = np.diff(history.watch.indptr) > 0
    opening = np.r_[True, rows[asked][1:] != rows[asked][:-1]]  # the viewer's first start
    asked = asked[~opening | has_history[rows[asked]]]
    if len(asked) > max_queries:
        pick = np.random.default_rng(seed).choice(len(asked), max_queries, replace=False)
        asked = asked[np.sort(pick)]
    viewers: list[ViewerRow | None] = []
    factors = np.empty((len(asked), user_factors.shape[1]), dtype=np.float32)
    now = np.empty(len(asked), dtype=np.int64)
    viewer_start = np.searchsorted(rows, rows[asked])  # the viewer's first window session
    for q, (j, lo) in enumerate(zip(asked.tolist(), viewer_start.tolist(), strict=True)):
        row, t = int(rows[j]), int(start[j])
        earlier = np.arange(lo, j)
        earlier = earlier[start[earlier] < t]
        if len(earlier) == 0:  # asked with the model's history, as of the cut
            viewers.append(None)
            factors[q] = user_factors[row]
            now[q] = history.now
            continue
        merged = _merge(viewer_row(history, row), item[earlier], start[earlier], stop[earlier], t)
        viewers.append(merged)
        factors[q] = fold_in.user_factors(merged.items, merged.watch)
        now[q] = t
    return Queries(
        rows=rows[asked],
        live=[live.live(int(t)) for t in start[asked]],
        target=item[asked],
        viewers=viewers,
        factors=factors,
        now=now,
    )


def _merge(
    base: ViewerRow | None, item: np.ndarray, start: np.ndarray, stop: np.ndarray, now: int
) -> ViewerRow:
    """``base`` plus the sessions ``(item, start, stop)`` as of step ``now``: a session still
    open then counts up to it, every session at least one step (as the overlay counts them)."""
    end = np.minimum(stop, now)
    window = ViewerRow(item, np.maximum(end - start, 1), np.ones(len(item)), end)
    return merge_rows(window, base)

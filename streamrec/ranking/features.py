"""What the live ranker knows of each viewer and streamer, and its feature rows.

A :class:`ViewerHistory` summarises watch sessions up to a step ``now``: per (viewer, streamer)
pair the watch steps, the number of sessions and the last step watched, and per streamer the
number of distinct viewers. It is built offline from sessions (training, evaluation) and stored
in the model artifact, so serving computes the same features as training did.

:func:`feature_rows` turns one viewer's candidates into the matrix the ranker scores, one row
per candidate, columns named by ``FEATURES``. A recency that does not apply (a streamer the
viewer never watched, a viewer without history) is ``NEVER`` steps, longer than any history, so
the rows hold no NaN and every tree split reads them the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from streamrec.data.sessions import watch_steps

FEATURES = (
    "als_score",
    "als_gap",  # ALS score minus the best ALS score among this request's candidates
    "log_watch_steps",
    "log_sessions",
    "log_steps_since_watched",
    "watch_share",  # the candidate's share of the viewer's watch time
    "log_viewers",  # streamer popularity: distinct viewers
    "log_viewer_steps",  # viewer activity: total watch steps
    "log_viewer_streamers",
    "log_steps_since_active",  # since the viewer's last session
)
NEVER = 1e9  # steps: "never watched", beyond any real history (10-minute steps: 19,000 years)


@dataclass(frozen=True)
class ViewerHistory:
    """Watch history as of step ``now``, rows and columns as the model's users and streamers.

    Attributes
    ----------
    watch : scipy.sparse.csr_matrix
        float32 watch steps per (viewer, streamer), sorted indices.
    sessions, last_step : numpy.ndarray
        float32, aligned with ``watch.data``: sessions of the pair, and the last step watched
        (a session's stop step, clipped at ``now``).
    viewers : numpy.ndarray
        float32 distinct viewers per streamer.
    now : int
        The step the history ends at (the cut of a fold, or the data's last step).
    """

    watch: sp.csr_matrix
    sessions: np.ndarray
    last_step: np.ndarray
    viewers: np.ndarray
    now: int

    @classmethod
    def from_sessions(
        cls, sessions: pd.DataFrame, user_ids: np.ndarray, n_items: int, now: int | None = None
    ) -> ViewerHistory:
        """Summarise ``sessions`` (as :func:`streamrec.data.sessions.read_sessions` returns them).

        ``user_ids`` are the sorted ids of the matrix rows (every session's user must be
        among them); ``now`` defaults to the last stop step of the sessions.
        """
        ids = sessions["user_id"].to_numpy(dtype=np.int64)
        rows = np.searchsorted(user_ids, ids)
        if len(ids) and (rows.max() >= len(user_ids) or not np.array_equal(user_ids[rows], ids)):
            raise ValueError("sessions hold user ids missing from user_ids")
        cols = sessions["streamer_name"].cat.codes.to_numpy().astype(np.int64)
        stop = sessions["time_stop"].to_numpy(dtype=np.int64)
        if now is None:
            now = int(stop.max()) if len(stop) else 0
        stop = np.minimum(stop, now)
        steps = watch_steps(sessions).astype(np.float64)
        shape = (len(user_ids), n_items)
        pair = rows * n_items + cols
        order = np.argsort(pair, kind="stable")
        pair, stop, steps = pair[order], stop[order], steps[order]
        first = np.flatnonzero(np.r_[True, pair[1:] != pair[:-1]]) if len(pair) else pair[:0]
        unique = pair[first]
        watch = np.add.reduceat(steps, first) if len(first) else steps[:0]
        count = np.diff(np.r_[first, len(pair)])
        last = np.maximum.reduceat(stop, first) if len(first) else stop[:0]
        # Pairs sorted by (row, column): the CSR's data order, so the arrays line up with it.
        matrix = sp.csr_matrix(
            (watch.astype(np.float32), (unique // n_items, unique % n_items)), shape=shape
        )
        matrix.sort_indices()
        viewers = np.bincount(unique % n_items, minlength=n_items).astype(np.float32)
        return cls(matrix, count.astype(np.float32), last.astype(np.float32), viewers, now)

    def check(self) -> None:
        """Raise ValueError naming the first part that does not line up with ``watch``."""
        nnz = self.watch.nnz
        for name in ("sessions", "last_step"):
            if getattr(self, name).shape != (nnz,):
                raise ValueError(f"{name} must hold {nnz} values, got {getattr(self, name).shape}")
        if self.viewers.shape != (self.watch.shape[1],):
            raise ValueError(f"viewers must hold {self.watch.shape[1]} values")


@dataclass(frozen=True)
class ViewerRow:
    """One viewer's history: streamers (sorted item indices) with, aligned, their watch steps,
    sessions and last step watched (float32). Built from a :class:`ViewerHistory` row, or from
    a row merged with the viewer's events since training."""

    items: np.ndarray
    watch: np.ndarray
    sessions: np.ndarray
    last_step: np.ndarray


def merge_rows(*parts: ViewerRow | None) -> ViewerRow:
    """One viewer's histories merged: watch steps and sessions summed per streamer, the later
    last step kept (None parts are skipped)."""
    kept = [p for p in parts if p is not None]
    items = np.concatenate([p.items for p in kept]).astype(np.int64)
    order = np.argsort(items, kind="stable")
    items = items[order]
    first = np.flatnonzero(np.r_[True, items[1:] != items[:-1]]) if len(items) else items

    def merged(name: str) -> np.ndarray:
        return np.concatenate([getattr(p, name) for p in kept]).astype(np.float64)[order]

    if not len(items):
        empty = np.empty(0, dtype=np.float32)
        return ViewerRow(items.astype(np.int32), empty, empty, empty)
    return ViewerRow(
        items[first].astype(np.int32),
        np.add.reduceat(merged("watch"), first).astype(np.float32),
        np.add.reduceat(merged("sessions"), first).astype(np.float32),
        np.maximum.reduceat(merged("last_step"), first).astype(np.float32),
    )


def viewer_row(history: ViewerHistory, row: int | ViewerRow | None) -> ViewerRow | None:
    """``row``'s history as a :class:`ViewerRow` (a ``ViewerRow`` is returned as it is)."""
    if row is None or isinstance(row, ViewerRow):
        return row
    start, stop = history.watch.indptr[row], history.watch.indptr[row + 1]
    return ViewerRow(
        history.watch.indices[start:stop],
        history.watch.data[start:stop],
        history.sessions[start:stop],
        history.last_step[start:stop],
    )


def feature_rows(
    history: ViewerHistory,
    row: int | ViewerRow | None,
    candidates: np.ndarray,
    als_scores: np.ndarray,
    now: int | None = None,
) -> np.ndarray:
    """The ranker's features of ``candidates`` for the viewer at model row ``row``.

    Parameters
    ----------
    history : ViewerHistory
        The viewers' history.
    row : int, ViewerRow or None
        The viewer's row, their history itself, or None for a viewer without history.
    candidates : numpy.ndarray
        Streamer indices.
    als_scores : numpy.ndarray
        The viewer's ALS score of each candidate.
    now : int, optional
        The step recencies are counted from; default ``history.now``.

    Returns
    -------
    numpy.ndarray
        float32 ``(len(candidates), len(FEATURES))``.
    """
    viewer = viewer_row(history, row)
    now = history.now if now is None else now
    n = len(candidates)
    out = np.zeros((n, len(FEATURES)), dtype=np.float32)
    out[:, 0] = als_scores
    out[:, 1] = als_scores - (als_scores.max() if n else 0.0)
    out[:, 6] = np.log1p(history.viewers[candidates])
    watch = np.zeros(n, dtype=np.float32)
    out[:, 4] = np.log1p(NEVER)
    total, streamers, since_active = 0.0, 0, NEVER
    if viewer is not None and len(viewer.items):
        own = viewer.items
        total = float(viewer.watch.sum())
        streamers = len(own)
        since_active = float(now - viewer.last_step.max())
        position = np.searchsorted(own, candidates)
        position[position == len(own)] = 0
        found = own[position] == candidates
        at = position[found]
        watch[found] = viewer.watch[at]
        out[found, 3] = np.log1p(viewer.sessions[at])
        out[found, 4] = np.log1p(now - viewer.last_step[at])
    out[:, 2] = np.log1p(watch)
    out[:, 5] = watch / total if total else 0.0
    out[:, 7] = np.log1p(total)
    out[:, 8] = np.log1p(streamers)
    out[:, 9] = np.log1p(since_active)
    return out

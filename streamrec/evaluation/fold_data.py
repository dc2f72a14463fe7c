"""What both protocols need for one fold: history, targets and the users evaluated.

Evaluated users are those with history before the fold's cut and at least one session in its
window (users without history get the popularity ranking from every model, so they tell the
models apart in nothing; they are counted as ``cold_users``). Protocol 2's target of a user
(:mod:`streamrec.evaluation.protocols`) is their first session in the window.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from streamrec.data.split import Fold, user_items


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
        As returned by :func:`streamrec.data.sessions.read_sessions`.
    fold : Fold
        From :class:`~streamrec.data.split.TimeSplit`.
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

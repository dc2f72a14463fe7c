"""The time-based split: fit on the past, evaluate on the window after it.

With ``T`` the last step of the data and a window of ``W`` steps (250 steps, about 42 hours, by
default), as in the live-streaming literature (Rappaz et al., RecSys 2021):

* train: sessions starting before ``T - 2W``;
* validation: sessions starting in ``[T - 2W, T - W)``;
* test: sessions starting in ``[T - W, T]``.

A :class:`Fold` is one "fit on everything before the cut, evaluate on the window" pair. The
validation fold fits on train; the test fold fits on train + validation, as a model retrained
at ``T - W`` would. History is clipped at the cut: a session still running at the cut
contributes only the steps watched before it, since the rest was not known then.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from streamrec.data.sessions import watch_steps

DEFAULT_WINDOW = 250


@dataclass(frozen=True)
class Fold:
    """Fit on sessions starting before ``cut``; evaluate on those starting in ``[cut, stop)``."""

    name: str
    cut: int
    stop: int

    def history(self, sessions: pd.DataFrame) -> pd.DataFrame:
        """Sessions starting before the cut, each clipped to end at the cut at the latest."""
        before = sessions[sessions["time_start"].to_numpy() < self.cut]
        clipped = np.minimum(before["time_stop"].to_numpy(), self.cut).astype(np.int32)
        return before.assign(time_stop=clipped)

    def targets(self, sessions: pd.DataFrame) -> pd.DataFrame:
        """Sessions starting in the window ``[cut, stop)``."""
        start = sessions["time_start"].to_numpy()
        return sessions[(start >= self.cut) & (start < self.stop)]


@dataclass(frozen=True)
class TimeSplit:
    """Train / validation / test boundaries from the last step ``end`` (T) and ``window`` (W).

    Examples
    --------
    >>> split = TimeSplit(end=6147, window=250)
    >>> split.valid, split.test
    (Fold(name='valid', cut=5647, stop=5897), Fold(name='test', cut=5897, stop=6148))
    """

    end: int
    window: int = DEFAULT_WINDOW

    def __post_init__(self) -> None:
        if self.window < 1:
            raise ValueError(f"window must be >= 1 step, got {self.window}")
        if self.end - 2 * self.window < 1:
            raise ValueError(
                f"window={self.window} leaves no training steps before T - 2W: the data ends "
                f"at step T={self.end}; use a window of at most {max((self.end - 1) // 2, 1)}"
            )

    @classmethod
    def from_sessions(
        cls, sessions: pd.DataFrame, window: int = DEFAULT_WINDOW, end: int | None = None
    ) -> TimeSplit:
        """The split with ``T = end``, or the last step of the data (largest ``time_stop``)."""
        if end is None:
            end = int(sessions["time_stop"].max())
        return cls(end=end, window=window)

    @property
    def valid(self) -> Fold:
        """Fit on train, evaluate on the validation window."""
        return Fold("valid", self.end - 2 * self.window, self.end - self.window)

    @property
    def test(self) -> Fold:
        """Fit on train + validation, evaluate on the test window (T included)."""
        return Fold("test", self.end - self.window, self.end + 1)

    def fold(self, name: str) -> Fold:
        """The fold called ``name``: ``"valid"`` or ``"test"``."""
        if name == "valid":
            return self.valid
        if name == "test":
            return self.test
        raise ValueError(f"fold must be 'valid' or 'test', got {name!r}")


def user_items(sessions: pd.DataFrame, user_ids: np.ndarray, n_items: int) -> sp.csr_matrix:
    """Summed watch steps as a ``len(user_ids) x n_items`` CSR, rows in ``user_ids`` order.

    Unlike :func:`streamrec.data.sessions.build_interactions`, the rows are fixed (users without a
    session get an empty row), so the history and target matrices of a fold line up.

    Parameters
    ----------
    sessions : pandas.DataFrame
        Every ``user_id`` must be in ``user_ids``.
    user_ids : numpy.ndarray
        Sorted int64 user ids.
    n_items : int
        Number of streamer categories.
    """
    ids = sessions["user_id"].to_numpy(dtype=np.int64)
    rows = np.searchsorted(user_ids, ids)
    if len(ids) and (rows.max() >= len(user_ids) or not np.array_equal(user_ids[rows], ids)):
        raise ValueError("sessions hold user ids missing from user_ids")
    cols = sessions["streamer_name"].cat.codes.to_numpy()
    matrix = sp.csr_matrix(
        (watch_steps(sessions), (rows, cols)), shape=(len(user_ids), n_items), dtype=np.float32
    )
    matrix.sum_duplicates()
    return matrix


# The validation window of a training run (see choose_window).
MIN_WINDOW_USERS = 1000
MIN_WINDOW_SHARE = 0.05
MAX_WINDOW_SPAN = 1 / 3


def choose_window(
    sessions: pd.DataFrame,
    min_users: int = MIN_WINDOW_USERS,
    min_share: float = MIN_WINDOW_SHARE,
    max_span: float = MAX_WINDOW_SPAN,
) -> int:
    """The validation window ``W`` of a training run, chosen from the data, in steps.

    The window is the latest ``W`` steps, ``[T - W, T]``: the smallest ``W`` for which

    * at least ``min_users`` users watch in it who also watched before it (the users a
      validation metric averages over: with 1,000 of them the standard error of a mean
      hit rate or NDCG is at most 0.016), and
    * it holds at least ``min_share`` of all sessions,

    but at most ``max_span`` of the data's time span. Data too small for ``min_users`` such
    users within that span asks for half of the most it can have. The rule depends on counts
    of sessions and users, not on how long a step is or how many steps the data spans.

    Examples
    --------
    >>> choose_window(sessions)  # doctest: +SKIP
    312
    """
    if not 0 < min_share < 1 or not 0 < max_span < 1 or min_users < 1:
        raise ValueError(
            f"need min_users >= 1 and 0 < min_share, max_span < 1, got {min_users}, "
            f"{min_share}, {max_span}"
        )
    start = sessions["time_start"].to_numpy(dtype=np.int64)
    if len(start) == 0:
        raise ValueError("no sessions to choose a validation window from")
    end = int(sessions["time_stop"].max())
    users = pd.DataFrame({"user": sessions["user_id"].to_numpy(), "start": start})
    span = users.groupby("user", sort=False)["start"].agg(["min", "max"])
    first, last = np.sort(span["min"].to_numpy()), np.sort(span["max"].to_numpy())
    # Candidate cuts c = T - W, latest first, from W = 1 to the widest window allowed. Counts
    # change only at session starts, so those (and the narrowest window) are the candidates:
    # the work depends on the number of distinct starts, not on the time unit.
    widest = max(int((end - int(start.min())) * max_span), 1)
    starts = np.unique(start)
    cuts = starts[(starts >= end - widest) & (starts <= end - 1)][::-1]
    cuts = np.concatenate(([end - 1], cuts[cuts < end - 1], [end - widest]))
    # Users evaluated at cut c: first session before c, and a session starting at c or later.
    evaluated = np.searchsorted(first, cuts, side="left") - np.searchsorted(last, cuts, "left")
    share = 1 - np.searchsorted(np.sort(start), cuts, side="left") / len(start)
    most = int(evaluated.max())
    wanted = min_users if most >= min_users else max(most // 2, 1)
    enough = np.flatnonzero((evaluated >= wanted) & (share >= min_share))
    cut = int(cuts[enough[0]]) if len(enough) else int(cuts[-1])
    return end - cut

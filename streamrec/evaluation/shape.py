"""The behavioural shape of a sessions data set: the statistics that tell two data sets apart.

Used to put the generator (:mod:`streamrec.data.synth`) side by side with real sessions
(``python -m bench shape``). Every function takes a sessions DataFrame as returned by
:func:`streamrec.data.sessions.read_sessions` (or a row subset of it) and reads nothing else:

* **Repeat share**: of each user's sessions after their first, the share that go to a streamer
  the user watched in an earlier session, ``(sessions - pairs) / (sessions - users)`` with
  ``pairs`` the distinct (user, streamer) pairs (each pair's first session is the only one that
  is not a repeat). Also the share among the next sessions protocol 2 of
  :mod:`streamrec.evaluation.protocols` ranks: each user's first session in the last window.
* **Sessions per user**: median, mean and 90th percentile.
* **Popularity curve**: the share of sessions that go to the top 1% and 10% of streamers (of
  those with a session), the Gini coefficient of sessions per streamer, and the slope of
  log(sessions) against log(rank) over the top 10% (about minus the Zipf exponent of the head).
* **New-streamer share**: of the distinct streamers a user watches in the last window, the share
  they had not watched before it, pooled over the users with sessions both before and in the
  window (protocol 1's ``new`` targets over its ``all`` targets).
* **List collapse**: ALS fitted on all sessions; among the heaviest viewers (most sessions), how
  many get a top-10 list (watched streamers excluded) that another of them gets too; and how
  many distinct top-10 lists there are per user over all users.
* **Live streamers per step**: the median over steps of the streamers live
  (:class:`streamrec.data.live.LiveIndex`, from the sessions themselves).

Real samples are often drawn the way the development slice of real Twitch sessions was: one
community's streamers, its heavy viewers weighted by activity, start steps only.
:func:`sample_like_slice` draws the same way from any sessions, so that a generated data set can
be compared with such a sample like for like, its sampling artefacts included.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from streamrec.data.live import LiveIndex
from streamrec.data.sessions import build_interactions
from streamrec.data.split import DEFAULT_WINDOW, TimeSplit
from streamrec.evaluation.fold_data import prepare_fold
from streamrec.model.als import ALSParams, fit_als
from streamrec.ranking.topn import top_n

HEAVY_VIEWERS = 40
LIST_LENGTH = 10


@dataclass(frozen=True)
class Activity:
    """Sessions per user."""

    median: float
    mean: float
    p90: float


@dataclass(frozen=True)
class Popularity:
    """How sessions spread over streamers (those with at least one session)."""

    top1_share: float
    top10_share: float
    gini: float
    slope: float


@dataclass(frozen=True)
class Window:
    """What happens in the last window of ``window`` steps, for users seen before it.

    Attributes
    ----------
    users : int
        Users with sessions both before the window and in it.
    next_repeat_share : float
        Share of those users whose first session in the window is a repeat (protocol 2).
    new_share : float
        Of the distinct (user, streamer) pairs of those users in the window, the share whose
        streamer the user had not watched before it.
    """

    window: int
    users: int
    next_repeat_share: float
    new_share: float


@dataclass(frozen=True)
class Collapse:
    """How many users get the same top-``k`` list from ALS (watched streamers excluded).

    Attributes
    ----------
    heavy, heavy_shared : int
        The heaviest viewers looked at, and how many of them share their list with another.
    users, distinct_lists : int
        Users whose lists were compared (all, or a seeded sample), and their distinct lists.
    """

    k: int
    heavy: int
    heavy_shared: int
    users: int
    distinct_lists: int

    @property
    def distinct_share(self) -> float:
        return self.distinct_lists / self.users if self.users else 0.0


@dataclass(frozen=True)
class Shape:
    """Every statistic of one data set (``collapse`` is None when not asked for)."""

    sessions: int
    users: int
    streamers: int
    repeat_share: float
    activity: Activity
    popularity: Popularity
    window: Window
    live_median: float
    collapse: Collapse | None = None


def repeat_share(sessions: pd.DataFrame) -> float:
    """Share of users' sessions after their first that go back to a streamer already watched.

    Examples
    --------
    >>> s = pd.DataFrame({"user_id": [1, 1, 1, 2], "streamer_name": pd.Categorical(list("abaa")),
    ...                   "time_start": [0, 1, 2, 0], "time_stop": [1, 2, 3, 1]})
    >>> repeat_share(s)  # user 1: a, b, a -> one repeat of two later sessions; user 2: none
    0.5
    """
    users = sessions["user_id"].nunique()
    later = len(sessions) - users
    if later == 0:
        return 0.0
    pairs = len(sessions[["user_id", "streamer_name"]].drop_duplicates())
    return (len(sessions) - pairs) / later


def activity(sessions: pd.DataFrame) -> Activity:
    """Median, mean and 90th percentile of sessions per user."""
    per_user = sessions.groupby("user_id", sort=False).size().to_numpy()
    return Activity(
        median=float(np.median(per_user)),
        mean=float(per_user.mean()),
        p90=float(np.percentile(per_user, 90)),
    )


def popularity(sessions: pd.DataFrame) -> Popularity:
    """Top-1% and top-10% shares, Gini and head slope of sessions per streamer.

    The top ``p`` are the ``ceil(p * n)`` streamers with most sessions, of the ``n`` with any.

    Examples
    --------
    >>> s = pd.DataFrame({"streamer_name": pd.Categorical(list("aaab"))})
    >>> p = popularity(s)
    >>> p.top1_share, p.gini
    (0.75, 0.25)
    """
    counts = sessions["streamer_name"].value_counts().to_numpy(dtype=np.float64)
    counts = np.sort(counts[counts > 0])[::-1]
    n, total = len(counts), counts.sum()
    top1 = counts[: math.ceil(0.01 * n)].sum() / total
    top10 = counts[: math.ceil(0.10 * n)].sum() / total
    # Gini of the counts: 1 - 2 * (area under the Lorenz curve), counts in ascending order.
    ascending = counts[::-1]
    gini = float((2.0 * np.arange(1, n + 1) - n - 1) @ ascending / (n * total))
    head = max(math.ceil(0.10 * n), 2)
    if n >= 2:
        slope = float(np.polyfit(np.log(np.arange(1, head + 1)), np.log(counts[:head]), 1)[0])
    else:
        slope = 0.0
    return Popularity(top1_share=float(top1), top10_share=float(top10), gini=gini, slope=slope)


def last_window(sessions: pd.DataFrame, window: int = DEFAULT_WINDOW) -> Window:
    """Repeat share of protocol 2's next sessions and the new-streamer share, last window.

    The window is the test window of :class:`streamrec.data.split.TimeSplit`: ``[T - W, T]``.
    """
    fold = prepare_fold(sessions, TimeSplit.from_sessions(sessions, window=window).test)
    relevant = fold.relevant()
    pairs = relevant["all"].nnz
    return Window(
        window=window,
        users=len(fold.users),
        next_repeat_share=float(fold.next_is_repeat().mean()) if len(fold.users) else 0.0,
        new_share=relevant["new"].nnz / pairs if pairs else 0.0,
    )


def live_median(sessions: pd.DataFrame) -> float:
    """Median over steps ``0..T-1`` of the number of streamers live at the step."""
    live = LiveIndex.from_sessions(sessions)
    return float(np.median(live.count(np.arange(live.n_steps))))


def collapse(
    sessions: pd.DataFrame,
    params: ALSParams,
    heavy: int = HEAVY_VIEWERS,
    k: int = LIST_LENGTH,
    max_users: int | None = None,
    seed: int = 0,
) -> Collapse:
    """Fit ALS on all sessions and count users whose top-``k`` lists coincide.

    Parameters
    ----------
    sessions : pandas.DataFrame
        As returned by :func:`streamrec.data.sessions.read_sessions`.
    params : ALSParams
        The model to fit.
    heavy : int
        How many of the heaviest viewers (most sessions; ties: smaller user id) to compare.
    k : int
        List length; the user's watched streamers are never in their list.
    max_users : int, optional
        Compare the lists of a seeded sample of this many users instead of all of them (the
        heaviest viewers are compared among themselves in any case).
    seed : int
        Seed of that sample.
    """
    interactions = build_interactions(sessions)
    user_factors, item_factors = fit_als(interactions.user_items, params)
    # build_interactions numbers users in sorted id order, as np.unique does.
    codes = np.searchsorted(interactions.user_ids, sessions["user_id"].to_numpy(dtype=np.int64))
    per_user = np.bincount(codes, minlength=len(interactions.user_ids))
    heaviest = np.argsort(-per_user, kind="stable")[: min(heavy, len(per_user))]
    rows = np.arange(len(per_user))
    if max_users is not None and len(rows) > max_users:
        rows = np.sort(np.random.default_rng(seed).choice(rows, max_users, replace=False))
    watched = interactions.user_items
    with threadpool_limits(limits=1, user_api="blas"):
        heavy_lists = top_n(user_factors[heaviest], item_factors, k, exclude=watched[heaviest])
        lists = top_n(user_factors[rows], item_factors, k, exclude=watched[rows])
    return Collapse(
        k=k,
        heavy=len(heaviest),
        heavy_shared=shared_lists(heavy_lists),
        users=len(rows),
        distinct_lists=len(np.unique(lists, axis=0)) if len(rows) else 0,
    )


def shared_lists(lists: np.ndarray) -> int:
    """How many rows of ``lists`` are identical to at least one other row.

    Examples
    --------
    >>> shared_lists(np.array([[1, 2], [1, 2], [2, 1], [3, 4], [1, 2]]))
    3
    """
    if len(lists) == 0:
        return 0
    _, inverse, counts = np.unique(lists, axis=0, return_inverse=True, return_counts=True)
    return int((counts[inverse.ravel()] > 1).sum())


def describe(
    sessions: pd.DataFrame,
    params: ALSParams | None = None,
    window: int = DEFAULT_WINDOW,
    max_users: int | None = None,
) -> Shape:
    """Every statistic of ``sessions``; the list collapse only when ``params`` is given."""
    return Shape(
        sessions=len(sessions),
        users=int(sessions["user_id"].nunique()),
        streamers=int(sessions["streamer_name"].nunique()),
        repeat_share=repeat_share(sessions),
        activity=activity(sessions),
        popularity=popularity(sessions),
        window=last_window(sessions, window),
        live_median=live_median(sessions),
        collapse=None if params is None else collapse(sessions, params, max_users=max_users),
    )


def sample_like_slice(
    sessions: pd.DataFrame,
    streamers: Collection[str],
    users: int = 2000,
    min_sessions: int = 10,
    end: int | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Sessions sampled as a one-community slice is: heavy viewers, weighted by activity.

    Keeps the sessions on ``streamers`` that start before ``end``; of the users with at least
    ``min_sessions`` of them, a seeded sample of ``users`` drawn without replacement with
    probability proportional to those sessions (all of them when fewer); and of each session
    only its start: ``time_stop = time_start + 1``. Unused streamer categories are dropped.

    Examples
    --------
    >>> s = pd.DataFrame({"user_id": [1, 1, 1, 2, 2],
    ...                   "streamer_name": pd.Categorical(list("abcab")),
    ...                   "time_start": [0, 3, 5, 1, 2], "time_stop": [2, 9, 6, 1, 4]})
    >>> out = sample_like_slice(s, {"a", "b"}, min_sessions=2)
    >>> out["user_id"].tolist(), out["time_stop"].tolist()
    ([1, 1, 2, 2], [1, 4, 2, 3])
    >>> list(out["streamer_name"].cat.categories)
    ['a', 'b']
    """
    names = sessions["streamer_name"]
    keep = names.isin(list(streamers)).to_numpy().copy()
    if end is not None:
        keep &= sessions["time_start"].to_numpy() < end
    kept = sessions[keep]
    counts = kept.groupby("user_id", sort=True).size()
    eligible = counts[counts >= min_sessions]
    if len(eligible) > users:
        weights = eligible.to_numpy(dtype=np.float64)
        chosen = np.random.default_rng(seed).choice(
            eligible.index.to_numpy(), size=users, replace=False, p=weights / weights.sum()
        )
    else:
        chosen = eligible.index.to_numpy()
    sample = kept[kept["user_id"].isin(chosen).to_numpy()]
    start = sample["time_start"].to_numpy()
    return sample.assign(
        streamer_name=sample["streamer_name"].cat.remove_unused_categories(),
        time_stop=(start + 1).astype(sample["time_stop"].dtype),
    )

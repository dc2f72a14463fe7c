"""The precomputed top lists: each chosen user's best ``top_n`` unwatched streamers.

They make a typical request a filter of a short list instead of a catalogue scan, but cost a
catalogue scan per user to build (about 40 s for 100k users and 160k streamers on one core);
:class:`~streamrec.recommender.Recommender` computes them with :func:`compute` for the users
:func:`chosen_rows` picks.
"""

from __future__ import annotations

import threading

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from streamrec import topn

# Users ranked per top_n call (per thread) between two checks of the stop flag: at Twitch scale
# (450k streamers) a few tenths of a second; a multiple of topn.top_n's chunk, so the chunks
# (and their float rounding) are those of one call over all users, whatever the threads.
BLOCK = 128


def chosen_rows(
    user_items: sp.csr_matrix, top_n: int, max_users: int | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """The model rows to precompute, and the row -> list slot map (None: every row).

    The ``max_users`` most active users (most watched streamers) are chosen, as the likeliest
    to come back; none when ``top_n`` or ``max_users`` is 0.
    """
    n_users = user_items.shape[0]
    limit = n_users if max_users is None else min(max_users, n_users)
    if top_n == 0 or limit == 0:
        return np.empty(0, dtype=np.int64), None
    if limit == n_users:
        return np.arange(n_users), None
    activity = np.diff(user_items.indptr)
    rows = np.sort(np.argsort(-activity, kind="stable")[:limit])
    slot = np.full(n_users, -1, dtype=np.int32)
    slot[rows] = np.arange(limit, dtype=np.int32)
    slot.flags.writeable = False
    return rows, slot


def compute(
    user_factors: np.ndarray,
    item_factors: np.ndarray,
    watched: sp.csr_matrix,
    rows: np.ndarray,
    top_n: int,
    threads: int = 1,
    stop: threading.Event | None = None,
) -> np.ndarray | None:
    """The best ``top_n`` unwatched items of each of ``rows``; None when ``stop`` is set.

    Returns
    -------
    numpy.ndarray or None
        int32 ``(len(rows), min(top_n, n_items))``, read-only, best first, ``-1`` padded
        (see :func:`streamrec.topn.top_n`). BLAS runs on one thread meanwhile; ``threads``
        score blocks in parallel.
    """
    top = np.empty((len(rows), min(top_n, item_factors.shape[0])), dtype=np.int32)
    # Fortran order makes items.T contiguous, so top_n does not copy it for every block.
    items = np.asfortranarray(item_factors)
    block = BLOCK * threads
    with threadpool_limits(limits=1, user_api="blas"):
        for start in range(0, len(rows), block):
            if stop is not None and stop.is_set():
                return None
            part = rows[start : start + block]
            top[start : start + len(part)] = topn.top_n(
                user_factors[part], items, top_n, exclude=watched[part], threads=threads
            )
    top.flags.writeable = False
    return top

"""The precomputed top lists: each chosen user's best ``top_n`` unwatched streamers.

They make a typical request a filter of a short list instead of a catalogue scan, but cost a
catalogue scan per user to build (about 40 s for 100k users and 160k streamers on one core).
So training builds them (:func:`top_lists`, stored in the artifact by
:func:`streamrec.model.artifact.save`), and a server that loads an artifact whose lists were built
with its own ``precompute_top_n`` and ``precompute_max_users`` uses them at once
(:func:`matching_lists`); otherwise it computes them itself (:func:`compute`), as
:class:`~streamrec.serving.recommender.Recommender` does. Both paths run the same code in blocks of
the same size, so they give the same lists.
"""

from __future__ import annotations

import dataclasses
import os
import threading

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from streamrec.model.artifact import Artifact, TopLists
from streamrec.ranking import topn

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
        (see :func:`streamrec.ranking.topn.top_n`). BLAS runs on one thread meanwhile; ``threads``
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


def top_lists(
    artifact: Artifact, top_n: int = 128, max_users: int | None = 100_000, threads: int = 0
) -> TopLists | None:
    """The lists a server with these settings would compute for ``artifact``.

    Parameters
    ----------
    artifact : Artifact
        A trained model.
    top_n, max_users : int
        The serving settings ``precompute_top_n`` and ``precompute_max_users``.
    threads : int
        Threads to use; 0 means one per core.

    Returns
    -------
    TopLists or None
        None when precomputation is off (``top_n`` or ``max_users`` is 0).

    Examples
    --------
    >>> model = dataclasses.replace(model, top_lists=top_lists(model))  # doctest: +SKIP
    >>> artifact.save(model, "models/model.npz")  # doctest: +SKIP
    """
    rows, _ = chosen_rows(artifact.user_items, top_n, max_users)
    if len(rows) == 0:
        return None
    items = compute(
        artifact.user_factors,
        artifact.item_factors,
        artifact.user_items,
        rows,
        top_n,
        threads=threads or os.cpu_count() or 1,
    )
    assert items is not None  # no stop flag
    return TopLists(top_n, max_users, rows, items)


def with_top_lists(
    artifact: Artifact, top_n: int = 128, max_users: int | None = 100_000, threads: int = 0
) -> Artifact:
    """``artifact`` with its :func:`top_lists` (to be saved with it)."""
    return dataclasses.replace(artifact, top_lists=top_lists(artifact, top_n, max_users, threads))


def matching_lists(artifact: Artifact, top_n: int, rows: np.ndarray) -> np.ndarray | str:
    """The stored lists when they are those a server with ``top_n`` wants for ``rows``.

    Returns
    -------
    numpy.ndarray or str
        The lists (read-only), or why they cannot be used.
    """
    stored = artifact.top_lists
    if stored is None:
        return "the artifact holds no precomputed lists"
    if stored.top_n != top_n:
        return f"they were computed for precompute_top_n={stored.top_n}, not {top_n}"
    if not np.array_equal(stored.rows, rows):
        return (
            f"they cover {len(stored.rows)} users chosen with precompute_max_users="
            f"{stored.max_users}, not the {len(rows)} users this server chooses"
        )
    items = stored.items
    items.flags.writeable = False
    return items

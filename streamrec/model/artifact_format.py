"""What a model file holds: its members, the artifact and its lists, and their consistency rules.

:class:`Artifact` is a trained model with what serving needs around it; :func:`_check` is every
rule its parts must satisfy together, applied before a file is written and after one is read.
Everything public here is importable from :mod:`streamrec.model.artifact`, which writes and
reads the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from streamrec.data.event_segments import consumed_of, segment_name
from streamrec.data.loader import MAX_ROW_BYTES

MAX_USER_ID = 10**18 - 1  # as the loader reads them: at most 18 digits
MAX_TIME = 10**9 - 1  # 9 digits
MAX_SEGMENT = 10**10 - 1  # the segment names' 10 digits

FORMAT_VERSION = 1

# Every member a reader accepts: dtype and number of dimensions, exactly as save() writes them.
_MEMBERS: dict[str, tuple[np.dtype, int]] = {
    "format_version": (np.dtype(np.int32), 0),
    "metadata_json": (np.dtype(np.uint8), 1),
    "user_factors": (np.dtype(np.float32), 2),
    "item_factors": (np.dtype(np.float32), 2),
    "user_ids": (np.dtype(np.int64), 1),
    "streamer_names_utf8": (np.dtype(np.uint8), 1),
    "streamer_name_offsets": (np.dtype(np.int64), 1),
    "popular": (np.dtype(np.int32), 1),
    "user_items_indptr": (np.dtype(np.int64), 1),
    "user_items_indices": (np.dtype(np.int32), 1),
    "user_items_data": (np.dtype(np.float32), 1),
    # Optional: a learned ranker (LightGBM model text, UTF-8) with the watch history its
    # features read (aligned with user_items_data), and the precomputed top lists.
    "ranker_model": (np.dtype(np.uint8), 1),
    "watch_sessions": (np.dtype(np.float32), 1),
    "watch_last_step": (np.dtype(np.float32), 1),
    "top_lists_params": (np.dtype(np.int64), 1),
    "top_lists_rows": (np.dtype(np.int64), 1),
    "top_lists_items": (np.dtype(np.int32), 2),
    # Optional: the sessions still open in the event-log segments training read (OpenSessions).
    "open_user_ids": (np.dtype(np.int64), 1),
    "open_stream_keys": (np.dtype(np.int64), 1),
    "open_streamer_names_utf8": (np.dtype(np.uint8), 1),
    "open_streamer_name_offsets": (np.dtype(np.int64), 1),
    "open_time_starts": (np.dtype(np.int32), 1),
    "open_segments": (np.dtype(np.int64), 1),
}
_TOP_LISTS = ("top_lists_params", "top_lists_rows", "top_lists_items")
_OPEN_SESSIONS = tuple(key for key in _MEMBERS if key.startswith("open_"))
_HISTORY_FIELDS = ("watch_sessions", "watch_last_step")


class ArtifactError(ValueError):
    """A model file is missing, unsafe, or not a valid streamrec artifact."""


@dataclass(frozen=True)
class TopLists:
    """Each chosen user's best unwatched streamers, computed once (at training time).

    Attributes
    ----------
    top_n : int
        Streamers ranked per user (the serving setting ``precompute_top_n``).
    max_users : int or None
        The setting ``precompute_max_users`` they were chosen with (None: every user).
    rows : numpy.ndarray
        int64 model rows that have a list, increasing.
    items : numpy.ndarray
        int32 ``(len(rows), min(top_n, n_items))``: each list, best first, ``-1`` padded.
    """

    top_n: int
    max_users: int | None
    rows: np.ndarray
    items: np.ndarray


@dataclass(frozen=True)
class OpenSessions:
    """The sessions still open in the event-log segments the model was trained on.

    Training skips open rows (a session without a ``time_stop``), so these are in no factor;
    they are the open rows of the consumed segments that no valid row of those segments closes
    (:func:`streamrec.data.events.still_open`), and a server adds them to its overlay at
    start-up, as if it had replayed them. One entry per session, in the log's order.

    Attributes
    ----------
    user_ids : numpy.ndarray
        int64 viewer ids, ``0 ... 10**18 - 1``.
    stream_keys : numpy.ndarray
        int64 stream ids as the loader keys them (the id, or a negative hash of a non-integer
        one).
    streamer_names : numpy.ndarray
        Streamer names (str, not empty, at most 64 KiB of UTF-8 each); any name, known to the
        model or not.
    time_starts : numpy.ndarray
        int32 start steps, ``0 ... 10**9 - 1``.
    segments : numpy.ndarray
        int64 seq of the segment each session's open row is in (the file
        ``events-<seq:010d>.csv``), one the model consumed (``metadata["data"]
        ["event_segments"]``).
    """

    user_ids: np.ndarray
    stream_keys: np.ndarray
    streamer_names: np.ndarray
    time_starts: np.ndarray
    segments: np.ndarray

    def __len__(self) -> int:
        return len(self.user_ids)


@dataclass(frozen=True)
class Artifact:
    """A trained model and what serving needs around it.

    Attributes
    ----------
    user_factors, item_factors : numpy.ndarray
        float32, ``(n_users, factors)`` and ``(n_items, factors)``.
    user_ids : numpy.ndarray
        int64 external user ids, strictly increasing; row ``u`` of the factors is ``user_ids[u]``.
    streamer_names : numpy.ndarray
        Streamer names (str), column ``i`` is ``streamer_names[i]``.
    popular : numpy.ndarray
        int32 streamer indices, most popular first (a permutation of all items).
    user_items : scipy.sparse.csr_matrix
        float32 watch steps per (user, streamer) seen in training.
    metadata : dict
        JSON-serialisable: format version, creation time, engine, hyperparameters, counts, ...
    ranker_model : str, optional
        The live ranker, LightGBM's text model format (:mod:`streamrec.ranking.ranker`),
        described by ``metadata["ranker"]``.
    watch_sessions, watch_last_step : numpy.ndarray, optional
        float32, aligned with ``user_items.data``: sessions per (user, streamer) pair and the
        last step watched, which the ranker's features read (present with a ranker).
    top_lists : TopLists, optional
        The precomputed top lists, so that a server need not compute them at start-up.
    open_sessions : OpenSessions, optional
        The sessions still open in the event-log segments the model consumed (present when
        training read any; empty when none was open), so that a restarted server holds them.
    """

    user_factors: np.ndarray
    item_factors: np.ndarray
    user_ids: np.ndarray
    streamer_names: np.ndarray
    popular: np.ndarray
    user_items: sp.csr_matrix
    metadata: dict[str, Any]
    ranker_model: str | None = None
    watch_sessions: np.ndarray | None = None
    watch_last_step: np.ndarray | None = None
    top_lists: TopLists | None = None
    open_sessions: OpenSessions | None = None

    @property
    def model_version(self) -> str:
        return str(self.metadata.get("model_version", "unknown"))


def _check(a: Artifact) -> None:
    """Raise ValueError naming the first inconsistency between the parts of an artifact."""
    uf, itf = a.user_factors, a.item_factors
    if uf.ndim != 2 or itf.ndim != 2 or uf.shape[1] != itf.shape[1]:
        raise ValueError(
            f"factor shapes do not match: user_factors {uf.shape}, item_factors {itf.shape}"
        )
    if uf.dtype != np.float32 or itf.dtype != np.float32:
        raise ValueError(f"factors must be float32, got {uf.dtype} and {itf.dtype}")
    n_users, n_items = uf.shape[0], itf.shape[0]
    if n_users == 0 or n_items == 0 or uf.shape[1] == 0:
        raise ValueError(
            f"the model is empty: {n_users} users, {n_items} streamers, {uf.shape[1]} factors"
        )
    if not (np.isfinite(uf).all() and np.isfinite(itf).all()):
        raise ValueError("factors contain NaN or infinity")
    if a.user_ids.shape != (n_users,) or a.user_ids.dtype != np.int64:
        raise ValueError(f"user_ids must be {n_users} int64 values, got {a.user_ids.shape}")
    if n_users > 1 and not (np.diff(a.user_ids) > 0).all():
        raise ValueError("user_ids must be strictly increasing")
    if len(a.streamer_names) != n_items:
        raise ValueError(f"{len(a.streamer_names)} streamer names for {n_items} item factors")
    if len(set(a.streamer_names)) != n_items:
        raise ValueError("streamer names are not unique")
    popular = np.asarray(a.popular)
    if (
        popular.shape != (n_items,)
        or popular.dtype.kind not in "iu"
        or not np.array_equal(np.sort(popular), np.arange(n_items))
    ):
        raise ValueError("popular must be a permutation of all streamer indices")
    if a.user_items.shape != (n_users, n_items):
        raise ValueError(
            f"user_items has shape {a.user_items.shape}, expected {(n_users, n_items)}"
        )
    indices, watch = a.user_items.indices, a.user_items.data
    if len(indices) and (indices.min() < 0 or indices.max() >= n_items):
        raise ValueError("user_items has streamer indices out of range")
    if not (np.isfinite(watch).all() and (watch >= 0).all()):
        raise ValueError("user_items has watch times that are negative, NaN or infinite")
    for name in _HISTORY_FIELDS:
        values = getattr(a, name)
        if values is None:
            continue
        if values.shape != (a.user_items.nnz,) or values.dtype != np.float32:
            raise ValueError(
                f"{name} must be {a.user_items.nnz} float32 values (one per watched pair), "
                f"got {values.shape} {values.dtype}"
            )
        if not np.isfinite(values).all():
            raise ValueError(f"{name} contains NaN or infinity")
    if a.top_lists is not None:
        _check_top_lists(a.top_lists, n_users, n_items)
    if a.open_sessions is not None:
        _check_open_sessions(a.open_sessions, consumed_of(a.metadata))


def _check_open_sessions(sessions: OpenSessions, consumed: dict[str, int]) -> None:
    n = len(sessions.streamer_names)
    for name, values, dtype, most in (
        ("user ids", sessions.user_ids, np.int64, MAX_USER_ID),
        ("stream keys", sessions.stream_keys, np.int64, None),
        ("time starts", sessions.time_starts, np.int32, MAX_TIME),
        ("segments", sessions.segments, np.int64, MAX_SEGMENT),
    ):
        values = np.asarray(values)
        if values.shape != (n,) or values.dtype != dtype:
            raise ValueError(
                f"open sessions' {name} must be {n} {np.dtype(dtype)} values (one per name), "
                f"got {values.shape} {values.dtype}"
            )
        if most is not None and n and (values.min() < 0 or values.max() > most):
            raise ValueError(f"open sessions' {name} must be in 0 ... {most}")
    for name in sessions.streamer_names:
        if not isinstance(name, str) or not 0 < len(name.encode("utf-8")) <= MAX_ROW_BYTES:
            raise ValueError(
                f"open sessions' streamer names must be text of 1 to {MAX_ROW_BYTES} bytes"
            )
    for seq in np.unique(sessions.segments).tolist():
        if segment_name(seq) not in consumed:
            raise ValueError(
                f"open sessions come from segment {segment_name(seq)}, which the model did "
                "not consume (metadata data.event_segments)"
            )


def _check_top_lists(lists: TopLists, n_users: int, n_items: int) -> None:
    if lists.top_n < 1 or (lists.max_users is not None and lists.max_users < 1):
        raise ValueError(
            f"top lists need top_n >= 1 and max_users >= 1 or None, got {lists.top_n} and "
            f"{lists.max_users}"
        )
    rows, items = np.asarray(lists.rows), np.asarray(lists.items)
    if rows.ndim != 1 or rows.dtype.kind not in "iu" or len(rows) == 0:
        raise ValueError("top lists' rows must be a non-empty 1-d array of integers")
    if rows[0] < 0 or rows[-1] >= n_users or (np.diff(rows) <= 0).any():
        raise ValueError(f"top lists' rows must be increasing model rows below {n_users}")
    want = (len(rows), min(lists.top_n, n_items))
    if items.shape != want or items.dtype.kind not in "iu":
        raise ValueError(f"top lists' items must be integers of shape {want}, got {items.shape}")
    if items.min() < -1 or items.max() >= n_items:
        raise ValueError(f"top lists hold streamer indices outside -1 ... {n_items - 1}")

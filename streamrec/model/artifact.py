"""The one on-disk model format: a NumPy ``.npz`` archive that cannot run code.

Everything serving needs is in one file: factors, both id maps, the popularity ranking, the
users' watched streamers with watch time, and JSON metadata; optionally the precomputed top
lists (:class:`TopLists`) and a learned ranker. It is read with ``allow_pickle=False``, so a
crafted file cannot execute anything, and written through a temporary file and
``os.replace``, so a failed or killed run leaves the previous model intact. Only this module
reads or writes model files.

Reading is defensive, because a model file may come from anywhere: only the members listed in
``_MEMBERS`` are read, each one's declared size and type checked before it is inflated
(:mod:`streamrec.model.safenpz`), and then every part is checked against the others. Any defect
raises :class:`ArtifactError` naming the file and the reason.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from streamrec.data.sessions import Interactions
from streamrec.model import atomicfile, safenpz
from streamrec.model.popularity import PopularityRanker

FORMAT_VERSION = 1
_PICKLE_MAGIC = b"\x80"  # every pickle protocol >= 2 starts with the PROTO opcode

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
}
_TOP_LISTS = ("top_lists_params", "top_lists_rows", "top_lists_items")
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

    @property
    def model_version(self) -> str:
        return str(self.metadata.get("model_version", "unknown"))


def build_metadata(
    item_factors: np.ndarray, n_users: int, nnz: int, **extra: Any
) -> dict[str, Any]:
    """Metadata with a format version, a creation time and a model version derived from both.

    ``model_version`` is the UTC creation time plus a hash of the item factors, so two models
    are told apart even when trained in the same second.
    """
    created = datetime.now(UTC).replace(microsecond=0)
    digest = hashlib.blake2b(np.ascontiguousarray(item_factors).tobytes(), digest_size=4)
    return {
        "format_version": FORMAT_VERSION,
        "created_at": created.isoformat().replace("+00:00", "Z"),
        "model_version": f"{created:%Y%m%dT%H%M%SZ}-{digest.hexdigest()}",
        "counts": {
            "users": int(n_users),
            "streamers": int(item_factors.shape[0]),
            "nonzeros": int(nnz),
            "factors": int(item_factors.shape[1]),
        },
        **extra,
    }


def from_training(
    interactions: Interactions,
    user_factors: np.ndarray,
    item_factors: np.ndarray,
    **metadata: Any,
) -> Artifact:
    """Assemble an artifact from a training run, whatever engine produced the factors.

    Row ``u`` of ``user_factors`` must belong to ``interactions.user_ids[u]`` and row ``i`` of
    ``item_factors`` to ``interactions.streamer_names[i]``. ``metadata`` (engine,
    hyperparameters, data description, ...) is stored next to the counts and version.
    """
    user_items = interactions.user_items
    return Artifact(
        user_factors=user_factors,
        item_factors=item_factors,
        user_ids=interactions.user_ids,
        streamer_names=interactions.streamer_names,
        popular=PopularityRanker().fit(user_items).order_,
        user_items=user_items,
        metadata=build_metadata(
            item_factors, n_users=len(interactions.user_ids), nnz=user_items.nnz, **metadata
        ),
    )


def save(artifact: Artifact, path: str | Path) -> Path:
    """Write ``artifact`` to ``path`` atomically and return the path.

    The archive is first written to a temporary file in the same folder (locked while it is
    written), flushed to disk, then renamed over ``path`` (:mod:`streamrec.model.atomicfile`):
    readers see either the old file or the new one, never a partial one. Temporary files that
    killed runs left behind are removed first (:func:`remove_stale_temporaries`).
    """
    _check(artifact)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    arrays = _to_arrays(artifact)
    with atomicfile.replacing(path) as fh:
        np.savez(fh, **arrays)
    return path


def remove_stale_temporaries(path: str | Path) -> list[Path]:
    """Remove the temporary files that killed :func:`save` runs left next to ``path``.

    Only files named as :func:`save` names them for this model (``.<model>.XXXXXXXX.tmp``),
    that no process holds locked (a live save holds its file locked until the rename) and
    that nobody wrote for ``atomicfile.STALE_SECONDS`` (10 minutes); see
    :mod:`streamrec.model.atomicfile`. Returns the files removed.
    """
    return atomicfile.remove_stale_temporaries(Path(path))


def load(path: str | Path) -> Artifact:
    """Read and check an artifact written by :func:`save`.

    Raises
    ------
    ArtifactError
        The file is missing, is a pickle (refused: loading one could run code), is not an
        ``.npz`` archive, has a member that is unknown or larger than the file can hold, lacks
        a field, has an unsupported format version, or is inconsistent. The message names the
        file and the reason.
    """
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"model file not found: {path}; train one with `python als_fit.py`")
    with path.open("rb") as fh:
        if fh.read(1) == _PICKLE_MAGIC:
            raise ArtifactError(
                f"{path} is a pickle; refusing to load it (a model file must not be able to "
                "run code). Retrain with `python als_fit.py` to write a safe artifact"
            )
        fh.seek(0)
        try:
            arrays = safenpz.read(fh, os.fstat(fh.fileno()).st_size, _MEMBERS)
        except (safenpz.NotAnArchiveError, safenpz.UnsafeMemberError) as exc:
            raise ArtifactError(f"{path} is not a readable streamrec artifact: {exc}") from exc
    return _from_arrays(arrays, path)


# -- writing ------------------------------------------------------------------------------------


def _to_arrays(artifact: Artifact) -> dict[str, np.ndarray]:
    names = [str(n).encode("utf-8") for n in artifact.streamer_names]
    offsets = np.zeros(len(names) + 1, dtype=np.int64)
    np.cumsum([len(n) for n in names], out=offsets[1:])
    user_items = sp.csr_matrix(artifact.user_items, dtype=np.float32)
    arrays = {
        "format_version": np.array(FORMAT_VERSION, dtype=np.int32),
        "metadata_json": _utf8(json.dumps(artifact.metadata)),
        "user_factors": np.ascontiguousarray(artifact.user_factors, dtype=np.float32),
        "item_factors": np.ascontiguousarray(artifact.item_factors, dtype=np.float32),
        "user_ids": np.asarray(artifact.user_ids, dtype=np.int64),
        "streamer_names_utf8": np.frombuffer(b"".join(names), dtype=np.uint8),
        "streamer_name_offsets": offsets,
        "popular": np.asarray(artifact.popular, dtype=np.int32),
        "user_items_indptr": user_items.indptr.astype(np.int64),
        "user_items_indices": user_items.indices.astype(np.int32),
        "user_items_data": user_items.data,
    }
    if artifact.ranker_model is not None:
        arrays["ranker_model"] = _utf8(artifact.ranker_model)
    for name in _HISTORY_FIELDS:
        if getattr(artifact, name) is not None:
            arrays[name] = np.asarray(getattr(artifact, name), dtype=np.float32)
    lists = artifact.top_lists
    if lists is not None:
        max_users = -1 if lists.max_users is None else lists.max_users
        arrays["top_lists_params"] = np.array([lists.top_n, max_users], dtype=np.int64)
        arrays["top_lists_rows"] = np.asarray(lists.rows, dtype=np.int64)
        arrays["top_lists_items"] = np.ascontiguousarray(lists.items, dtype=np.int32)
    return arrays


def _utf8(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8)


# -- reading ------------------------------------------------------------------------------------


def _from_arrays(arrays: dict[str, np.ndarray], path: Path) -> Artifact:
    def need(key: str) -> np.ndarray:
        if key not in arrays:
            raise ArtifactError(f"{path} is not a streamrec artifact: missing field {key!r}")
        return arrays[key]

    version = int(need("format_version"))
    if version != FORMAT_VERSION:
        raise ArtifactError(
            f"{path} has format version {version}; this server reads version {FORMAT_VERSION}"
        )
    metadata = _json_object(need("metadata_json"), path)
    names = _names(need("streamer_names_utf8"), need("streamer_name_offsets"), path)
    user_items = _user_items(
        need("user_items_indptr"),
        need("user_items_indices"),
        need("user_items_data"),
        need("item_factors").shape[0],
        path,
    )
    ranker_model = None
    if "ranker_model" in arrays:
        ranker_model = _text(arrays["ranker_model"], "ranker_model", path)
    artifact = Artifact(
        user_factors=need("user_factors"),
        item_factors=need("item_factors"),
        user_ids=need("user_ids"),
        streamer_names=names,
        popular=need("popular"),
        user_items=user_items,
        metadata=metadata,
        ranker_model=ranker_model,
        watch_sessions=arrays.get("watch_sessions"),
        watch_last_step=arrays.get("watch_last_step"),
        top_lists=_top_lists(arrays, path),
    )
    try:
        _check(artifact)
    except ValueError as exc:
        raise ArtifactError(f"{path}: {exc}") from exc
    return artifact


def _top_lists(arrays: dict[str, np.ndarray], path: Path) -> TopLists | None:
    present = [key for key in _TOP_LISTS if key in arrays]
    if not present:
        return None
    params = arrays.get("top_lists_params", np.empty(0))
    if len(present) != len(_TOP_LISTS) or params.shape != (2,):
        raise ArtifactError(
            f"{path}: top lists are incomplete: members {present}, params of shape {params.shape}"
        )
    top_n, max_users = (int(x) for x in params)
    return TopLists(
        top_n,
        None if max_users == -1 else max_users,
        arrays["top_lists_rows"],
        arrays["top_lists_items"],
    )


def _text(blob: np.ndarray, key: str, path: Path) -> str:
    try:
        return blob.tobytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ArtifactError(f"{path}: {key} is not valid UTF-8: {exc}") from exc


def _json_object(blob: np.ndarray, path: Path) -> dict[str, Any]:
    try:
        metadata = json.loads(_text(blob, "metadata", path))
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{path}: metadata is not valid JSON: {exc}") from exc
    if not isinstance(metadata, dict):
        raise ArtifactError(
            f"{path}: metadata must be a JSON object, got {type(metadata).__name__}"
        )
    return metadata


def _names(blob: np.ndarray, offsets: np.ndarray, path: Path) -> np.ndarray:
    """Streamer names from the UTF-8 blob and the offsets that cut it."""
    _check_cuts(offsets, len(blob), f"{path}: streamer names are corrupt: streamer_name_offsets")
    data = blob.tobytes()
    try:
        names = [data[a:b].decode("utf-8") for a, b in zip(offsets[:-1], offsets[1:], strict=True)]
    except UnicodeDecodeError as exc:
        raise ArtifactError(f"{path}: streamer names are corrupt: {exc}") from exc
    return np.array(names, dtype=object)


def _user_items(
    indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, n_items: int, path: Path
) -> sp.csr_matrix:
    """The watched lists, checked before scipy sees them (it trusts a monotonic indptr)."""
    _check_cuts(indptr, len(indices), f"{path}: watched lists are corrupt: user_items_indptr")
    try:  # streamer indices are checked by _check()
        return sp.csr_matrix((data, indices, indptr), shape=(len(indptr) - 1, n_items))
    except ValueError as exc:
        raise ArtifactError(f"{path}: watched lists are corrupt: {exc}") from exc


def _check_cuts(cuts: np.ndarray, total: int, what: str) -> None:
    """Offsets that cut ``total`` items into pieces: from 0 to ``total``, never decreasing."""
    if len(cuts) == 0 or cuts[0] != 0 or cuts[-1] != total or (np.diff(cuts) < 0).any():
        raise ArtifactError(f"{what} must run from 0 to {total} without decreasing")


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

"""The one on-disk model format: a NumPy ``.npz`` archive that cannot run code.

Everything serving needs is in one file: factors, both id maps, the popularity ranking, the
users' watched streamers with watch time, and JSON metadata. It is read with
``np.load(allow_pickle=False)``, so a crafted file cannot execute anything, and written through
a temporary file and ``os.replace``, so a failed or killed run leaves the previous model intact.
Only this module reads or writes model files.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from streamrec.data import Interactions
from streamrec.popularity import PopularityRanker

FORMAT_VERSION = 1
_PICKLE_MAGIC = b"\x80"  # every pickle protocol >= 2 starts with the PROTO opcode
_HISTORY_FIELDS = ("watch_sessions", "watch_last_step")


class ArtifactError(ValueError):
    """A model file is missing, unsafe, or not a valid streamrec artifact."""


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
        The live ranker, LightGBM's text model format (:mod:`streamrec.ranker`); its settings
        are in ``metadata["ranker"]``.
    watch_sessions, watch_last_step : numpy.ndarray, optional
        float32, aligned with ``user_items.data``: sessions per (user, streamer) pair and the
        last step watched, which the ranker's features read (present with a ranker).
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

    The archive is first written to a temporary file in the same folder, flushed to disk, then
    renamed over ``path``: readers see either the old file or the new one, never a partial one.
    """
    _check(artifact)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    names = [str(n).encode("utf-8") for n in artifact.streamer_names]
    offsets = np.zeros(len(names) + 1, dtype=np.int64)
    np.cumsum([len(n) for n in names], out=offsets[1:])
    user_items = sp.csr_matrix(artifact.user_items, dtype=np.float32)
    arrays = {
        "format_version": np.array(FORMAT_VERSION, dtype=np.int32),
        "metadata_json": np.frombuffer(json.dumps(artifact.metadata).encode("utf-8"), np.uint8),
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
        arrays["ranker_model"] = np.frombuffer(artifact.ranker_model.encode("utf-8"), np.uint8)
    for name in _HISTORY_FIELDS:
        if getattr(artifact, name) is not None:
            arrays[name] = np.asarray(getattr(artifact, name), dtype=np.float32)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load(path: str | Path) -> Artifact:
    """Read and check an artifact written by :func:`save`.

    Raises
    ------
    ArtifactError
        The file is missing, is a pickle (refused: loading one could run code), is not an
        ``.npz`` archive, lacks a field, has an unsupported format version, or is inconsistent.
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
            with np.load(fh, allow_pickle=False) as npz:
                arrays = {key: npz[key] for key in npz.files}
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
            raise ArtifactError(f"{path} is not a readable streamrec artifact: {exc}") from exc
    return _from_arrays(arrays, path)


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
    try:
        metadata = json.loads(need("metadata_json").tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{path}: metadata is not valid JSON: {exc}") from exc
    blob = need("streamer_names_utf8").tobytes()
    offsets = need("streamer_name_offsets")
    try:
        names = [blob[a:b].decode("utf-8") for a, b in zip(offsets[:-1], offsets[1:], strict=True)]
    except (UnicodeDecodeError, TypeError, ValueError) as exc:
        raise ArtifactError(f"{path}: streamer names are corrupt: {exc}") from exc
    user_factors = need("user_factors")
    item_factors = need("item_factors")
    indptr = need("user_items_indptr")
    try:
        user_items = sp.csr_matrix(
            (need("user_items_data"), need("user_items_indices"), indptr),
            shape=(len(indptr) - 1, item_factors.shape[0] if item_factors.ndim == 2 else 0),
        )
    except (ValueError, TypeError, IndexError) as exc:
        raise ArtifactError(f"{path}: watched lists are corrupt: {exc}") from exc
    ranker_model = None
    if "ranker_model" in arrays:
        try:
            ranker_model = arrays["ranker_model"].tobytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ArtifactError(f"{path}: the ranker model is not UTF-8 text: {exc}") from exc
    artifact = Artifact(
        ranker_model=ranker_model,
        **{name: arrays.get(name) for name in _HISTORY_FIELDS},
        user_factors=user_factors,
        item_factors=item_factors,
        user_ids=need("user_ids"),
        streamer_names=np.array(names, dtype=object),
        popular=need("popular"),
        user_items=user_items,
        metadata=metadata if isinstance(metadata, dict) else {},
    )
    try:
        _check(artifact)
    except ValueError as exc:
        raise ArtifactError(f"{path}: {exc}") from exc
    return artifact


def _check(a: Artifact) -> None:
    """Raise ValueError naming the first inconsistency between the parts of an artifact."""
    uf, itf = a.user_factors, a.item_factors
    if uf.ndim != 2 or itf.ndim != 2 or uf.shape[1] != itf.shape[1]:
        raise ValueError(
            f"factor shapes do not match: user_factors {uf.shape}, item_factors {itf.shape}"
        )
    if uf.dtype != np.float32 or itf.dtype != np.float32:
        raise ValueError(f"factors must be float32, got {uf.dtype} and {itf.dtype}")
    if not (np.isfinite(uf).all() and np.isfinite(itf).all()):
        raise ValueError("factors contain NaN or infinity")
    n_users, n_items = uf.shape[0], itf.shape[0]
    if a.user_ids.shape != (n_users,) or a.user_ids.dtype != np.int64:
        raise ValueError(f"user_ids must be {n_users} int64 values, got {a.user_ids.shape}")
    if n_users > 1 and not (np.diff(a.user_ids) > 0).all():
        raise ValueError("user_ids must be strictly increasing")
    if len(a.streamer_names) != n_items:
        raise ValueError(f"{len(a.streamer_names)} streamer names for {n_items} item factors")
    if len(set(a.streamer_names)) != n_items:
        raise ValueError("streamer names are not unique")
    popular = np.asarray(a.popular)
    if popular.shape != (n_items,) or not np.array_equal(np.sort(popular), np.arange(n_items)):
        raise ValueError("popular must be a permutation of all streamer indices")
    if a.user_items.shape != (n_users, n_items):
        raise ValueError(
            f"user_items has shape {a.user_items.shape}, expected {(n_users, n_items)}"
        )
    indices = a.user_items.indices
    if len(indices) and (indices.min() < 0 or indices.max() >= n_items):
        raise ValueError("user_items has streamer indices out of range")
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

"""The one on-disk model format: a NumPy ``.npz`` archive that cannot run code.

Everything serving needs is in one file: factors, both id maps, the popularity ranking, the
users' watched streamers with watch time, and JSON metadata; optionally the precomputed top
lists (:class:`TopLists`), a learned ranker, and the sessions still open in the event-log
segments training read (:class:`OpenSessions`). It is read with ``allow_pickle=False``, so a
crafted file cannot execute anything, and written through a temporary file and
``os.replace``, so a failed or killed run leaves the previous model intact. Only this module
(with :mod:`streamrec.model.artifact_read`) reads or writes model files.

Reading is defensive, because a model file may come from anywhere: only the members listed in
``_MEMBERS`` (:mod:`streamrec.model.artifact_format`) are read, each one's declared size and
type checked before it is inflated (:mod:`streamrec.model.safenpz`), and then every part is
checked against the others. Any defect raises :class:`ArtifactError` naming the file and the
reason.

The artifact, its parts and their consistency rules are defined in
:mod:`streamrec.model.artifact_format`, the decoding of a file's members in
:mod:`streamrec.model.artifact_read`; everything public is importable from here.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from streamrec.data.sessions import Interactions
from streamrec.model import atomicfile, safenpz
from streamrec.model.artifact_format import (
    _HISTORY_FIELDS,
    _MEMBERS,
    FORMAT_VERSION,
    Artifact,
    ArtifactError,
    OpenSessions,
    TopLists,
    _check,
)
from streamrec.model.artifact_read import _from_arrays
from streamrec.model.popularity import PopularityRanker

__all__ = [
    "FORMAT_VERSION",
    "Artifact",
    "ArtifactError",
    "OpenSessions",
    "TopLists",
    "build_metadata",
    "from_training",
    "load",
    "remove_stale_temporaries",
    "save",
]

_PICKLE_MAGIC = b"\x80"  # every pickle protocol >= 2 starts with the PROTO opcode


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
    names, offsets = _strings(artifact.streamer_names)
    user_items = sp.csr_matrix(artifact.user_items, dtype=np.float32)
    arrays = {
        "format_version": np.array(FORMAT_VERSION, dtype=np.int32),
        "metadata_json": _utf8(json.dumps(artifact.metadata)),
        "user_factors": np.ascontiguousarray(artifact.user_factors, dtype=np.float32),
        "item_factors": np.ascontiguousarray(artifact.item_factors, dtype=np.float32),
        "user_ids": np.asarray(artifact.user_ids, dtype=np.int64),
        "streamer_names_utf8": names,
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
    opened = artifact.open_sessions
    if opened is not None:
        open_names, open_offsets = _strings(opened.streamer_names)
        arrays["open_user_ids"] = np.asarray(opened.user_ids, dtype=np.int64)
        arrays["open_stream_keys"] = np.asarray(opened.stream_keys, dtype=np.int64)
        arrays["open_streamer_names_utf8"] = open_names
        arrays["open_streamer_name_offsets"] = open_offsets
        arrays["open_time_starts"] = np.asarray(opened.time_starts, dtype=np.int32)
        arrays["open_segments"] = np.asarray(opened.segments, dtype=np.int64)
    return arrays


def _strings(texts: Iterable[object]) -> tuple[np.ndarray, np.ndarray]:
    """Texts as one UTF-8 blob and the ``len + 1`` offsets that cut it (no pickled objects)."""
    encoded = [str(t).encode("utf-8") for t in texts]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum(np.array([len(t) for t in encoded], dtype=np.int64), out=offsets[1:])
    return np.frombuffer(b"".join(encoded), dtype=np.uint8), offsets


def _utf8(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8)

"""Reading a model file's arrays back into an :class:`~streamrec.model.artifact.Artifact`.

:func:`_from_arrays` takes the members that :func:`streamrec.model.artifact.load` read safely
(:mod:`streamrec.model.safenpz`) and decodes them: the format version, the JSON metadata, the
streamer names and the watched lists, each checked before it is used (scipy trusts a CSR matrix
it is given), then the whole artifact by :func:`~streamrec.model.artifact_format._check`. Any
defect is an :class:`~streamrec.model.artifact.ArtifactError` naming the file and the reason.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from streamrec.model.artifact_format import (
    _OPEN_SESSIONS,
    _TOP_LISTS,
    FORMAT_VERSION,
    Artifact,
    ArtifactError,
    OpenSessions,
    TopLists,
    _check,
)


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
        open_sessions=_open_sessions(arrays, path),
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


def _open_sessions(arrays: dict[str, np.ndarray], path: Path) -> OpenSessions | None:
    """The still-open sessions, all of their members or none (an artifact older than them)."""
    present = [key for key in _OPEN_SESSIONS if key in arrays]
    if not present:
        return None
    if len(present) != len(_OPEN_SESSIONS):
        raise ArtifactError(f"{path}: open sessions are incomplete: members {present}")
    names = _names(  # their lengths and the rest are checked by _check()
        arrays["open_streamer_names_utf8"],
        arrays["open_streamer_name_offsets"],
        path,
        "open sessions' streamer names are corrupt: open_streamer_name_offsets",
    )
    return OpenSessions(
        user_ids=arrays["open_user_ids"],
        stream_keys=arrays["open_stream_keys"],
        streamer_names=names,
        time_starts=arrays["open_time_starts"],
        segments=arrays["open_segments"],
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


def _names(
    blob: np.ndarray,
    offsets: np.ndarray,
    path: Path,
    what: str = "streamer names are corrupt: streamer_name_offsets",
) -> np.ndarray:
    """Names from the UTF-8 blob and the offsets that cut it (``what``: the error's subject)."""
    _check_cuts(offsets, len(blob), f"{path}: {what}")
    data = blob.tobytes()
    try:
        names = [data[a:b].decode("utf-8") for a, b in zip(offsets[:-1], offsets[1:], strict=True)]
    except UnicodeDecodeError as exc:
        subject = what.split(":")[0]
        raise ArtifactError(f"{path}: {subject}: {exc}") from exc
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

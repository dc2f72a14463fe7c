"""Broken model files, one kind at a time, as a fuzzer or a failed copy might produce them."""

from __future__ import annotations

import dataclasses
import io
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from streamrec.model import artifact


def members_of(model: artifact.Artifact) -> dict[str, np.ndarray]:
    """The arrays :func:`artifact.save` writes for ``model``, to break one at a time."""
    with tempfile.TemporaryDirectory() as folder:
        with np.load(artifact.save(model, Path(folder) / "model.npz")) as npz:
            return {key: npz[key] for key in npz.files}


def write_zip(
    path: Path, members: dict[str, bytes | np.ndarray], deflate: frozenset[str] = frozenset()
) -> Path:
    """Write an archive member by member: arrays as ``.npy``, bytes as given."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, value in members.items():
            if isinstance(value, np.ndarray):
                buffer = io.BytesIO()
                np.lib.format.write_array(buffer, value, allow_pickle=False)
                name, value = f"{name}.npy", buffer.getvalue()
            kind = zipfile.ZIP_DEFLATED if name in deflate else zipfile.ZIP_STORED
            archive.writestr(name, value, compress_type=kind)
    return path


def npy_header(dtype: str, shape: tuple[int, ...]) -> bytes:
    """A bare ``.npy`` header claiming ``shape`` (no data behind it)."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": dtype, "fortran_order": False, "shape": shape}
    )
    return buffer.getvalue()


SEGMENT = "events-0000000003.csv"


def with_open_sessions(model: artifact.Artifact) -> artifact.Artifact:
    """``model`` as if trained on the event segment ``SEGMENT`` too, with the two sessions still
    open in it (one on a streamer the model does not know, one with a stream id hashed)."""
    data = {**model.metadata.get("data", {}), "event_segments": {SEGMENT: 120}}
    sessions = artifact.OpenSessions(
        user_ids=np.array([1000, 1001], dtype=np.int64),
        stream_keys=np.array([7, -42], dtype=np.int64),
        streamer_names=np.array(["s01", 'névé, "new"'], dtype=object),
        time_starts=np.array([10, 11], dtype=np.int32),
        segments=np.array([3, 3], dtype=np.int64),
    )
    return dataclasses.replace(
        model, metadata={**model.metadata, "data": data}, open_sessions=sessions
    )


def broken_members(kind: str, model: artifact.Artifact) -> dict[str, bytes | np.ndarray]:
    if kind.startswith("open sessions"):
        model = with_open_sessions(model)
    members: dict[str, bytes | np.ndarray] = dict(members_of(model))
    if kind == "format_version array":
        members["format_version"] = np.array([1], dtype=np.int32)
    elif kind == "popular as float":
        members["popular"] = members["popular"].astype(np.float64)
    elif kind == "non-monotonic indptr":
        indptr = members["user_items_indptr"].copy()
        indptr[[3, 4]] = indptr[[4, 3]]
        members["user_items_indptr"] = indptr
    elif kind == "0 users":
        members["user_factors"] = members["user_factors"][:0]
        members["user_ids"] = members["user_ids"][:0]
        members["user_items_indptr"] = np.zeros(1, dtype=np.int64)
        members["user_items_indices"] = members["user_items_indices"][:0]
        members["user_items_data"] = members["user_items_data"][:0]
    elif kind == "header claiming 64 TiB":
        members["user_items_data.npy"] = npy_header("<f4", (1 << 44,)) + b"\0" * 64
        del members["user_items_data"]
    elif kind == "metadata a JSON list":
        members["metadata_json"] = np.frombuffer(b'["model_version", "x"]', dtype=np.uint8)
    elif kind == "name offsets past the end":
        offsets = members["streamer_name_offsets"].copy()
        offsets[-1] += 1000
        members["streamer_name_offsets"] = offsets
    elif kind == "unknown member":
        members["notes.txt"] = b"hello"
    elif kind == "open sessions of unequal lengths":
        members["open_time_starts"] = members["open_time_starts"][:1]
    elif kind == "open sessions' name offsets past the end":
        offsets = members["open_streamer_name_offsets"].copy()
        offsets[-1] += 1000
        members["open_streamer_name_offsets"] = offsets
    elif kind == "open sessions without their segments":
        del members["open_segments"]
    elif kind == "open sessions of a segment not consumed":
        members["open_segments"] = np.array([3, 4], dtype=np.int64)
    elif kind == "open sessions with an empty name":
        total = len(members["open_streamer_names_utf8"])
        members["open_streamer_name_offsets"] = np.array([0, 0, total], dtype=np.int64)
    return members


# Each kind of broken file and a fragment of the reason its error must give.
BROKEN = {
    "format_version array": "'format_version.npy' is int32 with shape (1,); expected int32 with 0",
    "popular as float": "'popular.npy' is float64",
    "non-monotonic indptr": "user_items_indptr must run from 0 to 360 without decreasing",
    "0 users": "the model is empty: 0 users",
    "header claiming 64 TiB": "declares shape (17592186044416,) (70,368,744,177,664 bytes)",
    "metadata a JSON list": "metadata must be a JSON object, got list",
    "name offsets past the end": "streamer_name_offsets must run from 0 to",
    "unknown member": "unknown member 'notes.txt'",
    "open sessions of unequal lengths": "open sessions' time starts must be 2 int32 values",
    "open sessions' name offsets past the end": "open_streamer_name_offsets must run from 0 to",
    "open sessions without their segments": "open sessions are incomplete",
    "open sessions of a segment not consumed": "events-0000000004.csv, which the model did not",
    "open sessions with an empty name": "streamer names must be text of 1 to 65536 bytes",
    "plain .npy renamed": "not an .npz archive",
    "random bytes": "not an .npz archive",
}


def write_broken_model(kind: str, path: Path, model: artifact.Artifact) -> Path:
    if kind == "plain .npy renamed":
        np.save(path.with_suffix(".npy"), model.user_factors)
        path.with_suffix(".npy").rename(path)
    elif kind == "random bytes":
        path.write_bytes(np.random.default_rng(3).bytes(5000))
    else:
        write_zip(path, broken_members(kind, model))
    return path

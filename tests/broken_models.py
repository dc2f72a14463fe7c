"""Broken model files, one kind at a time, as a fuzzer or a failed copy might produce them."""

from __future__ import annotations

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


def broken_members(kind: str, model: artifact.Artifact) -> dict[str, bytes | np.ndarray]:
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

"""Read an untrusted NumPy ``.npz`` archive without letting it run code or exhaust memory.

``np.load`` inflates whatever members an archive holds, trusting the sizes it declares. Here
only the members of a schema are read, and before a byte of one is inflated its declared sizes
are checked: the zip header's against the file's size (a stored member cannot be larger than
the file; a compressed one may inflate at most ``MAX_INFLATION`` times), and the ``.npy``
header's dtype, dimensions and shape x item size against the schema and the member's size.
So a member can claim neither 3 GiB from a few stored megabytes nor 64 TiB of shape.
"""

from __future__ import annotations

import math
import zipfile
import zlib
from collections.abc import Mapping
from typing import IO

import numpy as np

# A compressed member may inflate to at most this many times its stored size (real factors and
# indices compress far less; an all-zero bomb far more), plus a little for tiny members.
MAX_INFLATION = 16
_SLACK_BYTES = 64 * 1024

Schema = Mapping[str, tuple[np.dtype, int]]
"""Member name (without ``.npy``) -> its dtype and number of dimensions."""


class NotAnArchiveError(ValueError):
    """The file is not a zip archive at all."""


class UnsafeMemberError(ValueError):
    """A member is unknown, repeated, larger than the file can hold, mistyped or corrupt."""


def read(fh: IO[bytes], file_size: int, schema: Schema) -> dict[str, np.ndarray]:
    """The arrays of the archive ``fh`` (``file_size`` bytes), each checked before it is read.

    Parameters
    ----------
    fh : binary file
        Open, seekable, at the start of the archive.
    file_size : int
        Its size in bytes.
    schema : mapping
        The only members accepted, with their dtype and number of dimensions; a member of
        the schema may be missing (the caller checks which it needs).

    Raises
    ------
    NotAnArchiveError
        ``fh`` is not a zip archive.
    UnsafeMemberError
        A member is not in ``schema``, appears twice, declares more bytes than the file can
        hold, has another dtype or shape, holds Python objects, or fails to decompress.
    """
    try:
        archive = zipfile.ZipFile(fh)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise NotAnArchiveError(f"not an .npz archive ({exc})") from exc
    with archive:
        members: dict[str, zipfile.ZipInfo] = {}
        for info in archive.infolist():
            key = info.filename.removesuffix(".npy")
            if key not in schema or not info.filename.endswith(".npy"):
                raise UnsafeMemberError(f"unknown member {info.filename!r}")
            if key in members:
                raise UnsafeMemberError(f"member {info.filename!r} appears twice")
            _check_declared(info, file_size)
            members[key] = info
        arrays = {}
        for key, info in members.items():
            try:
                with archive.open(info) as member:
                    _check_header(member, info, *schema[key])
                with archive.open(info) as member:
                    arrays[key] = np.lib.format.read_array(member, allow_pickle=False)
            except UnsafeMemberError:
                raise
            except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
                raise UnsafeMemberError(f"member {info.filename!r} is corrupt: {exc}") from exc
    return arrays


def _check_declared(info: zipfile.ZipInfo, file_size: int) -> None:
    """Refuse a member whose zip header declares more data than the file can hold."""
    where = f"member {info.filename!r}"
    if info.flag_bits & 0x1:
        raise UnsafeMemberError(f"{where} is encrypted")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise UnsafeMemberError(f"{where} uses unsupported compression {info.compress_type}")
    if info.header_offset + info.compress_size > file_size:
        raise UnsafeMemberError(
            f"{where} declares {info.compress_size:,} stored bytes at offset "
            f"{info.header_offset:,}, beyond the end of the file ({file_size:,} bytes)"
        )
    limit = info.compress_size
    if info.compress_type == zipfile.ZIP_DEFLATED:
        limit = MAX_INFLATION * info.compress_size + _SLACK_BYTES
    if info.file_size > limit:
        raise UnsafeMemberError(
            f"{where} declares {info.file_size:,} bytes from {info.compress_size:,} stored "
            "(more than a member may inflate to)"
        )


def _check_header(member: IO[bytes], info: zipfile.ZipInfo, dtype: np.dtype, ndim: int) -> None:
    """Check a member's ``.npy`` header: dtype, dimensions, and a size the member holds."""
    where = f"member {info.filename!r}"
    version = np.lib.format.read_magic(member)
    if version == (1, 0):
        shape, _, found = np.lib.format.read_array_header_1_0(member)
    elif version == (2, 0):
        shape, _, found = np.lib.format.read_array_header_2_0(member)
    else:
        raise UnsafeMemberError(f"{where} has unsupported .npy format version {version}")
    if found.hasobject:
        raise UnsafeMemberError(f"{where} holds Python objects (refused: they need pickle)")
    if found != dtype or len(shape) != ndim:
        raise UnsafeMemberError(
            f"{where} is {found} with shape {shape}; expected {dtype} with {ndim} dimensions"
        )
    data_bytes = math.prod(shape) * found.itemsize
    held = info.file_size - member.tell()
    if data_bytes != held:
        raise UnsafeMemberError(
            f"{where} declares shape {shape} ({data_bytes:,} bytes) but holds {held:,} bytes"
        )

"""Event log segment files: their names, crash repair, and what training consumed of them.

A segment is ``events-<seq:010d>.csv`` once sealed (it never changes again) and
``events-<seq:010d>.csv.open`` while :class:`streamrec.data.event_log.EventLog` writes it. Training
records the sealed segments it read by name and size (:func:`consumed_segments`, in the
artifact's ``data.event_segments``); the server reads that back with :func:`consumed_of`.

Nothing here knows about models, serving or training.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

SEGMENT_GLOB = "events-*.csv"
OPEN_SUFFIX = ".open"
_NAME = re.compile(r"events-(\d{10})\.csv(\.open)?")
_TAIL_CHUNK = 1 << 16


def segment_name(seq: int, sealed: bool = True) -> str:
    """The file name of segment ``seq``: ``events-<seq:010d>.csv``, plus ``.open`` if not sealed."""
    if not 0 <= seq < 10**10:
        raise ValueError(f"segment seq must be in [0, 10**10), got {seq}")
    return f"events-{seq:010d}.csv" + ("" if sealed else OPEN_SUFFIX)


def segment_seq(path: str | Path) -> int | None:
    """The seq of a sealed or open segment's name, else None."""
    match = _NAME.fullmatch(Path(path).name)
    return int(match.group(1)) if match else None


def is_sealed(path: str | Path) -> bool:
    """True for a sealed segment's name (``events-<seq>.csv``)."""
    match = _NAME.fullmatch(Path(path).name)
    return match is not None and match.group(2) is None


def consumed_segments(files: Sequence[Path]) -> dict[str, int]:
    """The sealed segments among training's input files: name -> size in bytes.

    Raises
    ------
    ValueError
        Two inputs are segments of the same name (two logs' segments cannot be told apart).
    """
    consumed: dict[str, int] = {}
    seen: dict[str, Path] = {}
    for file in map(Path, files):
        if not is_sealed(file):
            continue
        if file.name in seen and seen[file.name].resolve() != file.resolve():
            raise ValueError(f"two event segments named {file.name}: {seen[file.name]} and {file}")
        seen[file.name] = file
        consumed[file.name] = file.stat().st_size
    return consumed


def consumed_of(metadata: Mapping[str, Any]) -> dict[str, int]:
    """The event segments a model consumed, from its metadata ``data.event_segments``.

    ``{}`` when absent or malformed in any way (then nothing counts as consumed: the server
    replays everything and retention deletes nothing).
    """
    data = metadata.get("data") if isinstance(metadata, Mapping) else None
    segments = data.get("event_segments") if isinstance(data, Mapping) else None
    if not isinstance(segments, Mapping):
        return {}
    for name, size in segments.items():
        valid_size = isinstance(size, int) and not isinstance(size, bool) and size >= 0
        if not (isinstance(name, str) and is_sealed(name) and valid_size):
            return {}
    return dict(segments)


@dataclass(frozen=True)
class Segment:
    """One segment file: its seq, path, size in bytes, whether it is sealed, and its mtime."""

    seq: int
    path: Path
    size: int
    sealed: bool
    mtime: float


def repair(folder: Path, seq: int) -> None:
    """Cut the ``.open`` segment ``seq`` back to its last line end and seal it."""
    open_path = folder / segment_name(seq, sealed=False)
    sealed_path = folder / segment_name(seq)
    if sealed_path.exists():
        raise RuntimeError(f"both {open_path} and {sealed_path} exist; keep one of them")
    with open_path.open("r+b") as fh:
        size = fh.seek(0, os.SEEK_END)
        keep = _last_line_end(fh, size)
        if keep < size:
            logger.warning(
                "event log %s: cut %d bytes of an unacknowledged write", open_path, size - keep
            )
            fh.truncate(keep)
        os.fsync(fh.fileno())
    if keep:
        os.rename(open_path, sealed_path)
    else:
        open_path.unlink()
    fsync_folder(folder)


def stat_segment(seq: int, path: Path, sealed: bool) -> Segment:
    """The segment at ``path`` as it is on disk now."""
    info = path.stat()
    return Segment(seq=seq, path=path, size=info.st_size, sealed=sealed, mtime=info.st_mtime)


def _last_line_end(fh: Any, size: int) -> int:
    """The length of the file's part up to and including its last ``\\n`` (0: none)."""
    end = size
    while end > 0:
        start = max(0, end - _TAIL_CHUNK)
        fh.seek(start)
        at = fh.read(end - start).rfind(b"\n")
        if at >= 0:
            return start + at + 1
        end = start
    return 0


def fsync_folder(folder: Path) -> None:
    """Make the folder's entries (a created, renamed or removed segment) durable."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

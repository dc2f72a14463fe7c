"""Replace a file atomically, and clean up after writers that were killed half-way.

A writer writes a temporary file in the target's folder, holding an exclusive ``flock`` on it,
and renames it over the target: readers see the old file or the new one, never a partial one.
A writer killed before the rename (SIGKILL, power loss) leaves its temporary file behind;
:func:`remove_stale_temporaries` removes those, and only those: files named as this module
names them for that target, that no live process holds locked (the kernel releases a killed
process's lock) and that nobody wrote for a while (which also covers the instant between
creating a file and locking it, and file systems without locks).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

logger = logging.getLogger(__name__)

# A temporary file that no process holds locked and nobody wrote for this long is left over.
STALE_SECONDS = 600.0


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[IO[bytes]]:
    """Yield a locked temporary file next to ``path``; on a clean exit it replaces ``path``.

    The file is flushed to disk and made world-readable (0644) before the rename; on an
    exception it is removed and ``path`` is left as it was.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            with contextlib.suppress(OSError):  # a file system without locks: age decides
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)  # while still locked: the lock ends with the rename
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_stale_temporaries(path: Path, older_than: float = STALE_SECONDS) -> list[Path]:
    """Remove the temporary files that killed :func:`replacing` writers left next to ``path``.

    Candidates are regular files named ``.<name of path>.XXXXXXXX.tmp`` (as ``mkstemp``
    names them); one is removed when no process holds it locked and it was last written more
    than ``older_than`` seconds ago. Files that cannot be removed (e.g. in a read-only
    folder) are logged and left.

    Returns
    -------
    list of Path
        The files removed.
    """
    pattern = re.compile(re.escape(f".{path.name}.") + r"[a-z0-9_]{8}\.tmp")
    try:
        candidates = [p for p in path.parent.iterdir() if pattern.fullmatch(p.name)]
    except OSError:
        return []  # no folder (yet), or not readable
    removed = []
    for candidate in candidates:
        try:
            fd = os.open(candidate, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue  # gone meanwhile, a symlink, or unreadable
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or time.time() - info.st_mtime < older_than:
                continue
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # fails while a writer holds it
            os.unlink(candidate)
        except BlockingIOError:
            continue
        except OSError as exc:
            logger.warning("cannot remove stale temporary file %s: %s", candidate, exc)
            continue
        finally:
            os.close(fd)
        logger.info("removed stale temporary file %s (%d bytes)", candidate, info.st_size)
        removed.append(candidate)
    return removed

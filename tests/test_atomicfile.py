from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from streamrec.model import atomicfile
from tests.conftest import ROOT

# A writer that gets half-way and then waits to be killed.
WRITER = """
import sys, time
from pathlib import Path
from streamrec.model import atomicfile
with atomicfile.replacing(Path(sys.argv[1])) as fh:
    fh.write(b"half of a model")
    fh.flush()
    print("writing", flush=True)
    time.sleep(60)
"""


def age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def temporaries(folder: Path) -> list[Path]:
    return sorted(folder.glob(".model.npz.*.tmp"))


def test_replacing_replaces_the_file_or_leaves_it(tmp_path: Path) -> None:
    target = tmp_path / "model.npz"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomicfile.replacing(target) as fh:
        fh.write(b"new")
        raise RuntimeError("failed half-way")
    assert target.read_bytes() == b"old" and temporaries(tmp_path) == []
    with atomicfile.replacing(target) as fh:
        fh.write(b"new")
    assert target.read_bytes() == b"new" and temporaries(tmp_path) == []
    assert target.stat().st_mode & 0o777 == 0o644


def test_a_killed_writer_leaves_a_temporary_that_is_removed_only_once_it_is_dead(
    tmp_path: Path,
) -> None:
    target = tmp_path / "model.npz"
    target.write_bytes(b"old")
    command = [sys.executable, "-c", WRITER, str(target)]
    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE) as writer:
        assert writer.stdout is not None and writer.stdout.readline() == b"writing\n"
        (leftover,) = temporaries(tmp_path)
        age(leftover, 3600)
        # A live writer holds its file locked: however old it looks, it stays.
        assert atomicfile.remove_stale_temporaries(target) == []
        writer.kill()
    assert writer.returncode == -9 and leftover.exists()
    assert target.read_bytes() == b"old"
    age(leftover, 60)  # dead but recently written: it stays until STALE_SECONDS have passed
    assert atomicfile.remove_stale_temporaries(target) == []
    age(leftover, atomicfile.STALE_SECONDS + 1)
    assert atomicfile.remove_stale_temporaries(target) == [leftover]
    assert not leftover.exists() and target.read_bytes() == b"old"


def test_remove_stale_temporaries_leaves_other_files(tmp_path: Path) -> None:
    target = tmp_path / "model.npz"
    names = [
        ".other.npz.abcd1234.tmp",  # another model's
        ".model.npz.abcd1234.tmp.keep",
        ".model.npz.abcd12345.tmp",  # not mkstemp's 8 characters
        "model.npz",
    ]
    for name in names:
        (tmp_path / name).write_bytes(b"x")
        age(tmp_path / name, 3600)
    (tmp_path / ".model.npz.link0000.tmp").symlink_to(tmp_path / "model.npz")
    age(tmp_path / "model.npz", 3600)
    assert atomicfile.remove_stale_temporaries(target) == []
    assert atomicfile.remove_stale_temporaries(tmp_path / "missing" / "model.npz") == []
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*names, ".model.npz.link0000.tmp"])

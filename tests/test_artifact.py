from __future__ import annotations

import dataclasses
import os
import pickle
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from streamrec.model import artifact
from streamrec.model.artifact import ArtifactError
from tests.broken_models import (
    BROKEN,
    SEGMENT,
    members_of,
    npy_header,
    with_open_sessions,
    write_broken_model,
    write_zip,
)
from tests.conftest import ROOT


def test_save_then_load_round_trips(tmp_path: Path, checkerboard_artifact) -> None:
    path = artifact.save(checkerboard_artifact, tmp_path / "sub" / "model.npz")
    loaded = artifact.load(path)
    original = checkerboard_artifact
    assert np.array_equal(loaded.user_factors, original.user_factors)
    assert np.array_equal(loaded.item_factors, original.item_factors)
    assert np.array_equal(loaded.user_ids, original.user_ids)
    assert loaded.streamer_names.tolist() == original.streamer_names.tolist()
    assert np.array_equal(loaded.popular, original.popular)
    assert (loaded.user_items != original.user_items).nnz == 0
    assert loaded.metadata == original.metadata
    assert loaded.metadata["format_version"] == artifact.FORMAT_VERSION
    counts = {"users": 40, "streamers": 20, "nonzeros": 360, "factors": 4}
    assert loaded.metadata["counts"] == counts
    assert [p.name for p in path.parent.iterdir()] == ["model.npz"]  # no temporary file left


def test_load_refuses_pickle(tmp_path: Path) -> None:
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps({"factors": [1, 2, 3]}))
    with pytest.raises(ArtifactError, match="is a pickle; refusing to load it"):
        artifact.load(path)


def test_load_refuses_npz_with_object_arrays(tmp_path: Path) -> None:
    path = tmp_path / "model.npz"
    np.savez(path, format_version=np.array([{"evil": 1}], dtype=object))
    with pytest.raises(ArtifactError, match="not a readable streamrec artifact"):
        artifact.load(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "not a readable"), (b"not a zip at all", "not a readable")],
)
def test_load_refuses_garbage(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "model.npz"
    path.write_bytes(content)
    with pytest.raises(ArtifactError, match=message):
        artifact.load(path)


def test_load_missing_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match=r"model file not found: .*python als_fit.py"):
        artifact.load(tmp_path / "none.npz")


def test_load_truncated_file_raises(tmp_path: Path, checkerboard_model_path: Path) -> None:
    path = tmp_path / "model.npz"
    path.write_bytes(checkerboard_model_path.read_bytes()[:2000])
    with pytest.raises(ArtifactError):
        artifact.load(path)


def test_save_inconsistent_artifact_keeps_previous_file(
    tmp_path: Path, checkerboard_artifact
) -> None:
    path = artifact.save(checkerboard_artifact, tmp_path / "model.npz")
    before = path.read_bytes()
    broken = dataclasses.replace(checkerboard_artifact, popular=checkerboard_artifact.popular[:3])
    with pytest.raises(ValueError, match="permutation"):
        artifact.save(broken, path)
    assert path.read_bytes() == before


def test_killed_training_run_leaves_previous_model_intact(
    tmp_path: Path, checkerboard_model_path: Path
) -> None:
    model = tmp_path / "model.npz"
    model.write_bytes(checkerboard_model_path.read_bytes())
    before = model.read_bytes()
    data_path = tmp_path / "sessions.csv"
    rng = np.random.default_rng(0)
    users, items = rng.integers(0, 3000, 60_000), rng.integers(0, 400, 60_000)
    data_path.write_text("".join(f"{u},1,s{i},0,2\n" for u, i in zip(users, items, strict=True)))
    command = [sys.executable, "als_fit.py", "--data", str(data_path), "--model", str(model)]
    command += ["--iterations", "1000", "--factors", "64"]
    with subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    ) as proc:
        # Wait until the fit is running (its progress bar has started), then kill it hard.
        deadline = time.monotonic() + 30
        seen = b""
        while b"it/s" not in seen and b"s/it" not in seen and time.monotonic() < deadline:
            seen += proc.stderr.read1(4096)
        proc.kill()
    assert b"it/s" in seen or b"s/it" in seen, seen.decode(errors="replace")
    assert model.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz", "sessions.csv"]


# -- defensive reading: only known members, declared sizes checked, every defect named -------


@pytest.mark.parametrize("kind", list(BROKEN))
def test_load_broken_artifact_raises_naming_path_and_reason(
    tmp_path: Path, checkerboard_artifact, kind: str
) -> None:
    path = write_broken_model(kind, tmp_path / "model.npz", checkerboard_artifact)
    with pytest.raises(ArtifactError) as caught:
        artifact.load(path)
    assert str(caught.value).startswith(str(path)), caught.value
    assert BROKEN[kind] in str(caught.value)


def test_random_bytes_are_not_called_pickled_data(tmp_path: Path, checkerboard_artifact) -> None:
    path = write_broken_model("random bytes", tmp_path / "model.npz", checkerboard_artifact)
    with pytest.raises(ArtifactError, match="is not a readable streamrec artifact") as caught:
        artifact.load(path)
    assert "pickle" not in str(caught.value)


def test_load_refuses_an_extra_member_without_inflating_it(
    tmp_path: Path, checkerboard_artifact
) -> None:
    """Regression: a 4.8 MB file with an extra 3 GiB member was inflated and accepted."""
    members = {**members_of(checkerboard_artifact), "padding.npy": bytes(32 << 20)}
    path = write_zip(tmp_path / "model.npz", members, deflate=frozenset({"padding.npy"}))
    assert path.stat().st_size < 2 << 20
    started = time.perf_counter()
    with pytest.raises(ArtifactError, match=f"{path} .*unknown member 'padding.npy'"):
        artifact.load(path)
    assert time.perf_counter() - started < 0.5  # refused from its name, not read


def test_load_refuses_a_known_member_that_inflates_far_beyond_its_size(
    tmp_path: Path, checkerboard_artifact
) -> None:
    members: dict[str, bytes | np.ndarray] = dict(members_of(checkerboard_artifact))
    del members["user_items_data"]
    members["user_items_data.npy"] = npy_header("<f4", (8 << 20,)) + bytes(32 << 20)
    path = write_zip(tmp_path / "model.npz", members, deflate=frozenset({"user_items_data.npy"}))
    with pytest.raises(ArtifactError, match="'user_items_data.npy' declares 33,554,5.. bytes"):
        artifact.load(path)


def test_load_refuses_a_member_declared_beyond_the_end_of_the_file(
    tmp_path: Path, checkerboard_model_path: Path
) -> None:
    path = tmp_path / "model.npz"
    data = bytearray(checkerboard_model_path.read_bytes())
    # The central directory entry of the first member: claim a 1 TiB member (sizes at +20, +24).
    entry = data.index(b"PK\x01\x02")
    data[entry + 20 : entry + 28] = (0xFFFFFFF0).to_bytes(4, "little") * 2
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="beyond the end of the file"):
        artifact.load(path)


def test_compressed_artifact_still_loads(tmp_path: Path, checkerboard_artifact) -> None:
    members = members_of(checkerboard_artifact)
    path = write_zip(
        tmp_path / "model.npz", dict(members), deflate=frozenset(f"{k}.npy" for k in members)
    )
    assert artifact.load(path).metadata == checkerboard_artifact.metadata


def test_ranker_model_round_trips_and_is_optional(tmp_path: Path, checkerboard_artifact) -> None:
    text = "tree\nversion=v4\nnum_class=1\n# ränker ✓\n"
    with_ranker = dataclasses.replace(checkerboard_artifact, ranker_model=text)
    loaded = artifact.load(artifact.save(with_ranker, tmp_path / "ranked.npz"))
    assert loaded.ranker_model == text
    plain = artifact.save(checkerboard_artifact, tmp_path / "plain.npz")
    assert artifact.load(plain).ranker_model is None
    assert "ranker_model.npy" not in zipfile.ZipFile(plain).namelist()


def test_open_sessions_round_trip_and_are_optional(tmp_path: Path, checkerboard_artifact) -> None:
    model = with_open_sessions(checkerboard_artifact)
    loaded = artifact.load(artifact.save(model, tmp_path / "open.npz"))
    sessions = loaded.open_sessions
    assert sessions is not None and len(sessions) == 2
    assert sessions.user_ids.tolist() == [1000, 1001] and sessions.user_ids.dtype == np.int64
    assert sessions.stream_keys.tolist() == [7, -42]
    assert sessions.streamer_names.tolist() == ["s01", 'névé, "new"']
    assert sessions.time_starts.tolist() == [10, 11] and sessions.time_starts.dtype == np.int32
    assert sessions.segments.tolist() == [3, 3]
    assert loaded.metadata["data"]["event_segments"] == {SEGMENT: 120}
    # none still open: an empty part, told apart from an artifact older than the part
    empty = dataclasses.replace(
        model,
        open_sessions=artifact.OpenSessions(
            *(np.zeros(0, dtype=d) for d in (np.int64, np.int64, object, np.int32, np.int64))
        ),
    )
    reloaded = artifact.load(artifact.save(empty, tmp_path / "none-open.npz"))
    assert reloaded.open_sessions is not None and len(reloaded.open_sessions) == 0
    plain = artifact.save(checkerboard_artifact, tmp_path / "plain.npz")
    assert artifact.load(plain).open_sessions is None
    assert not any(n.startswith("open_") for n in zipfile.ZipFile(plain).namelist())
    # the consistency rules hold before a file is written too
    wrong = dataclasses.replace(model.open_sessions, user_ids=np.array([1000, -1]))
    with pytest.raises(ValueError, match="user ids must be in 0"):
        artifact.save(dataclasses.replace(model, open_sessions=wrong), tmp_path / "x.npz")


# -- temporary files of killed saves ------------------------------------------------------------


def test_save_removes_stale_temporaries_of_its_own_model_only(
    tmp_path: Path, checkerboard_artifact
) -> None:
    stale, fresh = tmp_path / ".model.npz.ab_cd123.tmp", tmp_path / ".model.npz.zzzzzzzz.tmp"
    others = [tmp_path / ".other.npz.ab_cd123.tmp", tmp_path / "model.npz.ab_cd123.tmp"]
    for file in (stale, fresh, *others):
        file.write_bytes(b"partial")
    old = time.time() - 3600
    for file in (stale, *others):
        os.utime(file, (old, old))
    artifact.save(checkerboard_artifact, tmp_path / "model.npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["model.npz", fresh.name, *(p.name for p in others)]
    )

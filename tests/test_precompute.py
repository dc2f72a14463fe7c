from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest

from streamrec.cli import train
from streamrec.model import artifact
from streamrec.model.artifact import ArtifactError
from streamrec.ranking import precompute
from streamrec.serving.recommender import Recommender
from tests.conftest import write_csv


@pytest.mark.parametrize(("top_n", "max_users"), [(5, 10), (128, None), (20, 100_000)])
def test_top_lists_are_the_lists_a_server_computes(
    checkerboard_artifact, top_n: int, max_users: int | None
) -> None:
    lists = precompute.top_lists(checkerboard_artifact, top_n, max_users, threads=2)
    served = Recommender(checkerboard_artifact, top_n=top_n, max_users=max_users)
    assert lists is not None and (lists.top_n, lists.max_users) == (top_n, max_users)
    assert np.array_equal(lists.items, served._lists.current.top)
    assert np.array_equal(lists.rows, served._lists.rows)


def test_top_lists_off(checkerboard_artifact) -> None:
    assert precompute.top_lists(checkerboard_artifact, 0, None) is None
    assert precompute.top_lists(checkerboard_artifact, 128, 0) is None


def test_stored_lists_round_trip_and_serve_at_once(tmp_path: Path, checkerboard_artifact) -> None:
    model = precompute.with_top_lists(checkerboard_artifact, top_n=5, max_users=10)
    loaded = artifact.load(artifact.save(model, tmp_path / "model.npz"))
    assert loaded.top_lists is not None
    assert np.array_equal(loaded.top_lists.items, model.top_lists.items)
    assert np.array_equal(loaded.top_lists.rows, model.top_lists.rows)
    assert (loaded.top_lists.top_n, loaded.top_lists.max_users) == (5, 10)
    rec = Recommender(loaded, top_n=5, max_users=10, precompute_now=False)
    assert (rec.precompute_state, rec.precomputed_users) == ("ready", 10)
    computed = Recommender(checkerboard_artifact, top_n=5, max_users=10)
    for user in range(1000, 1040):
        for exclude_watched in (True, False):
            assert rec.recommend_cached(user, 4, exclude_watched) == computed.recommend_cached(
                user, 4, exclude_watched
            )


@pytest.mark.parametrize(("top_n", "max_users"), [(6, 10), (5, 11), (5, None)])
def test_lists_stored_for_other_settings_are_computed_again(
    checkerboard_artifact, top_n: int, max_users: int | None
) -> None:
    model = precompute.with_top_lists(checkerboard_artifact, top_n=5, max_users=10)
    rec = Recommender(model, top_n=top_n, max_users=max_users, precompute_now=False)
    assert rec.precompute_state == "pending"
    assert rec.precompute() is True
    want = Recommender(checkerboard_artifact, top_n=top_n, max_users=max_users)
    assert np.array_equal(rec._lists.current.top, want._lists.current.top)


def test_max_users_beyond_the_users_matches_every_user(checkerboard_artifact) -> None:
    model = precompute.with_top_lists(checkerboard_artifact, top_n=5, max_users=None)
    rec = Recommender(model, top_n=5, max_users=100_000, precompute_now=False)
    assert (rec.precompute_state, rec.precomputed_users) == ("ready", 40)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"items": np.full((10, 5), 20, dtype=np.int32)}, "outside -1 ... 19"),
        ({"items": np.zeros((10, 4), dtype=np.int32)}, "of shape (10, 5)"),
        ({"rows": np.arange(10)[::-1].copy()}, "increasing model rows below 40"),
        ({"top_n": 0}, "top_n >= 1"),
    ],
)
def test_broken_stored_lists_are_refused(
    tmp_path: Path, checkerboard_artifact, change: dict, message: str
) -> None:
    model = precompute.with_top_lists(checkerboard_artifact, top_n=5, max_users=10)
    broken = dataclasses.replace(model.top_lists, **change)
    arrays = artifact._to_arrays(dataclasses.replace(model, top_lists=broken))
    path = tmp_path / "model.npz"
    np.savez(path, **arrays)
    with pytest.raises(
        ArtifactError, match=f"{re.escape(str(path))}: top lists.*{re.escape(message)}"
    ):
        artifact.load(path)


def test_training_stores_the_lists_of_the_serving_settings(tmp_path: Path) -> None:
    rows = [f"{u},1,s{(u * 7 + j) % 30},0,{1 + j}" for u in range(60) for j in range(5)]
    data_path = write_csv(tmp_path / "sessions.csv", rows)
    model_path = tmp_path / "model.npz"
    assert train.main(["--data", str(data_path), "--model", str(model_path), "--quiet"]) == 0
    model = artifact.load(model_path)
    assert model.top_lists is not None
    assert (model.top_lists.top_n, model.top_lists.max_users) == (128, 100_000)
    assert Recommender(model, precompute_now=False).precompute_state == "ready"

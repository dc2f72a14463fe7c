from __future__ import annotations

import asyncio
import os
import threading
import time
import weakref
from collections import Counter
from pathlib import Path

import httpx
import pytest

from streamrec.model import artifact
from streamrec.serving.api import create_app
from streamrec.serving.recommender import Recommender
from streamrec.serving.reload import ModelStore, ReloadError, load_recommender
from streamrec.settings import Settings
from tests.broken_models import BROKEN, write_broken_model
from tests.conftest import (
    FailingGate,
    checkerboard_rows,
    fit_artifact,
    serving,
    sessions_frame,
    wait_for_state,
)


@pytest.fixture(scope="module")
def versions() -> list[artifact.Artifact]:
    """Three models of the same data that differ only in their random start."""
    return [fit_artifact(sessions_frame(checkerboard_rows()), seed=seed) for seed in (1, 2, 3)]


def write_broken(path: Path) -> None:
    """Land a corrupt file atomically, as a failed copy might."""
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(b"PK\x03\x04 definitely not a model")
    os.replace(tmp, path)


def store_for(path: Path) -> ModelStore:
    settings = Settings(model_path=path)
    store = ModelStore(path, lambda p: load_recommender(p, settings))
    store.load()
    return store


def test_reload_swaps_and_requests_keep_the_model_they_started_with(
    tmp_path: Path, versions: list[artifact.Artifact]
) -> None:
    path = artifact.save(versions[0], tmp_path / "model.npz")
    store = store_for(path)
    in_flight = store.current
    store.precompute_in_background().result(timeout=10)
    assert in_flight.precompute_state == "ready"
    artifact.save(versions[1], path)
    result = asyncio.run(store.reload())
    assert (result.previous_version, result.model_version) == (
        versions[0].model_version,
        versions[1].model_version,
    )
    assert store.current.model_version == versions[1].model_version
    assert store.current.precompute_state == "ready"  # built completely before the swap
    assert in_flight.model_version == versions[0].model_version
    assert in_flight.recommend(1000, k=3).source == "als"  # the old model still answers
    in_flight.filters(["s01"])  # fills its name cache, which must not keep it alive
    old = weakref.ref(in_flight)
    del in_flight
    assert old() is None  # freed at once when its last request ends, no GC cycle needed
    store.close()


def gated_store(path: Path, gate: threading.Event) -> ModelStore:
    """A loaded store whose models wait for ``gate`` before computing their lists."""

    def build(p: Path) -> Recommender:
        return Recommender(artifact.load(p), precompute_now=False, precompute_gate=gate)

    store = ModelStore(path, build)
    store.load()
    return store


def test_first_model_serves_while_its_lists_are_computed(
    tmp_path: Path, versions: list[artifact.Artifact]
) -> None:
    gate = threading.Event()
    store = gated_store(artifact.save(versions[0], tmp_path / "model.npz"), gate)
    job = store.precompute_in_background()
    model = store.current
    wait_for_state(model, "running")
    want = model.recommend(1000, k=3)
    assert model.recommend_cached(1000, k=3) is None  # no lists yet: the route scans
    gate.set()
    job.result(timeout=10)
    assert model.precompute_state == "ready"
    assert model.recommend_cached(1000, k=3) == want
    store.close()


def test_close_stops_the_lists_in_progress_promptly(
    tmp_path: Path, versions: list[artifact.Artifact]
) -> None:
    store = gated_store(artifact.save(versions[0], tmp_path / "model.npz"), threading.Event())
    job = store.precompute_in_background()
    wait_for_state(store.current, "running")
    started = time.monotonic()
    store.close()
    assert time.monotonic() - started < 2
    assert job.done() and store.current.precompute_state == "stopped"


def test_reload_waits_for_the_first_lists_and_swaps_a_complete_model(
    tmp_path: Path, versions: list[artifact.Artifact]
) -> None:
    gate = threading.Event()
    path = artifact.save(versions[0], tmp_path / "model.npz")
    store = gated_store(path, gate)
    first = weakref.ref(store.current)
    store.precompute_in_background()
    artifact.save(versions[1], path)

    async def scenario() -> str:
        reload = asyncio.create_task(store.reload())
        await asyncio.sleep(0.1)
        assert not reload.done()  # queued behind the first model's lists
        gate.set()
        return (await reload).model_version

    assert asyncio.run(scenario()) == versions[1].model_version
    assert store.current.precompute_state == "ready"
    assert first() is None  # the finished job does not keep the replaced model alive
    store.close()


def test_failed_background_lists_are_logged_and_full_scoring_goes_on(
    tmp_path: Path, versions: list[artifact.Artifact], caplog: pytest.LogCaptureFixture
) -> None:
    store = gated_store(artifact.save(versions[0], tmp_path / "model.npz"), FailingGate())
    store.precompute_in_background().result(timeout=10)  # the job itself does not raise
    assert store.current.precompute_state == "failed"
    assert store.current.recommend(1000, k=3).source == "als"
    assert f"precomputing the lists of model {versions[0].model_version} failed" in caplog.text
    assert "no room for the lists" in caplog.text
    store.close()


def test_failed_reload_keeps_serving_and_says_why(
    tmp_path: Path, versions: list[artifact.Artifact]
) -> None:
    path = artifact.save(versions[0], tmp_path / "model.npz")
    failures: list[Exception] = []
    settings = Settings(model_path=path)
    store = ModelStore(path, lambda p: load_recommender(p, settings), on_failure=failures.append)
    store.load()
    write_broken(path)
    with pytest.raises(ReloadError, match=f"still serving model {versions[0].model_version}"):
        asyncio.run(store.reload())
    assert store.current.model_version == versions[0].model_version
    assert len(failures) == 1 and isinstance(failures[0], artifact.ArtifactError)


def test_watch_reloads_when_the_file_changes_and_skips_a_broken_one(
    tmp_path: Path, versions: list[artifact.Artifact]
) -> None:
    path = artifact.save(versions[0], tmp_path / "model.npz")
    store = store_for(path)

    async def scenario() -> list[str]:
        watcher = asyncio.create_task(store.watch(0.01))
        seen = []
        for step in (lambda: artifact.save(versions[1], path), lambda: write_broken(path)):
            step()
            await asyncio.sleep(0.2)
            seen.append(store.current.model_version)
        watcher.cancel()
        return seen

    assert asyncio.run(scenario()) == [versions[1].model_version] * 2


def test_hot_reload_under_load_fails_no_request(
    tmp_path: Path, versions: list[artifact.Artifact]
) -> None:
    """Replace the model repeatedly (once with a broken file) while requests keep coming."""
    path = artifact.save(versions[0], tmp_path / "model.npz")
    settings = Settings(model_path=path, reload_interval=0.02, admin_token="t0ken")
    statuses: Counter[int] = Counter()
    seen: list[str] = []
    stop = threading.Event()

    def traffic(url: str) -> None:
        with httpx.Client(base_url=url, timeout=10) as http:
            while not stop.is_set():
                got = http.get("/recomendations/user/1002", params={"k": 3})
                statuses[got.status_code] += 1
                if got.status_code == 200:
                    seen.append(got.json()["model_version"])
                posted = http.post("/recommendations", json={"history": [], "k": 2})
                statuses[posted.status_code] += 1

    def wait_for(http: httpx.Client, version: str) -> None:
        deadline = time.monotonic() + 10
        while http.get("/health").json()["model_version"] != version:
            assert time.monotonic() < deadline, f"model {version} was never served"
            time.sleep(0.01)

    with serving(create_app(settings)) as url, httpx.Client(base_url=url) as http:
        threads = [threading.Thread(target=traffic, args=(url,)) for _ in range(3)]
        for thread in threads:
            thread.start()
        try:
            time.sleep(0.1)
            for model in (versions[1], None, versions[2], versions[0]):
                if model is None:
                    write_broken(path)
                    time.sleep(0.2)  # several polls: each must keep the old model
                    continue
                artifact.save(model, path)
                wait_for(http, model.model_version)
                time.sleep(0.1)
            reloaded = http.post("/admin/reload", headers={"Authorization": "Bearer t0ken"})
            assert reloaded.status_code == 200
            time.sleep(0.1)
        finally:
            stop.set()
            for thread in threads:
                thread.join()
        metrics = http.get("/metrics").text

    assert set(statuses) == {200}, statuses
    assert statuses[200] > 100
    assert {v.model_version for v in versions} <= set(seen)
    # One load at start-up, three watched reloads and one admin reload; the broken file
    # fails once (it is remembered, not retried on every poll).
    assert 'streamrec_model_loads_total{result="success"} 5.0' in metrics
    assert 'streamrec_model_loads_total{result="failure"} 1.0' in metrics


def test_watcher_does_not_load_again_a_file_an_explicit_reload_loaded(
    tmp_path: Path, versions: list[artifact.Artifact]
) -> None:
    """Regression: after `mv` + POST /admin/reload the watcher loaded the same file again."""
    path = artifact.save(versions[0], tmp_path / "model.npz")
    new = artifact.save(versions[1], tmp_path / "new.npz")
    settings = Settings(model_path=path)
    builds: list[Path] = []
    slow = threading.Event()

    def build(p: Path) -> Recommender:
        builds.append(p)
        if len(builds) == 2:
            slow.wait(5)  # the explicit reload takes a while: the watcher polls meanwhile
        return load_recommender(p, settings)

    store = ModelStore(path, build)
    store.load()

    async def scenario() -> None:
        watcher = asyncio.create_task(store.watch(0.01))
        os.replace(new, path)  # mv new.npz model.npz
        explicit = asyncio.create_task(store.reload())  # POST /admin/reload
        await asyncio.sleep(0.2)
        slow.set()
        assert (await explicit).model_version == versions[1].model_version
        await asyncio.sleep(0.2)
        watcher.cancel()

    asyncio.run(scenario())
    assert len(builds) == 2  # start-up and the explicit reload; the watcher found nothing new
    store.close()


def test_loading_removes_temporaries_that_killed_saves_left(
    tmp_path: Path, versions: list[artifact.Artifact]
) -> None:
    path = artifact.save(versions[0], tmp_path / "model.npz")
    stale = tmp_path / ".model.npz.k1lled00.tmp"
    stale.write_bytes(b"half a model")
    then = time.time() - 3600
    os.utime(stale, (then, then))
    store_for(path).close()
    assert not stale.exists()


def test_broken_files_get_a_409_naming_path_and_reason_and_the_old_model_serves(
    tmp_path: Path, versions: list[artifact.Artifact]
) -> None:
    path = artifact.save(versions[0], tmp_path / "model.npz")
    settings = Settings(model_path=path, reload_interval=0, admin_token="t0ken")
    admin = {"Authorization": "Bearer t0ken"}
    with serving(create_app(settings)) as url, httpx.Client(base_url=url) as http:
        for kind, reason in BROKEN.items():
            broken = write_broken_model(kind, tmp_path / "broken.npz", versions[1])
            os.replace(broken, path)
            got = http.post("/admin/reload", headers=admin)
            assert got.status_code == 409, (kind, got.text)
            detail = got.json()["detail"]
            assert f"{path}: " in detail or f"{path} is" in detail, detail
            assert reason in detail, detail
            assert http.get("/health").json()["model_version"] == versions[0].model_version
            assert http.get("/recomendations/user/1000", params={"k": 3}).status_code == 200


def test_lists_left_to_compute_use_every_core_by_default(
    tmp_path: Path, versions: list[artifact.Artifact]
) -> None:
    path = artifact.save(versions[0], tmp_path / "model.npz")
    assert load_recommender(path, Settings(model_path=path))._lists.threads == os.cpu_count()
    one = Settings(model_path=path, precompute_threads=1)
    assert load_recommender(path, one)._lists.threads == 1

"""Shared fixtures: small real data sets, trained artifacts and a real HTTP server."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
import uvicorn
from fastapi import FastAPI

from streamrec import data
from streamrec.data import events
from streamrec.model import artifact
from streamrec.model.als import ALSParams, fit_als
from streamrec.ranking.blend import blend_scores
from streamrec.serving.api import create_app
from streamrec.serving.overlay import Overlay
from streamrec.serving.recommender import Recommendation, Recommender
from streamrec.serving.server import uvicorn_config
from streamrec.settings import Settings
from tests.hand_made import HAND_MADE

ROOT = Path(__file__).resolve().parent.parent


def write_csv(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def sessions_frame(rows: list[tuple[int, str, int, int]]) -> pd.DataFrame:
    """A sessions frame as `data.read_sessions` returns it, from (user, streamer, start, stop)."""
    users, names, starts, stops = zip(*rows, strict=True)
    return pd.DataFrame(
        {
            "user_id": np.array(users, dtype=np.int64),
            "streamer_name": pd.Categorical(names, categories=sorted(set(names))),
            "time_start": np.array(starts, dtype=np.int32),
            "time_stop": np.array(stops, dtype=np.int32),
        }
    )


def checkerboard_rows(users: int = 40, streamers: int = 20) -> list[tuple[int, str, int, int]]:
    """Even users watch even streamers, odd users odd ones; each user misses exactly one.

    The missed one, ``held_out(u)``, is the only unwatched streamer of the user's parity, so a
    model that learned the structure must rank it first once watched streamers are excluded.
    """
    rows = []
    for u in range(users):
        for i in range(u % 2, streamers, 2):
            if i != held_out(u, streamers):
                rows.append((1000 + u, f"s{i:02d}", 0, 3 + (u + i) % 4))
    return rows


def held_out(u: int, streamers: int = 20) -> int:
    return (2 * u + u % 2) % streamers


def fit_artifact(sessions: pd.DataFrame, **params: object) -> artifact.Artifact:
    interactions = data.build_interactions(sessions)
    als = ALSParams(**{"factors": 4, "iterations": 15, "regularization": 1.0, **params})
    user_factors, item_factors = fit_als(interactions.user_items, als)
    return artifact.from_training(
        interactions, user_factors, item_factors, engine="implicit", params=als.as_dict()
    )


@pytest.fixture(scope="session")
def checkerboard_artifact() -> artifact.Artifact:
    return fit_artifact(sessions_frame(checkerboard_rows()))


@pytest.fixture(scope="session")
def checkerboard_model_path(
    tmp_path_factory: pytest.TempPathFactory, checkerboard_artifact: artifact.Artifact
) -> Path:
    return artifact.save(checkerboard_artifact, tmp_path_factory.mktemp("model") / "model.npz")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """Run ``app`` as the service runs it, on a free loopback port; yield its base URL."""
    port = free_port()
    settings = getattr(app.state, "settings", None) or Settings()
    config = uvicorn_config(app, settings, host="127.0.0.1", port=port, log_level="error")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def api(checkerboard_model_path: Path) -> Iterator[httpx.Client]:
    """A client of the real server, serving the checkerboard model with its lists ready."""
    settings = Settings(
        model_path=checkerboard_model_path, reload_interval=0, api_key="", admin_token=""
    )
    with serving(create_app(settings)) as url, httpx.Client(base_url=url) as http:
        wait_for_lists(http)
        yield http


def wait_for_state(model: Recommender, state: str, timeout: float = 10) -> None:
    """Wait until ``model``'s precomputed lists reach ``state`` (they change in a thread)."""
    deadline = time.monotonic() + timeout
    while model.precompute_state != state:
        if time.monotonic() > deadline:
            raise AssertionError(f"lists never became {state!r}: {model.precompute_state!r}")
        time.sleep(0.001)


def wait_for_lists(http: httpx.Client, state: str = "ready", timeout: float = 10) -> dict:
    """Poll ``GET /model`` until the precomputed lists reach ``state``; return its ``serving``."""
    deadline = time.monotonic() + timeout
    while (info := http.get("/model").json()["serving"])["precompute_state"] != state:
        if time.monotonic() > deadline:
            raise AssertionError(f"lists never became {state!r}, last seen: {info}")
        time.sleep(0.01)
    return info


class FailingGate(threading.Event):
    """A precompute gate that raises: the precomputation fails as on a real error."""

    def wait(self, timeout: float | None = None) -> bool:
        raise MemoryError("no room for the lists")


@pytest.fixture(scope="module")
def recommender(checkerboard_artifact) -> Recommender:
    """The checkerboard model served with the default settings (its lists precomputed)."""
    return Recommender(checkerboard_artifact)


@pytest.fixture(scope="module")
def exact(checkerboard_artifact) -> Recommender:
    """Scores the whole catalogue for every request: the reference for the fast paths."""
    return Recommender(checkerboard_artifact, top_n=0)


def assert_same_ranking(
    rec: Recommender,
    user: int,
    got: Recommendation,
    want: Recommendation,
    weight: float | None = None,
) -> None:
    """Equal lists, except that items whose scores differ by float rounding may swap.

    Scores are blended with ``weight`` (default: the recommender's ``repeat_weight``).

    Precomputed lists come from matrix-matrix products, requests from matrix-vector ones;
    the checkerboard's many near-equal scores (an even user's odd streamers) expose that.
    """
    assert (got.source, got.unknown_streamers, len(got.items)) == (
        want.source,
        want.unknown_streamers,
        len(want.items),
    )
    row = rec.user_index(user)
    if row is None or got.items == want.items:
        assert got.items == want.items
        return
    blended = blended_scores(rec, row, rec.repeat_weight if weight is None else weight)
    index = {name: i for i, name in enumerate(rec.artifact.streamer_names)}

    def scores(items: list[str]) -> np.ndarray:
        return blended[[index[n] for n in items]]

    np.testing.assert_allclose(scores(got.items), scores(want.items), atol=1e-5)


def blended_scores(rec: Recommender, row: int, weight: float) -> np.ndarray:
    """Every streamer's score for the user at ``row``, by the blend's formula."""
    als = rec.artifact.item_factors @ rec.artifact.user_factors[row]
    return blend_scores(als, rec.artifact.user_items[row], weight)


def batch(*lines: str) -> events.EventBatch:
    """An event batch of CSV lines, as ``POST /events`` reads one."""
    return events.from_csv("".join(f"{line}\n" for line in lines).encode())


@pytest.fixture
def fresh(checkerboard_artifact: artifact.Artifact) -> tuple[Recommender, Overlay]:
    """A checkerboard recommender with an empty watch-event overlay attached."""
    rec = Recommender(checkerboard_artifact)
    overlay = Overlay(popular_refresh_seconds=0)
    rec.attach(overlay)
    return rec, overlay


@pytest.fixture(scope="session")
def tiny_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generator's smallest preset (300 viewers, 60 streamers) as a sessions CSV."""
    from streamrec.data.synth import PRESETS, write_sessions

    path = tmp_path_factory.mktemp("tiny") / "tiny.csv"
    write_sessions(PRESETS["tiny"], path)
    return path


@pytest.fixture(scope="session")
def ranker_model_path(tmp_path_factory: pytest.TempPathFactory, tiny_csv: Path) -> Path:
    """An artifact trained as `python als_fit.py` trains: searched, with the live ranker."""
    from streamrec.training.pipeline import TrainingPlan
    from streamrec.training.run import train

    path = tmp_path_factory.mktemp("ranked") / "model.npz"
    train(tiny_csv, path, TrainingPlan(params=ALSParams(factors=8, iterations=6), budget_fits=3))
    return path


@pytest.fixture(scope="module")
def hand_made() -> pd.DataFrame:
    """The hand-made sessions with known answers (:data:`tests.hand_made.HAND_MADE`)."""
    return sessions_frame(HAND_MADE)


@pytest.fixture(scope="module")
def tiny_sessions(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    from streamrec.data.synth import PRESETS, write_sessions

    path = tmp_path_factory.mktemp("tiny") / "tiny.csv"
    write_sessions(PRESETS["tiny"], path)
    return data.read_sessions(path)[0]

"""The operations routes: readiness, and what ``/model`` shows of the training data."""

from __future__ import annotations

import threading

import httpx

from streamrec import data
from streamrec.model import artifact
from streamrec.model.als import ALSParams, fit_als
from streamrec.serving.api import create_app
from streamrec.serving.recommender import Recommender
from streamrec.settings import Settings
from tests.conftest import (
    FailingGate,
    checkerboard_rows,
    serving,
    sessions_frame,
    wait_for_lists,
)


def app_for(model: Recommender) -> object:
    return create_app(Settings(reload_interval=0), model)


def test_ready_is_503_until_the_lists_are_ready(checkerboard_artifact: artifact.Artifact) -> None:
    gate = threading.Event()
    model = Recommender(checkerboard_artifact, precompute_now=False, precompute_gate=gate)
    with serving(app_for(model)) as url, httpx.Client(base_url=url) as http:
        wait_for_lists(http, "running")
        waiting = http.get("/ready")
        assert http.head("/ready").status_code == 503
        assert http.get("/health").status_code == 200  # alive all the while
        gate.set()
        wait_for_lists(http)
        ready = http.get("/ready")
    assert waiting.status_code == 503 and waiting.headers["cache-control"] == "no-store"
    body = waiting.json()
    assert (body["status"], body["precompute_state"]) == ("not ready", "running")
    assert body["reason"].startswith("computing the precomputed lists (")
    assert body["model_version"] == model.model_version
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "reason": None,
        "model_version": model.model_version,
        "precompute_state": "ready",
    }


def test_ready_at_once_without_precomputed_lists(checkerboard_artifact: artifact.Artifact) -> None:
    model = Recommender(checkerboard_artifact, top_n=0, precompute_now=False)
    with serving(app_for(model)) as url:
        response = httpx.get(f"{url}/ready")
    assert response.status_code == 200 and response.json()["precompute_state"] == "off"


def test_ready_stays_503_when_the_lists_failed(checkerboard_artifact: artifact.Artifact) -> None:
    model = Recommender(checkerboard_artifact, precompute_now=False, precompute_gate=FailingGate())
    with serving(app_for(model)) as url, httpx.Client(base_url=url) as http:
        wait_for_lists(http, "failed")
        response = http.get("/ready")
        assert http.get("/recomendations/user/1000").status_code == 200  # scored in full
    assert response.status_code == 503
    assert "precomputing the lists failed" in response.json()["reason"]


def test_model_shows_the_data_file_name_only() -> None:
    """``/model`` showed the absolute path of the training data (issue 11)."""
    interactions = data.build_interactions(sessions_frame(checkerboard_rows()))
    params = ALSParams(factors=2, iterations=2)
    users, items = fit_als(interactions.user_items, params)
    meta = {"path": "/srv/private/team/sessions-2026.csv", "fingerprint": "ab12", "rows_read": 9}
    model = artifact.from_training(interactions, users, items, engine="implicit", data=meta)
    with serving(app_for(Recommender(model, top_n=0))) as url:
        shown = httpx.get(f"{url}/model").json()["data"]
    assert shown == {"path": "sessions-2026.csv", "fingerprint": "ab12", "rows_read": 9}
    assert model.metadata["data"]["path"] == meta["path"]  # the artifact keeps it

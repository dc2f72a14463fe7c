"""The optional API key of the read routes, and the back-off after wrong credentials."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from streamrec.serving.api import create_app
from streamrec.serving.security import FailureThrottle
from streamrec.settings import Settings
from tests.conftest import serving

KEY = "k3y-for-tests"


@pytest.fixture(scope="module")
def keyed(checkerboard_model_path: Path) -> Iterator[httpx.Client]:
    settings = Settings(model_path=checkerboard_model_path, reload_interval=0, api_key=KEY)
    with serving(create_app(settings)) as url, httpx.Client(base_url=url) as http:
        yield http


@pytest.mark.parametrize(
    "headers",
    [{"Authorization": f"Bearer {KEY}"}, {"X-API-Key": KEY}, {"authorization": f"bearer {KEY}"}],
)
def test_read_routes_take_the_key_either_way(keyed: httpx.Client, headers: dict) -> None:
    assert keyed.get("/recomendations/user/1000", headers=headers).status_code == 200
    body = {"user_ids": [1000], "k": 2}
    assert keyed.post("/recommendations/batch", json=body, headers=headers).status_code == 200
    assert keyed.get("/model", headers=headers).status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/recomendations/user/1000"),
        ("POST", "/recommendations"),
        ("GET", "/streamers/s00/similar"),
        ("GET", "/model"),
        ("GET", "/nowhere"),
    ],
)
def test_read_routes_need_the_key(keyed: httpx.Client, method: str, path: str) -> None:
    response = keyed.request(method, path)
    assert response.status_code == 401
    assert "X-API-Key: <api_key>" in response.json()["detail"]
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("path", ["/health", "/ready", "/metrics", "/openapi.json", "/docs"])
def test_probes_metrics_and_docs_stay_open(keyed: httpx.Client, path: str) -> None:
    assert keyed.get(path).status_code == 200


def test_openapi_declares_the_key(keyed: httpx.Client) -> None:
    spec = keyed.get("/openapi.json").json()
    assert set(spec["components"]["securitySchemes"]) == {"APIKeyHeader", "APIKeyBearer"}
    route = spec["paths"]["/recomendations/user/{user_id}"]["get"]
    assert route["security"] == [{"APIKeyHeader": []}, {"APIKeyBearer": []}]
    assert "401" in route["responses"] and "security" not in spec["paths"]["/health"]["get"]


def test_wrong_keys_are_throttled(checkerboard_model_path: Path) -> None:
    settings = Settings(model_path=checkerboard_model_path, reload_interval=0, api_key=KEY)
    with serving(create_app(settings)) as url, httpx.Client(base_url=url) as http:
        statuses = [
            http.get("/model", headers={"X-API-Key": "guess"}).status_code for _ in range(4)
        ]
        locked = http.get("/model", headers={"X-API-Key": KEY})
        assert http.get("/health").status_code == 200
    assert statuses == [401, 401, 401, 429]  # then 2 s, 4 s, ... up to 5 minutes
    assert locked.status_code == 429 and locked.headers["retry-after"] == "1"
    assert "too many failed API key attempts" in locked.json()["detail"]


@pytest.fixture
def admin(tmp_path: Path, checkerboard_model_path: Path) -> Iterator[httpx.Client]:
    model_path = tmp_path / "model.npz"
    shutil.copy(checkerboard_model_path, model_path)
    settings = Settings(model_path=model_path, admin_token="s3cret", reload_interval=0)
    with serving(create_app(settings)) as url, httpx.Client(base_url=url) as http:
        yield http


def test_admin_token_guesses_are_throttled(admin: httpx.Client) -> None:
    """Guesses ran unthrottled at 1,205/s (issue 11)."""
    wrong, right = {"Authorization": "Bearer guess"}, {"Authorization": "Bearer s3cret"}
    statuses = [admin.post("/admin/reload", headers=wrong).status_code for _ in range(3)]
    assert statuses == [401, 401, 401]
    locked = admin.post("/admin/reload", headers=right)  # even the right token waits
    assert locked.status_code == 429 and locked.headers["retry-after"] == "1"
    assert "too many failed admin token attempts" in locked.json()["detail"]
    time.sleep(1.05)
    assert admin.post("/admin/reload", headers=right).status_code == 200
    assert admin.post("/admin/reload", headers=wrong).status_code == 401  # counts from 0 again


def test_throttle_doubles_the_lock_out_and_forgets_on_success() -> None:
    now = [0.0]
    throttle = FailureThrottle(free=2, base_seconds=1, max_seconds=4, clock=lambda: now[0])
    waits = []
    for _ in range(5):
        throttle.failed("a")
        waits.append(throttle.retry_after("a"))
    assert waits == [0, 1, 2, 4, 4] and throttle.retry_after("b") == 0
    throttle.succeeded("a")
    assert throttle.retry_after("a") == 0


def test_throttle_remembers_a_bounded_number_of_clients() -> None:
    now = [0.0]
    throttle = FailureThrottle(free=1, base_seconds=10, max_clients=100, clock=lambda: now[0])
    for i in range(1000):
        throttle.failed(f"10.0.{i // 256}.{i % 256}")
        now[0] += 1
    assert len(throttle._clients) <= 100
    assert throttle.retry_after("10.0.3.231") > 0  # the latest is still locked out

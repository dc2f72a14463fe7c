from __future__ import annotations

import asyncio
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from streamrec.model import artifact
from streamrec.serving.api import create_app
from streamrec.serving.recommender import Recommender
from streamrec.settings import Settings
from tests.conftest import (
    checkerboard_rows,
    fit_artifact,
    held_out,
    serving,
    sessions_frame,
    wait_for_lists,
    wait_for_state,
)


@pytest.fixture(scope="module")
def client(checkerboard_model_path: Path) -> Iterator[httpx.Client]:
    settings = Settings(model_path=checkerboard_model_path, default_k=5)
    with serving(create_app(settings)) as url, httpx.Client(base_url=url) as http:
        wait_for_lists(http)
        yield http


@pytest.mark.parametrize("prefix", ["/recomendations", "/recommendations"])
def test_get_known_user_returns_personal_list(client: httpx.Client, prefix: str) -> None:
    response = client.get(f"{prefix}/user/1002", params={"k": 3})
    assert response.status_code == 200
    body = response.json()
    assert body["user_id"] == 1002 and isinstance(body["user_id"], int)
    assert body["source"] == "als"
    assert body["personal"][0] == f"s{held_out(2):02d}" and len(body["personal"]) == 3
    assert body["model_version"] == client.get("/health").json()["model_version"]


def test_get_uses_default_k_from_settings(client: httpx.Client) -> None:
    assert len(client.get("/recomendations/user/1002").json()["personal"]) == 5


def test_get_exclude_watched_false_allows_watched(client: httpx.Client) -> None:
    excluded = client.get("/recomendations/user/1000", params={"k": 20}).json()["personal"]
    included = client.get(
        "/recomendations/user/1000", params={"k": 20, "exclude_watched": "false"}
    ).json()["personal"]
    assert len(excluded) == 11 and len(included) == 20


def test_repeat_weight_blends_the_users_own_streamers_in(client: httpx.Client) -> None:
    def personal(exclude_watched: bool, **weight: float) -> list[str]:
        params = {"k": 20, "exclude_watched": str(exclude_watched).lower(), **weight}
        return client.get("/recomendations/user/1000", params=params).json()["personal"]

    # User 1000 watched the even streamers but s00: with the default weight they come first.
    assert set(personal(False)[:9]) == {f"s{i:02d}" for i in range(2, 20, 2)}
    assert personal(False, repeat_weight=0) != personal(False)
    assert personal(True, repeat_weight=0) == personal(True) == personal(True, repeat_weight=1e6)
    body = {"k": 20, "exclude_watched": False, "repeat_weight": 0}
    posted = client.post("/recomendations/user/1000", json=body).json()["personal"]
    assert posted == personal(False, repeat_weight=0)
    batch = client.post("/recommendations/batch", json={**body, "user_ids": [1000]}).json()
    assert batch["results"][0]["personal"] == posted


def test_get_unknown_user_gets_popular_list(client: httpx.Client) -> None:
    response = client.get("/recomendations/user/424242", params={"k": 4})
    assert response.status_code == 200
    assert response.json()["source"] == "popular" and len(response.json()["personal"]) == 4


@pytest.mark.parametrize(
    ("path", "field", "message"),
    [
        ("/recomendations/user/abc", "user_id", "valid integer"),
        ("/recomendations/user/-1", "user_id", "greater than or equal to 0"),
        ("/recomendations/user/" + "9" * 40, "user_id", "less than or equal to"),
        ("/recomendations/user/1?k=0", "k", "greater than or equal to 1"),
        ("/recomendations/user/1?k=1001", "k", "less than or equal to 1000"),
        ("/recomendations/user/1?repeat_weight=-1", "repeat_weight", "greater than or equal"),
        ("/recomendations/user/1?repeat_weight=nan", "repeat_weight", "finite number"),
        ("/recomendations/user/1?repeat_weight=2e6", "repeat_weight", "less than or equal"),
        ("/recomendations/user/1?k=ten", "k", "valid integer"),
        ("/recomendations/user/1?exclude_watched=maybe", "exclude_watched", "valid boolean"),
    ],
)
def test_get_bad_input_is_422_naming_the_field(
    client: httpx.Client, path: str, field: str, message: str
) -> None:
    response = client.get(path)
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"][-1] == field and message in error["msg"]


def test_health_reports_model(client: httpx.Client) -> None:
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert (body["users"], body["streamers"], body["factors"]) == (40, 20, 4)


def test_openapi_documents_the_route_with_examples(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    route = spec["paths"]["/recomendations/user/{user_id}"]["get"]
    assert route["summary"] == "Top-K streamers for a user"
    assert route["responses"]["200"]["content"]["application/json"]["schema"]
    assert client.get("/docs").status_code == 200


# -- start-up: the port opens before the precomputed lists are ready ----------------------


@pytest.fixture(scope="module")
def random_artifact() -> artifact.Artifact:
    """A model of random tastes: clear score gaps, so every path ranks exactly alike."""
    rng = np.random.default_rng(0)
    rows = [
        (1000 + u, f"s{i:02d}", 0, int(rng.integers(1, 20)))
        for u in range(60)
        for i in rng.choice(30, size=8, replace=False).tolist()
    ]
    return fit_artifact(sessions_frame(rows), seed=1)


def answers(http: httpx.Client, users: range) -> list[list[list[str]]]:
    """Each user's lists: GET (k=5, k=10 with watched kept) and POST with an exclusion."""
    return [
        [
            http.get(f"/recomendations/user/{user}", params={"k": 5}).json()["personal"],
            http.get(
                f"/recomendations/user/{user}", params={"k": 10, "exclude_watched": False}
            ).json()["personal"],
            http.post(f"/recomendations/user/{user}", json={"k": 4, "exclude": ["s03"]}).json()[
                "personal"
            ],
        ]
        for user in users
    ]


def test_server_answers_alike_before_and_after_the_lists_are_ready(
    random_artifact: artifact.Artifact,
) -> None:
    gate = threading.Event()
    model = Recommender(random_artifact, precompute_now=False, precompute_gate=gate)
    with (
        serving(create_app(Settings(reload_interval=0), model)) as url,
        httpx.Client(base_url=url) as http,
    ):
        running = wait_for_lists(http, "running")  # the loader thread waits at the gate
        assert (running["precomputed_users"], running["precompute_seconds"]) == (0, 0)
        assert "streamrec_precomputed_users 0.0" in http.get("/metrics").text
        before = answers(http, range(1000, 1060))
        gate.set()
        ready = wait_for_lists(http)
        after = answers(http, range(1000, 1060))
        assert "streamrec_precomputed_users 60.0" in http.get("/metrics").text
    assert ready["precomputed_users"] == 60 and ready["precompute_seconds"] > 0
    assert before == after
    assert all(len(lists[0]) == 5 for lists in before)


def test_shutdown_while_the_lists_are_computed_does_not_wait_for_them(
    random_artifact: artifact.Artifact,
) -> None:
    model = Recommender(random_artifact, precompute_now=False, precompute_gate=threading.Event())
    with serving(create_app(Settings(reload_interval=0), model)) as url:
        assert httpx.get(f"{url}/recomendations/user/1000").status_code == 200
        wait_for_state(model, "running")
        stopping = time.monotonic()
    assert time.monotonic() - stopping < 5
    assert model.precompute_state == "stopped"


def test_startup_with_missing_model_fails(tmp_path: Path) -> None:
    app = create_app(Settings(model_path=tmp_path / "missing.npz"))

    async def start() -> None:
        async with app.router.lifespan_context(app):
            pass

    with pytest.raises(artifact.ArtifactError, match="model file not found"):
        asyncio.run(start())


# -- POST with filters ----------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["/recomendations", "/recommendations"])
def test_post_user_ranks_only_available_and_counts_unknown(
    client: httpx.Client, prefix: str
) -> None:
    body = {"k": 5, "available": ["s00", "s01", "s02", "ghost"], "exclude": ["s01", "phantom"]}
    response = client.post(f"{prefix}/user/1000", json=body)
    assert response.status_code == 200
    # s02 is watched by user 1000, s01 excluded: only its held-out s00 remains.
    assert response.json() == {
        "user_id": 1000,
        "personal": ["s00"],
        "source": "als",
        "model_version": client.get("/health").json()["model_version"],
        "unknown_streamers": 2,
    }


def test_post_user_defaults_match_get(client: httpx.Client) -> None:
    posted = client.post("/recomendations/user/1002", json={}).json()
    got = client.get("/recomendations/user/1002").json()
    assert posted["personal"] == got["personal"] and len(got["personal"]) == 5


def test_post_unknown_user_gets_popular_among_available(client: httpx.Client) -> None:
    popular = client.get("/recomendations/user/7", params={"k": 20}).json()["personal"]
    live = popular[3:9]
    body = {"k": 3, "available": live, "exclude": [live[1]]}
    result = client.post("/recomendations/user/7", json=body).json()
    assert result["personal"] == [live[0], live[2], live[3]] and result["source"] == "popular"


# -- new viewers, batch, similar streamers, model -------------------------------------------


def test_post_history_folds_the_viewer_in(client: httpx.Client) -> None:
    history = [{"streamer": f"s{i:02d}", "watch_time": 3} for i in range(2, 20, 2)]
    history.append({"streamer": "ghost", "watch_time": 1})
    result = client.post("/recommendations", json={"history": history, "k": 1}).json()
    assert result["personal"] == ["s00"]  # the one even streamer not in the history
    assert (result["source"], result["unknown_streamers"]) == ("als-foldin", 1)


@pytest.mark.parametrize("history", [[], [{"streamer": "ghost", "watch_time": 2}]])
def test_post_history_without_known_streamers_is_popular(
    client: httpx.Client, history: list[dict]
) -> None:
    result = client.post("/recommendations", json={"history": history, "k": 3}).json()
    popular = client.get("/recomendations/user/7", params={"k": 3}).json()["personal"]
    assert (result["personal"], result["source"]) == (popular, "popular")
    assert result["unknown_streamers"] == len(history)


def test_batch_returns_one_list_per_user_in_order(client: httpx.Client) -> None:
    users = [1002, 7, 1003, 1002]
    response = client.post("/recommendations/batch", json={"user_ids": users, "k": 2})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["user_id"] for r in results] == users
    assert [r["source"] for r in results] == ["als", "popular", "als", "als"]
    for r in results:
        single = client.get(f"/recomendations/user/{r['user_id']}", params={"k": 2}).json()
        assert r["personal"] == single["personal"]


def test_similar_streamers(client: httpx.Client) -> None:
    response = client.get("/streamers/s04/similar", params={"k": 4})
    assert response.status_code == 200
    body = response.json()
    assert body["streamer"] == "s04" and len(body["similar"]) == 4 and "s04" not in body["similar"]
    assert all(int(name[1:]) % 2 == 0 for name in body["similar"])


def test_similar_unknown_streamer_is_404(client: httpx.Client) -> None:
    response = client.get("/streamers/nobody/similar")
    assert response.status_code == 404
    assert response.json() == {"detail": "streamer 'nobody' is not in the model"}


def test_model_reports_metadata_and_serving(client: httpx.Client) -> None:
    body = client.get("/model").json()
    assert body["model_version"] == client.get("/health").json()["model_version"]
    assert body["engine"] == "implicit" and body["params"]["factors"] == 4
    assert body["counts"] == {"users": 40, "streamers": 20, "nonzeros": 360, "factors": 4}
    assert body["evaluation"] is None and body["created_at"].endswith("Z")
    assert body["serving"]["precomputed_users"] == 40
    assert body["serving"]["precompute_state"] == "ready"
    assert body["serving"]["repeat_weight"] == 10.0
    assert body["serving"]["live_ranking"] == "blend"


def test_a_model_with_a_live_ranker_serves_it_over_http(ranker_model_path: Path) -> None:
    settings = Settings(model_path=ranker_model_path)
    model = artifact.load(ranker_model_path)
    user, names = int(model.user_ids[3]), model.streamer_names[::2].tolist()
    with serving(create_app(settings)) as url, httpx.Client(base_url=url) as http:
        body = http.get("/model").json()
        assert body["serving"]["live_ranking"] == "ranker"
        validation = body["evaluation"]["validation"]
        assert {"popularity", "chosen"} <= set(validation["ndcg@10 new"])
        assert validation["trials"][0]["number"] == 0
        expected = Recommender(model).recommend(user, 6, exclude_watched=False).items
        got = http.get(f"/recomendations/user/{user}", params={"k": 6, "exclude_watched": False})
        assert got.status_code == 200 and got.json()["personal"] == expected
        posted = http.post(
            f"/recomendations/user/{user}",
            json={"k": 4, "exclude_watched": False, "available": names},
        )
        assert posted.status_code == 200 and set(posted.json()["personal"]) <= set(names)


def test_metrics_count_requests_sources_and_model(client: httpx.Client) -> None:
    client.get("/recomendations/user/7")
    client.get("/recomendations/user/1002")
    text = client.get("/metrics").text
    version = client.get("/health").json()["model_version"]
    assert 'http_requests_total{handler="/recomendations/user/{user_id}",method="GET"' in text
    assert 'http_request_duration_seconds_bucket{handler="/recomendations/user/{user_id}"' in text
    assert 'streamrec_recommendations_total{endpoint="user",source="popular"}' in text
    assert 'streamrec_recommendations_total{endpoint="user",source="als"}' in text
    assert 'streamrec_model_info{created_at="' in text and f'model_version="{version}"' in text
    assert 'streamrec_model_loads_total{result="success"} 1.0' in text
    assert "streamrec_precomputed_users 40.0" in text


# -- limits: every one is a 422 naming the field ----------------------------------------------


def names(n: int) -> list[str]:
    return [f"n{i}" for i in range(n)]


@pytest.mark.parametrize(
    ("path", "body", "loc", "message"),
    [
        ("/recomendations/user/1", {"k": 0}, ["body", "k"], "greater than or equal to 1"),
        ("/recomendations/user/1", {"k": 1001}, ["body", "k"], "less than or equal to 1000"),
        ("/recomendations/user/1", {"available": names(10_001)}, ["body", "available"], "10000"),
        ("/recomendations/user/1", {"exclude": names(10_001)}, ["body", "exclude"], "10000"),
        ("/recomendations/user/1", {"availble": []}, ["body", "availble"], "Extra inputs"),
        ("/recomendations/user/1", {"available": "s00"}, ["body", "available"], "valid list"),
        (
            "/recommendations",
            {"history": [{"streamer": "s00", "watch_time": 1}] * 10_001},
            ["body", "history"],
            "10000",
        ),
        (
            "/recommendations",
            {"history": [{"streamer": "s00", "watch_time": 0}]},
            ["body", "history", 0, "watch_time"],
            "greater than 0",
        ),
        ("/recommendations", {"k": 3}, ["body", "history"], "Field required"),
        ("/recommendations/batch", {"user_ids": [1] * 1001}, ["body", "user_ids"], "1000"),
        ("/recommendations/batch", {"user_ids": [-1]}, ["body", "user_ids", 0], "greater than"),
        ("/recommendations/batch", {"user_ids": [2**64]}, ["body", "user_ids", 0], "less than"),
        (
            "/recommendations/batch",
            {"user_ids": [1], "repeat_weight": -0.5},
            ["body", "repeat_weight"],
            "greater",
        ),
        ("/recomendations/user/1", {"repeat_weight": "x"}, ["body", "repeat_weight"], "number"),
    ],
)
def test_post_bad_input_is_422_naming_the_field(
    client: httpx.Client, path: str, body: dict, loc: list, message: str
) -> None:
    response = client.post(path, json=body)
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == loc and message in error["msg"]


@pytest.mark.parametrize("value", [b"NaN", b"Infinity", b"-1"])
def test_watch_time_must_be_a_positive_finite_number(client: httpx.Client, value: bytes) -> None:
    content = b'{"history": [{"streamer": "s00", "watch_time": ' + value + b"}]}"
    response = client.post(
        "/recommendations", content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "history", 0, "watch_time"]


def test_malformed_json_is_422(client: httpx.Client) -> None:
    response = client.post(
        "/recomendations/user/1", content=b'{"k": ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"


def test_similar_k_out_of_range_is_422(client: httpx.Client) -> None:
    response = client.get("/streamers/s00/similar", params={"k": 1001})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "k"]


def test_body_over_one_mebibyte_is_422(client: httpx.Client) -> None:
    big = b'{"available": ["' + b"x" * (1 << 20) + b'"]}'
    response = client.post(
        "/recomendations/user/1", content=big, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body"]
    assert error["msg"] == f"Request body must be at most 1048576 bytes, got {len(big)}"


def test_chunked_body_over_one_mebibyte_is_422(client: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"available": ["'
        for _ in range(20):
            yield b"x" * 65536
        yield b'"]}'

    response = client.post(
        "/recomendations/user/1", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert "at most 1048576 bytes" in response.json()["detail"][0]["msg"]


def test_body_just_under_the_limit_is_accepted(client: httpx.Client) -> None:
    body = {"available": ["s00"], "exclude": ["x" * ((1 << 20) - 100)]}
    response = client.post("/recomendations/user/1000", json=body)
    assert response.status_code == 200 and response.json()["unknown_streamers"] == 1


# -- admin ---------------------------------------------------------------------------------


def test_admin_reload_is_404_without_a_configured_token(client: httpx.Client) -> None:
    assert client.post("/admin/reload").status_code == 404
    assert "/admin/reload" not in client.get("/openapi.json").json()["paths"]


@pytest.fixture
def admin(tmp_path: Path, checkerboard_model_path: Path) -> Iterator[tuple[httpx.Client, Path]]:
    model_path = tmp_path / "model.npz"
    shutil.copy(checkerboard_model_path, model_path)
    settings = Settings(model_path=model_path, admin_token="s3cret", reload_interval=0)
    with serving(create_app(settings)) as url, httpx.Client(base_url=url) as http:
        yield http, model_path


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret"}]
)
def test_admin_reload_needs_the_bearer_token(
    admin: tuple[httpx.Client, Path], headers: dict[str, str]
) -> None:
    http, _ = admin
    response = http.post("/admin/reload", headers=headers)
    assert response.status_code == 401
    assert "Authorization: Bearer <admin_token>" in response.json()["detail"]
    assert response.headers["www-authenticate"] == "Bearer"


def test_admin_reload_swaps_in_the_new_model(
    admin: tuple[httpx.Client, Path], checkerboard_artifact: artifact.Artifact
) -> None:
    http, model_path = admin
    old = http.get("/health").json()["model_version"]
    new = fit_artifact(sessions_frame(checkerboard_rows()), seed=7)
    artifact.save(new, model_path)
    response = http.post("/admin/reload", headers={"Authorization": "Bearer s3cret"})
    assert response.status_code == 200
    body = response.json()
    assert (body["model_version"], body["previous_version"]) == (new.model_version, old)
    assert http.get("/health").json()["model_version"] == new.model_version


def test_admin_reload_of_a_broken_file_keeps_the_old_model(
    admin: tuple[httpx.Client, Path],
) -> None:
    http, model_path = admin
    old = http.get("/health").json()["model_version"]
    model_path.write_bytes(b"PK\x03\x04 not really a zip")
    response = http.post("/admin/reload", headers={"Authorization": "Bearer s3cret"})
    assert response.status_code == 409
    assert "was not loaded" in response.json()["detail"]
    assert f"still serving model {old}" in response.json()["detail"]
    assert http.get("/recomendations/user/1002").status_code == 200
    assert http.get("/health").json()["model_version"] == old
    assert 'streamrec_model_loads_total{result="failure"} 1.0' in http.get("/metrics").text


def test_openapi_documents_every_route_with_examples(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    for path, method in [
        ("/recomendations/user/{user_id}", "post"),
        ("/recommendations/user/{user_id}", "post"),
        ("/recommendations", "post"),
        ("/recommendations/batch", "post"),
        ("/streamers/{name}/similar", "get"),
        ("/model", "get"),
        ("/metrics", "get"),
    ]:
        route = spec["paths"][path][method]
        assert route["summary"], path
    schemas = spec["components"]["schemas"]
    for name in ("UserRequest", "HistoryRequest", "BatchRequest"):
        assert schemas[name]["examples"], name

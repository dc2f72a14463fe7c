"""Who is live, over real HTTP: the /live routes, their token and limits, and live_only lists."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from streamrec.model import artifact
from streamrec.serving.api import create_app
from streamrec.settings import Settings
from tests.conftest import serving, wait_for_lists

TOKEN = "l1ve-t0ken"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
LIVE = ["s00", "s03", "s05", "s06", "s11", "s12", "ghost"]
KNOWN_LIVE = set(LIVE) - {"ghost"}


@contextmanager
def server(model_path: Path, **settings: object) -> Iterator[httpx.Client]:
    options = {"model_path": model_path, "default_k": 5, "reload_interval": 0, **settings}
    # With a live_token the server keeps an event log: in a folder of its own, not data/.
    with tempfile.TemporaryDirectory(prefix="live-events-") as events:
        options.setdefault("event_log_dir", Path(events))
        with _serving(options) as http:
            yield http


@contextmanager
def _serving(options: dict[str, object]) -> Iterator[httpx.Client]:
    with serving(create_app(Settings(**options))) as url, httpx.Client(base_url=url) as http:
        key = options.get("api_key")
        with httpx.Client(base_url=url, headers={"X-API-Key": key} if key else {}) as probe:
            wait_for_lists(probe)
        yield http


@pytest.fixture(scope="module")
def live(checkerboard_model_path: Path) -> Iterator[httpx.Client]:
    """A server with the live routes on; each test writes the set it needs."""
    with server(checkerboard_model_path, live_token=TOKEN, live_max_streamers=1000) as http:
        yield http


def put(http: httpx.Client, streamers: list[str]) -> dict:
    response = http.put("/live", json={"streamers": streamers}, headers=AUTH)
    assert response.status_code == 200, response.text
    return response.json()


# -- replace, deltas, read --------------------------------------------------------------------


def test_put_replaces_the_set_and_get_reads_it(live: httpx.Client) -> None:
    put(live, ["s01"])
    body = put(live, LIVE)
    assert body["status"] == "live" and body["streamers"] == 7
    assert (body["added"], body["removed"], body["unknown_streamers"]) == (7, 1, 1)
    assert body["ttl_seconds"] is None and body["changed_at"] == body["written_at"]
    assert body["changed_at"].endswith("Z") and body["names"] is None
    read = live.get("/live", params={"names": "true"}).json()
    assert read["names"] == sorted(LIVE) and read["version"] == body["version"]
    assert live.get("/live").json()["names"] is None
    again = put(live, list(reversed(LIVE)))  # the same set: refreshed, not changed
    assert (again["version"], again["changed_at"]) == (body["version"], body["changed_at"])
    assert again["written_at"] >= body["written_at"]


def test_patch_applies_deltas(live: httpx.Client) -> None:
    version = put(live, ["s00", "s01"])["version"]
    response = live.patch(
        "/live", json={"online": ["s02", "s01"], "offline": ["s00", "nobody"]}, headers=AUTH
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["streamers"], body["added"], body["removed"]) == (2, 1, 1)
    assert body["version"] == version + 1
    assert live.get("/live", params={"names": True}).json()["names"] == ["s01", "s02"]


@pytest.mark.parametrize(
    ("method", "body", "loc", "message"),
    [
        ("PATCH", {"online": ["a", "b"], "offline": ["b"]}, ["body", "offline"], "both online"),
        ("PUT", {"streamers": ["a"] * 1001}, ["body", "streamers"], "at most 1000 items"),
        ("PATCH", {"offline": ["a"] * 1001}, ["body", "offline"], "at most 1000 items"),
        ("PUT", {"streamers": ["x" * 101]}, ["body", "streamers", 0], "at most 100 char"),
        ("PUT", {"streamers": [""]}, ["body", "streamers", 0], "at least 1 char"),
        ("PUT", {"streamers": [3]}, ["body", "streamers", 0], "valid string"),
        ("PUT", {"streamers": "s00"}, ["body", "streamers"], "valid list"),
        ("PUT", {}, ["body", "streamers"], "Field required"),
        ("PATCH", {"onlin": []}, ["body", "onlin"], "Extra inputs"),
    ],
)
def test_bad_writes_are_422_naming_the_field(
    live: httpx.Client, method: str, body: dict, loc: list, message: str
) -> None:
    response = live.request(method, "/live", json=body, headers=AUTH)
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == loc and message in error["msg"], error


def test_a_patch_past_the_bound_is_422_and_changes_nothing(live: httpx.Client) -> None:
    before = put(live, [f"n{i}" for i in range(999)])
    response = live.patch("/live", json={"online": ["x", "y"]}, headers=AUTH)
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "online"]
    assert "would hold 1001 streamers, more than live_max_streamers (1000)" in error["msg"]
    assert live.get("/live").json()["version"] == before["version"]


def test_live_bodies_may_exceed_the_other_routes_limit(checkerboard_model_path: Path) -> None:
    names = [f"streamer_{i:06d}" for i in range(100_000)]  # 1.8 MB of JSON
    with server(checkerboard_model_path, live_token=TOKEN) as http:
        body = put(http, names)
        assert (body["streamers"], body["unknown_streamers"]) == (100_000, 100_000)
        big = b'{"streamers": ["' + b"x" * 3_300_000 + b'"]}'
        refused = http.put("/live", content=big, headers=AUTH | {"content-type": "text/json"})
        assert refused.status_code == 422
        assert "at most 3200000 bytes" in refused.json()["detail"][0]["msg"]
        posted = http.post("/recommendations/batch", json={"user_ids": [1], "exclude": names})
        assert posted.status_code == 422  # 1 MiB there
        assert "at most 1048576 bytes" in posted.json()["detail"][0]["msg"]


# -- the token --------------------------------------------------------------------------------


def test_writes_are_off_without_a_token(checkerboard_model_path: Path) -> None:
    with server(checkerboard_model_path) as http:
        for method in ("PUT", "PATCH"):
            response = http.request(method, "/live", json={"streamers": []}, headers=AUTH)
            assert response.status_code == 404
            assert (
                response.json()["detail"]
                == f"{method} /live is off: the server has no live_token set"
            )
        assert http.get("/live").json()["status"] == "not fed"
        paths = http.get("/openapi.json").json()["paths"]
        assert set(paths["/live"]["put"]["responses"]) == {"404"}


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}]
)
def test_writes_need_the_live_token(live: httpx.Client, headers: dict) -> None:
    response = live.put("/live", json={"streamers": []}, headers=headers)
    assert response.status_code == 401
    assert "Authorization: Bearer <live_token>" in response.json()["detail"]
    assert response.headers["www-authenticate"] == "Bearer"
    live.put("/live", json={"streamers": []}, headers=AUTH)  # resets the wrong-token count


def test_the_token_is_checked_before_the_body_is_read(live: httpx.Client) -> None:
    """Checked in a route dependency, it came after FastAPI had decoded the body."""
    broken = {"content-type": "application/json"}
    response = live.put("/live", content=b'{"streamers": [', headers=broken)
    assert response.status_code == 401
    response = live.put("/live", content=b'{"streamers": [', headers=broken | AUTH)
    assert response.status_code == 422 and response.json()["detail"][0]["type"] == "json_invalid"


def test_wrong_live_tokens_are_throttled(checkerboard_model_path: Path) -> None:
    with server(checkerboard_model_path, live_token=TOKEN) as http:
        wrong = {"Authorization": "Bearer guess"}
        statuses = [http.patch("/live", json={}, headers=wrong).status_code for _ in range(3)]
        locked = http.patch("/live", json={}, headers=AUTH)  # even the right token waits
    assert statuses == [401, 401, 401]
    assert locked.status_code == 429 and locked.headers["retry-after"] == "1"
    assert "too many failed live token attempts" in locked.json()["detail"]


def test_with_an_api_key_writes_take_the_live_token_and_reads_the_key(
    checkerboard_model_path: Path,
) -> None:
    with server(checkerboard_model_path, live_token=TOKEN, api_key="read-key") as http:
        assert http.put("/live", json={"streamers": ["s00"]}, headers=AUTH).status_code == 200
        assert http.get("/live").status_code == 401
        read = http.get("/live", headers={"X-API-Key": "read-key"})
        assert read.status_code == 200 and read.json()["streamers"] == 1
        spec = http.get("/openapi.json").json()["paths"]["/live"]
        assert spec["put"]["security"] == [{"live_token": []}]
        assert {"APIKeyHeader": []} in spec["get"]["security"]


# -- live_only lists ---------------------------------------------------------------------------


def personal(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return response.json()["personal"]


@pytest.mark.parametrize("user", [1000, 1001, 424242])
def test_live_only_lists_contain_only_live_streamers(live: httpx.Client, user: int) -> None:
    put(live, LIVE)
    params = {"k": 20, "live_only": "true"}
    got = personal(live.get(f"/recomendations/user/{user}", params=params))
    # The same as sending the names: the server built `available` from its live set.
    sent = {"k": 20, "available": LIVE}
    assert got == personal(live.post(f"/recomendations/user/{user}", json=sent))
    assert got and set(got) <= KNOWN_LIVE
    kept = personal(
        live.get(f"/recomendations/user/{user}", params=params | {"exclude_watched": "false"})
    )
    assert sorted(kept) == sorted(KNOWN_LIVE)
    posted = live.post(f"/recomendations/user/{user}", json={"k": 20, "live_only": True})
    assert personal(posted) == got and posted.json()["unknown_streamers"] == 0
    batch = live.post("/recommendations/batch", json={"user_ids": [user, 7], "live_only": True})
    assert batch.status_code == 200
    assert all(set(r["personal"]) <= KNOWN_LIVE for r in batch.json()["results"])
    assert batch.json()["results"][0]["personal"] == got[:5]


def test_live_only_intersects_available_and_keeps_exclude(live: httpx.Client) -> None:
    put(live, LIVE)
    body = {
        "k": 20,
        "live_only": True,
        "available": ["s00", "s03", "s04", "phantom"],
        "exclude": ["s03"],
    }
    response = live.post("/recomendations/user/7", json=body)
    assert personal(response) == ["s00"] and response.json()["unknown_streamers"] == 1
    history = [{"streamer": "s02", "watch_time": 3}]
    folded = live.post("/recommendations", json={"history": history, "k": 20, "live_only": True})
    assert folded.status_code == 200 and set(folded.json()["personal"]) <= KNOWN_LIVE


def test_lists_without_live_only_are_unchanged(live: httpx.Client) -> None:
    before = personal(live.get("/recomendations/user/1002"))
    put(live, ["s01"])
    assert personal(live.get("/recomendations/user/1002")) == before
    assert personal(live.get("/recomendations/user/1002", params={"live_only": "false"})) == before
    assert len(before) == 5 and before != ["s01"]


def test_an_empty_live_set_gives_empty_lists(live: httpx.Client) -> None:
    put(live, [])
    assert personal(live.get("/recomendations/user/1000", params={"live_only": True})) == []
    put(live, ["ghost"])  # the model knows nobody live
    assert personal(live.get("/recomendations/user/7", params={"live_only": True})) == []


def test_live_only_before_the_set_is_fed_is_409(checkerboard_model_path: Path) -> None:
    with server(checkerboard_model_path, live_token=TOKEN, live_only_default=True) as http:
        response = http.get("/recomendations/user/1000")  # the default asks for it
        assert response.status_code == 409
        assert "none has been fed since the server started" in response.json()["detail"]
        for path, body in [
            ("/recomendations/user/1000", {}),
            ("/recommendations/batch", {"user_ids": [1]}),
        ]:
            assert http.post(path, json=body).status_code == 409
        assert (
            len(personal(http.get("/recomendations/user/1000", params={"live_only": False}))) == 5
        )
        put(http, ["s00"])
        assert personal(http.get("/recomendations/user/1000")) == ["s00"]


def test_streamers_go_offline_when_the_ttl_runs_out(checkerboard_model_path: Path) -> None:
    with server(checkerboard_model_path, live_token=TOKEN, live_ttl=0.5) as http:
        put(http, ["s00", "s02"])
        time.sleep(0.25)
        refreshed = time.monotonic()
        http.patch("/live", json={"online": ["s02"]}, headers=AUTH)
        time.sleep(0.3)  # s00's 0.5 s are up; s02, refreshed, has 0.2 s left
        params = {"live_only": True, "exclude_watched": False}
        live_now = personal(http.get("/recomendations/user/1000", params=params))
        if time.monotonic() - refreshed < 0.5:  # else the machine stalled past s02's TTL too
            assert live_now == ["s02"]
        assert http.get("/live").json()["ttl_seconds"] == 0.5
        time.sleep(0.25)
        read = http.get("/live").json()
        assert (read["status"], read["streamers"]) == ("expired", 0)
        response = http.get("/recomendations/user/1000", params=params)
        assert response.status_code == 409
        assert "time-to-live (live_ttl=0.5 s) ran out" in response.json()["detail"]
        put(http, ["s00"])
        assert personal(http.get("/recomendations/user/1000", params=params)) == ["s00"]


def test_live_only_with_the_live_ranker(ranker_model_path: Path) -> None:
    names = artifact.load(ranker_model_path).streamer_names.tolist()
    user = int(artifact.load(ranker_model_path).user_ids[3])
    live_names = names[::3]
    with server(ranker_model_path, live_token=TOKEN) as http:
        assert http.get("/model").json()["serving"]["live_ranking"] == "ranker"
        put(http, live_names)
        params = {"k": 10, "exclude_watched": "false", "live_only": "true"}
        got = personal(http.get(f"/recomendations/user/{user}", params=params))
        assert len(got) == 10 and set(got) <= set(live_names)
        sent = {"k": 10, "exclude_watched": False, "available": live_names}
        assert got == personal(http.post(f"/recomendations/user/{user}", json=sent))
        batch = http.post(
            "/recommendations/batch",
            json={"user_ids": [user], "k": 10, "exclude_watched": False, "live_only": True},
        )
        assert batch.json()["results"][0]["personal"] == got


def test_metrics_show_the_live_set(live: httpx.Client) -> None:
    put(live, LIVE)
    text = live.get("/metrics").text
    assert "streamrec_live_streamers 7.0" in text
    (age,) = [line for line in text.splitlines() if line.startswith("streamrec_live_change_age")]
    assert 0 <= float(age.split()[1]) < 5

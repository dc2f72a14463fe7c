"""POST /events over real HTTP: validation, the log, the next request's lists, restarts."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from streamrec.model.als import ALSParams
from streamrec.serving.api import create_app
from streamrec.settings import Settings
from streamrec.training.run import train
from tests.conftest import checkerboard_rows, held_out, serving, wait_for_lists, write_csv

TOKEN = "ev3nt-t0ken"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CSV = {**AUTH, "Content-Type": "text/csv"}
TARGET = f"s{held_out(0):02d}"  # user 1000's best unwatched streamer


@contextmanager
def server(model_path: Path, log_dir: Path, **settings: object) -> Iterator[httpx.Client]:
    options = {
        "model_path": model_path,
        "default_k": 5,
        "reload_interval": 0,
        "live_token": TOKEN,
        "event_log_dir": log_dir,
        **settings,
    }
    with serving(create_app(Settings(**options))) as url, httpx.Client(base_url=url) as http:
        wait_for_lists(http)
        yield http


def post(http: httpx.Client, text: str, status: int = 200) -> dict:
    response = http.post("/events", content=text.encode(), headers=CSV)
    assert response.status_code == status, response.text
    return response.json()


def segments(folder: Path) -> str:
    return "".join(p.read_text() for p in sorted(folder.glob("events-*")))


def test_events_are_off_without_a_token(checkerboard_model_path: Path, tmp_path: Path) -> None:
    with server(checkerboard_model_path, tmp_path, live_token="") as http:
        response = http.post(
            "/events", content=b"1,2,a,3,4\n", headers={"Content-Type": "text/csv"}
        )
        assert response.status_code == 404 and "live_token" in response.json()["detail"]
    assert not any(tmp_path.iterdir())  # no log without the route


def test_an_accepted_event_is_logged_and_shows_in_the_next_list(
    checkerboard_model_path: Path, tmp_path: Path
) -> None:
    with server(checkerboard_model_path, tmp_path) as http:
        assert http.get("/recomendations/user/1000", params={"k": 1}).json()["personal"] == [TARGET]
        body = post(
            http,
            f"user_id,stream_id,streamer_name,time_start,time_stop\n1000,7,{TARGET},10,14\n1000,8,ghost,10,\n5,5,s00,1\n",
        )
        assert body == {
            "rows": 3,
            "accepted": 2,
            "open": 1,
            "closed": 0,
            "dropped": {"wrong_field_count": 1},
            "unknown_streamers": 1,
            "overlay_events": 2,
        }
        assert f"1000,7,{TARGET},10,14\n1000,8,ghost,10,\n" == segments(tmp_path)
        listed = http.get("/recomendations/user/1000", params={"k": 5}).json()["personal"]
        assert TARGET not in listed
        again = post(http, f"1000,7,{TARGET},10,14\n1000,8,ghost,10,\n")  # a retried batch
        assert again["accepted"] == 0 and again["dropped"] == {"duplicate": 2}
        closed = post(http, "1000,8,ghost,10,12\n")
        assert (closed["accepted"], closed["closed"], closed["overlay_events"]) == (1, 1, 2)
        metrics = http.get("/metrics").text
        assert 'streamrec_event_rows_total{outcome="accepted"} 3.0' in metrics
        assert 'streamrec_event_rows_total{outcome="duplicate"} 2.0' in metrics
        assert 'streamrec_overlay{what="sessions"} 2.0' in metrics


def test_json_batches_and_folded_in_viewers(checkerboard_model_path: Path, tmp_path: Path) -> None:
    with server(checkerboard_model_path, tmp_path) as http:
        rows = [
            {"user_id": 5, "stream_id": 1, "streamer_name": "s00", "time_start": 1, "time_stop": 5},
            {"user_id": 5, "stream_id": 2, "streamer_name": "s02", "time_start": 1},
        ]
        response = http.post("/events", json={"sessions": rows}, headers=AUTH)
        assert response.status_code == 200 and response.json()["open"] == 1
        listed = http.get("/recomendations/user/5", params={"k": 3}).json()
        assert listed["source"] == "als-foldin"
        assert not {"s00", "s02"} & set(listed["personal"])


@pytest.mark.parametrize(
    ("content", "headers", "status", "message"),
    [
        (b"x,1,a,1,2\n7,1,a,5,1\n", CSV, 422, "bad_user_id=1, stop_before_start=1"),
        (b"", CSV, 422, "no rows"),
        (b'{"rows": []}', {**AUTH, "Content-Type": "application/json"}, 422, "sessions"),
        (b"1,2,a,3,4\n", {**AUTH, "Content-Type": "text/plain"}, 415, "text/csv"),
        (b"1,2,a,3,4\n", {"Authorization": "Bearer wrong", "Content-Type": "text/csv"}, 401, ""),
        (b"1,2,a,3,4\n" * 200, CSV, 422, ""),  # over events_max_body_bytes
        (b"1,2,a,3,4\n1,2,a,3,5\n1,2,a,3,6\n", CSV, 422, "at most 2"),
    ],
)
def test_bad_batches_are_refused_and_change_nothing(
    checkerboard_model_path: Path,
    tmp_path: Path,
    content: bytes,
    headers: dict[str, str],
    status: int,
    message: str,
) -> None:
    with server(
        checkerboard_model_path, tmp_path, events_max_body_bytes=1024, events_max_rows=2
    ) as http:
        response = http.post("/events", content=content, headers=headers)
        assert response.status_code == status, response.text
        assert message in response.text
        assert segments(tmp_path) == ""


def test_a_full_log_is_a_503_that_accepts_nothing(
    checkerboard_model_path: Path, tmp_path: Path
) -> None:
    with server(checkerboard_model_path, tmp_path, event_log_max_bytes=40) as http:
        post(http, "1000,1,s01,10,14\n")
        response = http.post(
            "/events", content=b"1000,2,s03,10,14\n1000,3,s05,10,14\n", headers=CSV
        )
        assert response.status_code == 503 and response.headers["Retry-After"]
        assert "s03" not in segments(tmp_path)
        assert post(http, "1000,1,s01,10,14\n")["dropped"] == {"duplicate": 1}


def test_a_restart_replays_the_log(checkerboard_model_path: Path, tmp_path: Path) -> None:
    with server(checkerboard_model_path, tmp_path) as http:
        post(http, f"1000,7,{TARGET},10,14\n1000,9,s06,12,\n")
    with server(checkerboard_model_path, tmp_path) as http:
        assert TARGET not in http.get("/recomendations/user/1000").json()["personal"]
        again = post(http, f"1000,7,{TARGET},10,14\n1000,9,s06,12,\n")
        assert again["accepted"] == 0 and again["overlay_events"] == 2
        assert 'streamrec_overlay{what="open_sessions"} 1.0' in http.get("/metrics").text


def test_a_reload_forgets_what_the_new_model_was_trained_on(tmp_path: Path) -> None:
    rows = checkerboard_rows()
    base = write_csv(
        tmp_path / "base.csv", [f"{u},{k},{n},{a},{b}" for k, (u, n, a, b) in enumerate(rows)]
    )
    model, log_dir = tmp_path / "model.npz", tmp_path / "events"
    params = ALSParams(factors=4, iterations=5, regularization=1.0)
    train(base, model, params)
    admin = {"Authorization": "Bearer adm1n"}
    options = {"admin_token": "adm1n", "event_log_retention_hours": 0}
    with server(model, log_dir, **options) as http:
        post(http, "1000,1,s01,10,14\n1001,2,s02,10,\n")
    with server(model, log_dir, **options) as http:
        post(http, "1002,3,s03,10,14\n")
    first, second = sorted(log_dir.glob("events-*.csv"))  # sealed at each shutdown
    sizes = {s.name: s.stat().st_size for s in (first, second)}
    with server(model, log_dir, **options) as http:
        assert post(http, "1003,4,s04,20,22\n")["overlay_events"] == 4  # 3 replayed
        train([base, log_dir], model, params)  # reads the sealed segments, not the open one
        response = http.post("/admin/reload", headers=admin)
        assert response.status_code == 200, response.text
        recorded = http.get("/model").json()["data"]["event_segments"]
        assert recorded == sizes
        # the closed sessions it was trained on are gone; the open one and the newer one stay
        assert post(http, "1004,5,s05,20,22\n")["overlay_events"] == 3
        assert 'streamrec_overlay{what="open_sessions"} 1.0' in http.get("/metrics").text
        # consumed and past the retention; the newest sealed one stays (it keeps the numbering)
        assert not first.exists() and second.exists()


def trained_on_base(tmp_path: Path) -> tuple[Path, Path, ALSParams]:
    """The base data of the checkerboard (a file) and a model trained on it."""
    rows = checkerboard_rows()
    base = write_csv(
        tmp_path / "base.csv", [f"{u},{k},{n},{a},{b}" for k, (u, n, a, b) in enumerate(rows)]
    )
    model, params = tmp_path / "model.npz", ALSParams(factors=4, iterations=5, regularization=1.0)
    train(base, model, params)
    return base, model, params


def overlay_metric(http: httpx.Client, what: str) -> float:
    prefix = f'streamrec_overlay{{what="{what}"}} '
    (line,) = [line for line in http.get("/metrics").text.splitlines() if line.startswith(prefix)]
    return float(line.removeprefix(prefix))


def test_a_restart_keeps_the_sessions_still_open_in_consumed_segments(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    base, model, params = trained_on_base(tmp_path)
    log_dir = tmp_path / "events"
    options = {"admin_token": "adm1n"}
    with server(model, log_dir) as http:
        post(http, f"1000,7,{TARGET},10,\n")  # A: open, never closed
        post(http, "1001,8,s03,10,\n")  # B: open, then closed
        assert post(http, "1001,8,s03,10,14\n")["closed"] == 1
        post(http, "1002,9,s04,11,13\n1003,10,s05,11,12\n1001,8,s03,10,\n")
    (segment,) = log_dir.glob("events-*.csv")  # sealed at shutdown; B's open row is logged once
    train([base, log_dir], model, params)  # skips A's and B's open rows, learns B's closed one
    caplog.set_level(logging.INFO, logger="streamrec.serving.watch_events")
    with server(model, log_dir, **options) as http:
        assert http.get("/model").json()["data"]["event_segments"] == {
            segment.name: segment.stat().st_size
        }
        assert TARGET not in http.get("/recomendations/user/1000").json()["personal"]
        assert overlay_metric(http, "open_sessions") == 1  # A; B stays closed
        assert overlay_metric(http, "sessions") == 1  # the closed ones are in the model
        again = post(http, f"1000,7,{TARGET},10,\n")  # a retry of A is held already
        assert again["accepted"] == 0 and again["dropped"] == {"duplicate": 1}
        assert "held 1 sessions still open in consumed segments and replayed 0" in caplog.text
        # a hot reload adds nothing: the overlay holds A already
        train([base, log_dir], model, params)
        response = http.post("/admin/reload", headers={"Authorization": "Bearer adm1n"})
        assert response.status_code == 200, response.text
        assert overlay_metric(http, "open_sessions") == 1
        assert overlay_metric(http, "sessions") == 1
        assert TARGET not in http.get("/recomendations/user/1000").json()["personal"]


def test_a_restored_open_session_is_closed_by_an_unconsumed_segment(tmp_path: Path) -> None:
    base, model, params = trained_on_base(tmp_path)
    log_dir = tmp_path / "events"
    with server(model, log_dir) as http:
        post(http, f"1000,7,{TARGET},10,\n1001,8,s03,10,\n")
    train([base, log_dir], model, params)  # consumes the first segment
    with server(model, log_dir) as http:
        assert overlay_metric(http, "open_sessions") == 2
        assert post(http, f"1000,7,{TARGET},10,14\n")["closed"] == 1  # into an unconsumed one
    with server(model, log_dir) as http:
        assert overlay_metric(http, "open_sessions") == 1  # 1001's; 1000's closed on replay
        assert overlay_metric(http, "sessions") == 2
        assert TARGET not in http.get("/recomendations/user/1000").json()["personal"]
        again = post(http, f"1000,7,{TARGET},10,\n")  # its late open row stays closed
        assert again["accepted"] == 0 and overlay_metric(http, "open_sessions") == 1


def test_an_idle_segment_is_sealed_for_training(
    checkerboard_model_path: Path, tmp_path: Path
) -> None:
    with server(checkerboard_model_path, tmp_path, event_log_segment_seconds=0.4) as http:
        post(http, "1000,1,s01,10,14\n")
        deadline = time.monotonic() + 5
        while not list(tmp_path.glob("events-*.csv")) and time.monotonic() < deadline:
            time.sleep(0.05)
        (sealed,) = tmp_path.glob("events-*.csv")
        assert sealed.read_text() == "1000,1,s01,10,14\n"

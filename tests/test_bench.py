"""Smoke tests of the benchmark harness (the benchmarks themselves are not tests)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from bench import _loadgen, _replay_data, live, replay, startup
from bench.__main__ import discover, main
from bench._floor import create_floor_app
from tests.conftest import serving, sessions_frame


def test_discover_finds_the_serving_benchmark_in_the_default_set() -> None:
    benchmarks = discover()
    assert benchmarks["serve"].DEFAULT is True
    assert all(callable(module.main) for module in benchmarks.values())


def test_unknown_benchmark_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["nope"])
    assert "unknown benchmark 'nope'" in capsys.readouterr().err


def test_python_load_generator_drives_the_floor_app() -> None:
    body = json.dumps({"user_id": 1, "personal": ["a"], "source": "als"}).encode()
    with serving(create_floor_app(body, body)) as url:
        host, port = url.removeprefix("http://").split(":")
        requests = [
            _loadgen.request_bytes(f"{host}:{port}", "GET", "/recomendations/user/1?k=10", None),
            _loadgen.request_bytes(f"{host}:{port}", "POST", "/recomendations/user/2", b'{"k": 3}'),
        ]
        result = _loadgen.run(host, int(port), requests, connections=2, seconds=0.3)
    assert result.requests > 10 and result.errors == 0
    assert 0 < result.p50_ms <= result.p99_ms


def test_startup_benchmark_times_the_real_server(checkerboard_model_path) -> None:
    result = startup.measure(checkerboard_model_path, user_id=1000, timeout=60)
    assert 0 < result.health <= result.first_answer <= result.lists_ready <= result.ready
    assert result.ready_probe in ("/ready", "/model")
    assert result.rss_bytes > 0 and result.request_ms > 0


def test_live_benchmark_compares_live_only_with_sending_the_names() -> None:
    assert discover()["live"].DEFAULT is False  # it trains a model when none is there
    names = {w.name: w for w in live.workloads([7], ["a", "b"], k=3)}
    assert names["GET live_only=true"].paths == ["/recomendations/user/7?k=3&live_only=true"]
    post = names["POST 2 available, watched kept"]
    assert json.loads(post.body) == {"k": 3, "available": ["a", "b"], "exclude_watched": False}


def test_replay_window_and_repeat_baseline_by_hand() -> None:
    sessions = sessions_frame(
        [(1, "a", 0, 3), (1, "b", 3, 4), (2, "b", 0, 5), (9, "c", 14, 20)]
        + [(1, "b", 16, 17), (3, "a", 16, 18), (1, "a", 18, 19)]
    )
    history, win, live_index = _replay_data.split(sessions, window=5)
    assert win.cut == 15 and len(history) == 4 and len(win) == 3
    assert win.is_new.tolist() == [False, True, False]
    assert win.in_history.tolist() == [True, False, True]
    assert win.after_first.tolist() == [False, False, True]
    assert win.cold_sessions == 1
    # At 16, a, b and c are live: viewer 1 watched a most, so b is second; viewer 3 has no
    # history, so popularity (b 6 steps, a 3, c 1 before the cut) puts a second. At 18 only a
    # and c are live.
    assert _replay_data.repeat_ranks(history, win, live_index).tolist() == [2, 2, 1]
    assert win.rows(win.query[:1] * 0, closed=False) == b"1,1,b,16,\n"


def test_replay_benchmark_runs_end_to_end(tmp_path: Path) -> None:
    """A real run: trains on a tiny sample, replays it against the real server frozen and with
    events, and posts the window as fast as it can."""
    from streamrec.data.synth import PRESETS, write_sessions

    assert discover()["replay"].DEFAULT is False
    sample = tmp_path / "sample.csv"
    write_sessions(dataclasses.replace(PRESETS["tiny"], rows=600), sample)
    argv = ["--data", str(sample), "--window", "60", "--no-tune", "--skip-latency"]
    status = replay.main([*argv, "--repeat", "1", "--out", str(tmp_path / "out")])
    (report,) = (tmp_path / "out").glob("replay-*.md")
    text = report.read_text()
    assert status == 0, text
    for setup in ("frozen", "live", "repeat"):
        for subset in ("every session", "after first"):
            assert f"| {setup} | {subset} |" in text
    assert "Frozen vs live, HR@1, every session: b = " in text
    assert "| 1 |" in text and "| 4 |" in text  # ingestion from 1 and 4 clients
    assert "Repeat targets watched only earlier in the window" in text
    assert "Latency while ingesting: not run (--skip-latency)." in text


def test_overlay_benchmark_prints_its_figures(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        discover()["overlay"].main(["--sessions", "5000", "--viewers", "500", "--repeats", "3"])
        == 0
    )
    out = capsys.readouterr().out
    for figure in ("in Python", "loader's plan", "bytes a session", "added a second", "fsync"):
        assert figure in out

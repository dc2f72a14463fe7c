"""Smoke tests of the benchmark harness (the benchmarks themselves are not tests)."""

from __future__ import annotations

import json

import pytest

from bench import _loadgen, live, startup
from bench.__main__ import discover, main
from bench._floor import create_floor_app
from tests.conftest import serving


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

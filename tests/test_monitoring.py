from __future__ import annotations

import httpx
import pytest
from prometheus_client import generate_latest

from streamrec.serving.api import create_app
from streamrec.serving.monitoring import Monitoring
from streamrec.settings import Settings
from tests.conftest import serving


def exposition(monitoring: Monitoring) -> str:
    return generate_latest(monitoring.registry).decode()


def test_request_done_records_count_and_latency() -> None:
    monitoring = Monitoring()
    for _ in range(3):
        monitoring.request_done("/model", "GET", 200, 0.002)
    text = exposition(monitoring)
    assert 'http_requests_total{handler="/model",method="GET",status="200"} 3.0' in text
    bucket = 'http_request_duration_seconds_bucket{handler="/model",le="0.0025",method="GET"}'
    assert f"{bucket} 3.0" in text


def test_unknown_methods_share_one_series() -> None:
    monitoring = Monitoring()
    for method in ("BREW", "WHEN", "GET"):
        monitoring.request_done("none", method, 405, 0.001)
    text = exposition(monitoring)
    assert 'http_requests_total{handler="none",method="other",status="405"} 2.0' in text
    assert len(monitoring._http_children) == 2


def test_served_counts_sources_of_a_batch() -> None:
    monitoring = Monitoring()
    monitoring.served("batch", ["als", "popular", "als"])
    monitoring.served("user", "popular")
    text = exposition(monitoring)
    assert 'streamrec_recommendations_total{endpoint="batch",source="als"} 2.0' in text
    assert 'streamrec_recommendations_total{endpoint="batch",source="popular"} 1.0' in text
    assert 'streamrec_recommendations_total{endpoint="user",source="popular"} 1.0' in text


@pytest.fixture(scope="module")
def client(checkerboard_model_path) -> httpx.Client:
    settings = Settings(model_path=checkerboard_model_path, reload_interval=0)
    with serving(create_app(settings)) as url, httpx.Client(base_url=url) as http:
        yield http


def test_unmatched_and_refused_requests_are_counted_under_none(client: httpx.Client) -> None:
    assert client.get("/no/such/route").status_code == 404
    big = b"[" + b"1," * (1 << 20) + b"1]"
    refused = client.post(
        "/recommendations", content=big, headers={"content-type": "application/json"}
    )
    assert refused.status_code == 422
    text = client.get("/metrics").text
    assert 'http_requests_total{handler="none",method="GET",status="404"} 1.0' in text
    assert 'http_requests_total{handler="none",method="POST",status="422"} 1.0' in text
    assert client.get("/metrics").headers["content-type"].startswith("text/plain")

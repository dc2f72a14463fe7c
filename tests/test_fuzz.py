"""Fuzzing: schemathesis derives requests from the OpenAPI schema and sends them to the server.

Every operation gets valid and invalid requests (its parameters and bodies, wrong types, out
of range, missing, extra); each answer must be no 5xx and match the schema: its status code,
content type, headers and body as documented. Bounded (a fixed seed and a few dozen examples
per operation) so that it runs in seconds; the probe of issue 11 ran 9,789 cases.

The schema is built at import (schemathesis parametrizes at collection; its lazy loader from a
fixture does not work with pytest 9), from an app with the test server's settings; the first
test checks that the server serves that very schema.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from streamrec.serving.api import create_app
from streamrec.settings import Settings
from tests.conftest import serving, wait_for_lists

SPEC = create_app(Settings(reload_interval=0, api_key="", admin_token="")).openapi()
schema = schemathesis.openapi.from_dict(SPEC)


def test_the_server_serves_the_fuzzed_schema(api: httpx.Client) -> None:
    assert api.get("/openapi.json").json() == SPEC


@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_documented(case: schemathesis.Case, api: httpx.Client) -> None:
    case.call_and_validate(base_url=str(api.base_url))


# The live layer's write routes, on a server that has them (behind their token).
LIVE_TOKEN = "fuzz-l1ve"
LIVE_SPEC = create_app(
    Settings(reload_interval=0, api_key="", admin_token="", live_token=LIVE_TOKEN)
).openapi()
live_schema = schemathesis.openapi.from_dict(LIVE_SPEC).include(path_regex="^/(events|live)$")


@pytest.fixture(scope="module")
def live_api(checkerboard_model_path: Path, tmp_path_factory: pytest.TempPathFactory):
    settings_ = Settings(
        model_path=checkerboard_model_path,
        reload_interval=0,
        live_token=LIVE_TOKEN,
        event_log_dir=tmp_path_factory.mktemp("fuzz-events"),
        live_max_streamers=1000,
    )
    with serving(create_app(settings_)) as url, httpx.Client(base_url=url) as http:
        wait_for_lists(http)
        yield http


@live_schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_live_write_routes_answer_as_documented(
    case: schemathesis.Case, live_api: httpx.Client
) -> None:
    # A schema-valid body may hold no valid row (the rows are checked as the CSV loader
    # checks them, which no schema can say): its 422 is documented, not a failure.
    case.call_and_validate(
        base_url=str(live_api.base_url),
        headers={"Authorization": f"Bearer {LIVE_TOKEN}"},
        excluded_checks=[positive_data_acceptance],
    )

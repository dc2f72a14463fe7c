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

import httpx
import schemathesis
from hypothesis import HealthCheck, settings

from streamrec.serving.api import create_app
from streamrec.settings import Settings

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

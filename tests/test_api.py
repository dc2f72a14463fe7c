from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from streamrec import artifact
from streamrec.api import create_app
from streamrec.settings import Settings
from tests.conftest import held_out, serving


@pytest.fixture(scope="module")
def client(checkerboard_model_path: Path) -> Iterator[httpx.Client]:
    settings = Settings(model_path=checkerboard_model_path, default_k=5)
    with serving(create_app(settings)) as url, httpx.Client(base_url=url) as http:
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


def test_startup_with_missing_model_fails(tmp_path: Path) -> None:
    app = create_app(Settings(model_path=tmp_path / "missing.npz"))

    async def start() -> None:
        async with app.router.lifespan_context(app):
            pass

    with pytest.raises(artifact.ArtifactError, match="model file not found"):
        asyncio.run(start())

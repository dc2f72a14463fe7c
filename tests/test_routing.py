"""Strict request types and bodies, and the Allow header: each case was accepted or wrong before."""

from __future__ import annotations

import httpx
import pytest

from streamrec.serving.routing import decode_json

JSON = {"content-type": "application/json"}


@pytest.mark.parametrize(
    ("path", "body", "locs"),
    [
        # Lax coercion answered users 1, 0 and 7 (issue 11).
        (
            "/recommendations/batch",
            {"user_ids": [True, False, "7"]},
            [["body", "user_ids", 0], ["body", "user_ids", 1], ["body", "user_ids", 2]],
        ),
        ("/recomendations/user/1", {"k": "3"}, [["body", "k"]]),
        ("/recomendations/user/1", {"repeat_weight": False}, [["body", "repeat_weight"]]),
        ("/recomendations/user/1", {"exclude_watched": "no"}, [["body", "exclude_watched"]]),
        ("/recomendations/user/1", {"available": [1]}, [["body", "available", 0]]),
        (
            "/recommendations",
            {"history": [{"streamer": "s00", "watch_time": True}]},
            [["body", "history", 0, "watch_time"]],
        ),
    ],
)
def test_body_types_are_strict(api: httpx.Client, path: str, body: dict, locs: list) -> None:
    response = api.post(path, json=body)
    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["detail"]] == locs


def test_body_integers_are_still_numbers(api: httpx.Client) -> None:
    body = {"history": [{"streamer": "s00", "watch_time": 3}], "k": 2, "repeat_weight": 1}
    assert api.post("/recommendations", json=body).status_code == 200
    # JSON Schema's integer includes 2.0, and the schema says integer.
    batch = api.post("/recommendations/batch", json={"user_ids": [1000.0], "k": 2.0})
    assert batch.status_code == 200 and batch.json()["results"][0]["user_id"] == 1000


@pytest.mark.parametrize("user_id", ["1_000", "+1", "1.0", "%201", "1%20", "%D9%A1"])
def test_path_user_id_is_digits_only(api: httpx.Client, user_id: str) -> None:
    response = api.get(f"/recomendations/user/{user_id}")
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["path", "user_id"]
    assert error["msg"].startswith("Input should be a valid integer of decimal digits only, got")


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/recomendations/user/1?k=1_0", "k"),
        ("/recomendations/user/1?k=%2B3", "k"),
        ("/recomendations/user/1?k=3.0", "k"),
        ("/streamers/s00/similar?k=%203", "k"),
        ("/recomendations/user/1?repeat_weight=1_0", "repeat_weight"),
        ("/recomendations/user/1?repeat_weight=%201", "repeat_weight"),
    ],
)
def test_query_numbers_are_plain(api: httpx.Client, path: str, field: str) -> None:
    response = api.get(path)
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["query", field] and "got" in error["msg"]


def test_query_numbers_as_written_are_accepted(api: httpx.Client) -> None:
    params = {"k": "3", "repeat_weight": "2.5e1", "exclude_watched": "false"}
    assert api.get("/recomendations/user/1000", params=params).status_code == 200
    assert api.get("/recomendations/user/0", params={"repeat_weight": "0"}).status_code == 200


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"k": "\xff"}', "JSON decode error: the body is not UTF-8: byte 0xff at position 7"),
        (b'{"k": ' + b"[" * 10_000 + b"]" * 10_000 + b"}", "nested too deeply"),
        (b'{"k": ' + b"9" * 10_000 + b"}", "a number is too long"),
        (b'{"k": ', "JSON decode error: Expecting value"),
    ],
)
def test_undecodable_body_is_422_saying_why(
    api: httpx.Client, content: bytes, message: str
) -> None:
    """These were a 400 "There was an error parsing the body", naming nothing (issue 11)."""
    response = api.post("/recomendations/user/1", content=content, headers=JSON)
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["type"] == "json_invalid" and error["loc"][0] == "body"
    assert message in error["msg"]


def test_decode_json_accepts_a_byte_order_mark() -> None:
    assert decode_json(b'\xef\xbb\xbf{"k": 3}') == {"k": 3}


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("OPTIONS", "/recomendations/user/1", "GET, POST"),  # said "GET" (issue 11)
        ("DELETE", "/recommendations/user/1", "GET, POST"),
        ("GET", "/recommendations/batch", "POST"),
        ("PUT", "/health", "GET, HEAD"),
        ("POST", "/ready", "GET, HEAD"),
    ],
)
def test_405_allows_every_method_of_the_path(
    api: httpx.Client, method: str, path: str, allow: str
) -> None:
    response = api.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert response.json()["detail"].endswith(f"allowed: {allow}")


@pytest.mark.parametrize("path", ["/health", "/ready"])
def test_probes_answer_head(api: httpx.Client, path: str) -> None:
    """``HEAD /health`` was a 405 (issue 11)."""
    response = api.head(path)
    assert response.status_code == 200 and response.content == b""


def test_openapi_integer_bounds_are_integers(api: httpx.Client) -> None:
    """The bound of ``user_ids`` items was the float 9.223372036854776e+18 (issue 11)."""
    spec = api.get("/openapi.json").json()
    items = spec["components"]["schemas"]["BatchRequest"]["properties"]["user_ids"]["items"]
    assert items["maximum"] == 2**63 - 1 and isinstance(items["maximum"], int)

    def integer_bounds(node: object) -> list[object]:
        if isinstance(node, list):
            return [b for item in node for b in integer_bounds(item)]
        if not isinstance(node, dict):
            return []
        found = [
            node[k] for k in ("minimum", "maximum") if node.get("type") == "integer" and k in node
        ]
        return found + [b for value in node.values() for b in integer_bounds(value)]

    bounds = integer_bounds(spec)
    assert len(bounds) > 10 and all(isinstance(b, int) for b in bounds), bounds

"""The API documentation is served whole by the server itself, with no third-party script."""

from __future__ import annotations

import re

import httpx


def test_docs_load_only_local_assets(api: httpx.Client) -> None:
    """``/docs`` loaded its scripts from a public CDN, which fails offline (issue 11)."""
    page = api.get("/docs")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    urls = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert urls and not [u for u in urls if "//" in u], urls
    for url in urls:
        asset = api.get(url)
        assert asset.status_code == 200 and len(asset.content) > 1000, url
    script = next(u for u in urls if u.endswith(".js"))
    assert "javascript" in api.get(script).headers["content-type"]
    assert "/openapi.json" in page.text


def test_redoc_is_off(api: httpx.Client) -> None:
    """ReDoc loads from a CDN too; it is not served."""
    assert api.get("/redoc").status_code == 404


def test_openapi_lists_the_probes(api: httpx.Client) -> None:
    paths = api.get("/openapi.json").json()["paths"]
    assert paths["/ready"]["get"]["summary"] == "Readiness"
    assert "503" in paths["/ready"]["get"]["responses"]
    assert not [p for p in paths if p.startswith("/docs")]

"""The API's documentation: the OpenAPI schema and Swagger UI, all served by this server.

FastAPI's ``/docs`` page loads Swagger UI's scripts from a public CDN (and ``/redoc`` its own),
which fails on a network without internet access and lets a third party run code in the page.
Here Swagger UI's files come from the pinned ``fastapi-offline`` package and are served under
``/docs/assets/``; ``/redoc`` is off. :func:`finish_openapi` also corrects the schema:
FastAPI's OpenAPI models turn integer bounds into floats (the largest user id became
``9.223372036854776e+18``, which is 2**63, one past it).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from streamrec.serving.schemas import MAX_USER_ID
from streamrec.serving.security import OPEN_PATHS, OPEN_PREFIXES, OWN_TOKEN_ROUTES

ASSETS = "/docs/assets"
_BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")
# Integer bounds that a float cannot hold exactly, by the float FastAPI makes of them.
_EXACT = {float(MAX_USER_ID): MAX_USER_ID}
_API_KEY_SCHEMES = {
    "APIKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    "APIKeyBearer": {"type": "http", "scheme": "bearer", "description": "The api_key setting."},
}


async def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI for ``/openapi.json``, with its scripts and styles from this server."""
    root = request.scope.get("root_path", "")
    return get_swagger_ui_html(
        openapi_url=f"{root}/openapi.json",
        title=f"{request.app.title} - API documentation",
        swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{root}{ASSETS}/favicon.png",
        oauth2_redirect_url=None,
    )


def register(app: FastAPI) -> None:
    """Add ``/docs`` and its assets to ``app`` (after the API's routes: they match first)."""
    app.get("/docs", include_in_schema=False)(swagger_ui)
    assets = StaticFiles(packages=[("fastapi_offline", "static")])
    app.mount(ASSETS, assets, name="docs-assets")


def finish_openapi(app: FastAPI, api_key: bool) -> None:
    """Make ``app.openapi()`` exact: integer bounds as integers, and the API key if required.

    Parameters
    ----------
    app : FastAPI
        The app whose schema to correct (it is built once, on first use).
    api_key : bool
        Whether the read routes need the API key (see
        :class:`streamrec.serving.security.APIKeyGuard`): then every route but the open ones
        declares it, and its 401 and 429.
    """
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()  # FastAPI's, cached in app.openapi_schema
            _integer_bounds(schema)
            if api_key:
                _require_api_key(schema)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _integer_bounds(node: Any) -> None:
    if isinstance(node, list):
        for item in node:
            _integer_bounds(item)
        return
    if not isinstance(node, dict):
        return
    if node.get("type") == "integer":
        for key in _BOUNDS:
            value = node.get(key)
            if isinstance(value, float) and value.is_integer():
                node[key] = _EXACT.get(value, int(value))
    for value in node.values():
        _integer_bounds(value)


def _require_api_key(schema: dict[str, Any]) -> None:
    schema.setdefault("components", {}).setdefault("securitySchemes", {}).update(_API_KEY_SCHEMES)
    for path, operations in schema["paths"].items():
        if path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
            continue
        for method, operation in operations.items():
            if (method.upper(), path) in OWN_TOKEN_ROUTES:
                continue
            operation["security"] = [{name: []} for name in _API_KEY_SCHEMES]
            operation["responses"].setdefault("401", {"description": "Missing or wrong API key."})
            operation["responses"].setdefault(
                "429", {"description": "Too many wrong keys from this client; see Retry-After."}
            )

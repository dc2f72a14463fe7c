"""Dependencies shared by the routes: the model being served, the settings, the metrics.

They are ``async`` so that FastAPI calls them on the event loop instead of a worker thread.
The two hot routes skip FastAPI's dependency machinery (about 15 µs per dependency per request,
measured, against a whole request of about 100 µs) and call :func:`serving` instead, and they
render their JSON with :func:`json_response` rather than through a response model.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import Depends, Request, Response

from streamrec.serving.monitoring import Monitoring
from streamrec.serving.recommender import Recommender
from streamrec.serving.reload import ModelStore
from streamrec.settings import Settings


async def get_store(request: Request) -> ModelStore:
    return request.app.state.store


async def get_recommender(request: Request) -> Recommender:
    """The model at the start of the request; the request keeps it even if a reload swaps."""
    return request.app.state.store.current


async def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_monitoring(request: Request) -> Monitoring:
    return request.app.state.monitoring


def serving(request: Request) -> tuple[Recommender, Settings, Monitoring]:
    """The model at the start of the request, the settings and the metrics, in one call."""
    state = request.app.state
    return state.store.current, state.settings, state.monitoring


def json_response(payload: dict[str, Any]) -> Response:
    """A JSON response rendered by orjson, skipping response-model validation."""
    return Response(orjson.dumps(payload), media_type="application/json")


StoreDep = Annotated[ModelStore, Depends(get_store)]
RecommenderDep = Annotated[Recommender, Depends(get_recommender)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
MonitoringDep = Annotated[Monitoring, Depends(get_monitoring)]

"""Operations: liveness, readiness, what model is being served, and the Prometheus metrics."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from streamrec.serving.deps import MonitoringDep, RecommenderDep, StoreDep, json_response
from streamrec.serving.schemas import HealthResponse, ModelResponse, ReadyResponse, ServingInfo

# Why a loaded model is not ready, by the state of its precomputed lists.
_NOT_READY = {
    "pending": "the precomputed lists have not started yet",
    "running": "computing the precomputed lists ({seconds:.0f} s so far)",
    "failed": "precomputing the lists failed (see the log); requests are scored in full, "
    "slowly, until a model reloads",
    "stopped": "the server is shutting down",
}


async def health(recommender: RecommenderDep) -> HealthResponse:
    """Liveness and the loaded model's version and size."""
    counts = recommender.metadata.get("counts", {})
    return HealthResponse(
        model_version=recommender.model_version,
        users=recommender.n_users,
        streamers=recommender.n_items,
        factors=int(counts.get("factors", 0)),
    )


async def ready(store: StoreDep) -> Response:
    """Readiness: 200 once a model is loaded with its precomputed lists, 503 with why until then."""
    try:
        model = store.current
    except RuntimeError:
        body: dict[str, Any] = {"status": "not ready", "reason": "no model is loaded yet"}
        return _ready_response(body | {"model_version": None, "precompute_state": None}, 503)
    state = model.precompute_state
    body = {"status": "ready", "reason": None}
    if state not in ("ready", "off"):
        reason = _NOT_READY[state].format(seconds=model.precompute_seconds)
        body = {"status": "not ready", "reason": reason}
    body |= {"model_version": model.model_version, "precompute_state": state}
    return _ready_response(body, 200 if body["reason"] is None else 503)


def _ready_response(body: dict[str, Any], status: int) -> Response:
    response = json_response(body)
    response.status_code = status
    response.headers["cache-control"] = "no-store"
    return response


async def model_info(recommender: RecommenderDep, store: StoreDep) -> ModelResponse:
    """Version, creation time, hyperparameters, counts, data fingerprint and evaluation."""
    meta = recommender.metadata
    loaded_at = datetime.fromtimestamp(store.loaded_at, UTC).replace(microsecond=0)
    return ModelResponse(
        model_version=recommender.model_version,
        created_at=meta.get("created_at"),
        engine=meta.get("engine"),
        params=meta.get("params") or {},
        counts=meta.get("counts") or {},
        data=_without_folders(meta.get("data")),
        evaluation=meta.get("evaluation"),
        serving=ServingInfo(
            loaded_at=loaded_at.isoformat().replace("+00:00", "Z"),
            precompute_state=recommender.precompute_state,
            precomputed_users=recommender.precomputed_users,
            precompute_top_n=recommender.top_n,
            precompute_seconds=round(recommender.precompute_seconds, 3),
            repeat_weight=recommender.repeat_weight,
            live_ranking=recommender.live_ranking,
        ),
    )


def _without_folders(data: Any) -> Any:
    """The training-data metadata with its path cut to the file name.

    The folder says how the training machine is laid out, which is nobody's business.
    """
    if not isinstance(data, dict) or not isinstance(data.get("path"), str):
        return data
    return data | {"path": data["path"].replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]}


async def metrics(monitoring: MonitoringDep) -> Response:
    """Prometheus metrics: HTTP traffic per route, list sources, the model being served."""
    return Response(generate_latest(monitoring.registry), media_type=CONTENT_TYPE_LATEST)


def register(app: FastAPI) -> None:
    """Add the operations routes to ``app``; the two probes also answer HEAD."""
    tags = ["operations"]
    app.get("/health", response_model=HealthResponse, summary="Liveness", tags=tags)(health)
    app.get(
        "/ready",
        response_model=ReadyResponse,
        summary="Readiness",
        responses={503: {"model": ReadyResponse, "description": "Not ready yet; see reason."}},
        tags=tags,
    )(ready)
    for path, probe in (("/health", health), ("/ready", ready)):
        app.head(path, include_in_schema=False)(probe)
    app.get(
        "/model",
        response_model=ModelResponse,
        summary="The loaded model's metadata",
        tags=tags,
    )(model_info)
    app.get(
        "/metrics",
        response_class=Response,
        summary="Prometheus metrics",
        tags=tags,
        responses={200: {"content": {"text/plain": {}}}},
    )(metrics)

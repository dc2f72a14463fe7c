"""Operations: liveness, what model is being served, and the Prometheus metrics."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from streamrec.deps import MonitoringDep, RecommenderDep, StoreDep
from streamrec.schemas import HealthResponse, ModelResponse, ServingInfo


async def health(recommender: RecommenderDep) -> HealthResponse:
    """Liveness and the loaded model's version and size."""
    counts = recommender.metadata.get("counts", {})
    return HealthResponse(
        model_version=recommender.model_version,
        users=recommender.n_users,
        streamers=recommender.n_items,
        factors=int(counts.get("factors", 0)),
    )


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
        data=meta.get("data"),
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


async def metrics(monitoring: MonitoringDep) -> Response:
    """Prometheus metrics: HTTP traffic per route, list sources, the model being served."""
    return Response(generate_latest(monitoring.registry), media_type=CONTENT_TYPE_LATEST)


def register(app: FastAPI) -> None:
    """Add the operations routes to ``app``."""
    app.get(
        "/health", response_model=HealthResponse, summary="Service health", tags=["operations"]
    )(health)
    app.get(
        "/model",
        response_model=ModelResponse,
        summary="The loaded model's metadata",
        tags=["operations"],
    )(model_info)
    app.get(
        "/metrics",
        response_class=Response,
        summary="Prometheus metrics",
        tags=["operations"],
        responses={200: {"content": {"text/plain": {}}}},
    )(metrics)

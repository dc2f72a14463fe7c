"""The HTTP API: an app factory, a lifespan that loads the model once, and thin routes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from pydantic import BaseModel, Field
from threadpoolctl import threadpool_limits

from streamrec import artifact
from streamrec.recommender import MAX_K, Recommender, Source
from streamrec.settings import Settings, get_settings

logger = logging.getLogger(__name__)

MAX_USER_ID = 2**63 - 1


class RecommendationResponse(BaseModel):
    """A user's top-K streamers."""

    user_id: int = Field(examples=[1])
    personal: list[str] = Field(
        description="Streamer names, best first.", examples=[["mithrain", "alptv", "zeon"]]
    )
    source: Source = Field(
        description="'als' (personal), 'popular' (user unknown to the model), or "
        "'als+popular' (personal list topped up with popular streamers)."
    )
    model_version: str = Field(examples=["20261122T173000Z-3fa2b1c4"])


class HealthResponse(BaseModel):
    status: Literal["ok"] = "ok"
    model_version: str
    users: int
    streamers: int
    factors: int


def get_recommender(request: Request) -> Recommender:
    return request.app.state.recommender


def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


RecommenderDep = Annotated[Recommender, Depends(get_recommender)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]

router = APIRouter()


@router.get(
    "/recomendations/user/{user_id}",
    response_model=RecommendationResponse,
    summary="Top-K streamers for a user",
    tags=["recommendations"],
)
@router.get(
    "/recommendations/user/{user_id}",
    response_model=RecommendationResponse,
    summary="Top-K streamers for a user (correctly spelled alias)",
    tags=["recommendations"],
)
def recommend_for_user(
    recommender: RecommenderDep,
    settings: SettingsDep,
    user_id: Annotated[int, Path(ge=0, le=MAX_USER_ID, description="Platform user id.")],
    k: Annotated[
        int | None, Query(ge=1, le=MAX_K, description="List length (default: default_k).")
    ] = None,
    exclude_watched: Annotated[
        bool, Query(description="Leave out streamers the user already watched.")
    ] = True,
) -> RecommendationResponse:
    """Top-K streamers for a user; users unknown to the model get the popular list."""
    result = recommender.recommend(user_id, k or settings.default_k, exclude_watched)
    return RecommendationResponse(
        user_id=user_id,
        personal=result.items,
        source=result.source,
        model_version=recommender.model_version,
    )


@router.get("/health", response_model=HealthResponse, summary="Service health", tags=["operations"])
def health(recommender: RecommenderDep) -> HealthResponse:
    """Liveness and the loaded model's version and size."""
    counts = recommender.metadata.get("counts", {})
    return HealthResponse(
        model_version=recommender.model_version,
        users=recommender.n_users,
        streamers=recommender.n_items,
        factors=int(counts.get("factors", 0)),
    )


def create_app(settings: Settings | None = None, recommender: Recommender | None = None) -> FastAPI:
    """Build the API.

    Parameters
    ----------
    settings : Settings, optional
        Defaults to the process settings (environment and ``.env``).
    recommender : Recommender, optional
        An already loaded model; when omitted, the lifespan loads ``settings.model_path``.
    """
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if getattr(app.state, "recommender", None) is None:
            app.state.recommender = Recommender(artifact.load(settings.model_path))
        logger.info(
            "serving model %s (%d users, %d streamers)",
            app.state.recommender.model_version,
            app.state.recommender.n_users,
            app.state.recommender.n_items,
        )
        # Requests are scored in FastAPI's thread pool; BLAS threads on top oversubscribe the
        # cores, so scoring runs single-threaded for the life of the server.
        with threadpool_limits(limits=1, user_api="blas"):
            yield

    app = FastAPI(
        title="streamrec",
        summary="Streamer recommendations for live-streaming platforms.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.recommender = recommender
    app.include_router(router)
    return app

"""Recommendation lists: a known user (GET, or POST with filters), a new viewer, a batch.

Answers that need no catalogue scan are computed on the event loop (microseconds); anything
that scores the whole catalogue runs in the thread pool so the loop never waits on it.
:func:`register` adds the routes to an app.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Path, Query, Request, Response
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from streamrec.serving.deps import (
    MonitoringDep,
    RecommenderDep,
    SettingsDep,
    json_response,
    serving,
)
from streamrec.serving.filters import NO_FILTERS, Filters
from streamrec.serving.live_filter import LiveFilters, LiveSetUnavailableError
from streamrec.serving.recommender import MAX_K, Recommendation, Recommender
from streamrec.serving.schemas import (
    DECIMAL_INTEGER,
    MAX_REPEAT_WEIGHT,
    MAX_USER_ID,
    PLAIN_NUMBER,
    REPEAT_WEIGHT_DESCRIPTION,
    BatchItem,
    BatchRequest,
    BatchResponse,
    FilteredRecommendationResponse,
    HistoryRecommendationResponse,
    HistoryRequest,
    RecommendationResponse,
    UserRequest,
)
from streamrec.settings import Settings

# The misspelled path is the one existing clients call; the other is its alias.
_PATHS = ("/recomendations/user/{user_id}", "/recommendations/user/{user_id}")
# Bounds go before the digits-only check: after it, they would not reach the OpenAPI schema.
UserIdPath = Annotated[
    int, Field(ge=0, le=MAX_USER_ID), DECIMAL_INTEGER, Path(description="Platform user id.")
]


_LIVE_ONLY = (
    "Rank only the streamers live now (the live set the server was fed, GET /live); "
    "default: the live_only_default setting. 409 when no live set has been fed, or all of it "
    "expired."
)
_RESPONSES: dict[int | str, dict[str, Any]] = {
    409: {"description": "live_only, but no live set has been fed, or all of it expired."}
}


def _filters(
    request: Request,
    recommender: Recommender,
    settings: Settings,
    live_only: bool | None,
    requested: Filters | None = None,
) -> Filters:
    """The request's filters, within the live set when ``live_only`` (or its default) holds."""
    if not (settings.live_only_default if live_only is None else live_only):
        return requested or NO_FILTERS
    live: LiveFilters = request.app.state.live
    try:
        return live.filters(recommender, requested)
    except LiveSetUnavailableError as exc:
        raise HTTPException(409, detail=str(exc)) from exc


async def _recommend(
    recommender: Recommender,
    user_id: int,
    k: int,
    exclude_watched: bool,
    filters: Filters,
    repeat_weight: float | None,
) -> Recommendation:
    args = (user_id, k, exclude_watched, filters, repeat_weight)
    result = recommender.recommend_cached(*args)
    if result is None:
        result = await run_in_threadpool(recommender.recommend, *args)
    return result


def _user_payload(user_id: int, result: Recommendation, model_version: str) -> dict[str, Any]:
    """The body of a known user's list (``RecommendationResponse``'s fields, in its order)."""
    return {
        "user_id": user_id,
        "personal": result.items,
        "source": result.source,
        "model_version": model_version,
    }


async def recommend_for_user(
    request: Request,
    user_id: UserIdPath,
    k: Annotated[
        int | None,
        Field(ge=1, le=MAX_K),
        DECIMAL_INTEGER,
        Query(description="List length (default: default_k)."),
    ] = None,
    exclude_watched: Annotated[
        bool, Query(description="Leave out streamers the user already watched.")
    ] = True,
    repeat_weight: Annotated[
        float | None,
        Field(ge=0, le=MAX_REPEAT_WEIGHT, allow_inf_nan=False),
        PLAIN_NUMBER,
        Query(description=REPEAT_WEIGHT_DESCRIPTION),
    ] = None,
    live_only: Annotated[bool | None, Query(description=_LIVE_ONLY)] = None,
) -> Response:
    """Top-K streamers for a user; users unknown to the model get the popular list."""
    recommender, settings, monitoring = serving(request)
    filters = _filters(request, recommender, settings, live_only)
    result = await _recommend(
        recommender, user_id, k or settings.default_k, exclude_watched, filters, repeat_weight
    )
    monitoring.served("user", result.source)
    return json_response(_user_payload(user_id, result, recommender.model_version))


async def recommend_for_user_filtered(
    request: Request, user_id: UserIdPath, body: UserRequest
) -> Response:
    """Top-K streamers for a user, ranked only among `available` and without `exclude`."""
    recommender, settings, monitoring = serving(request)
    requested = recommender.filters(body.available, body.exclude)
    filters = _filters(request, recommender, settings, body.live_only, requested)
    k = body.k or settings.default_k
    result = await _recommend(
        recommender, user_id, k, body.exclude_watched, filters, body.repeat_weight
    )
    monitoring.served("user", result.source)
    payload = _user_payload(user_id, result, recommender.model_version)
    payload["unknown_streamers"] = result.unknown_streamers
    return json_response(payload)


def recommend_for_history(
    request: Request,
    recommender: RecommenderDep,
    settings: SettingsDep,
    monitoring: MonitoringDep,
    body: HistoryRequest,
) -> HistoryRecommendationResponse:
    """Fold a new viewer's history into the model and rank streamers for them."""
    requested = recommender.filters(body.available, body.exclude)
    result = recommender.recommend_for_history(
        [(event.streamer, event.watch_time) for event in body.history],
        body.k or settings.default_k,
        body.exclude_watched,
        _filters(request, recommender, settings, body.live_only, requested),
        body.repeat_weight,
    )
    monitoring.served("history", result.source)
    return HistoryRecommendationResponse(
        personal=result.items,
        source=result.source,
        model_version=recommender.model_version,
        unknown_streamers=result.unknown_streamers,
    )


def recommend_batch(
    request: Request,
    recommender: RecommenderDep,
    settings: SettingsDep,
    monitoring: MonitoringDep,
    body: BatchRequest,
) -> BatchResponse:
    """One list per user, in request order; users unknown to the model get the popular list."""
    requested = recommender.filters(body.available, body.exclude)
    filters = _filters(request, recommender, settings, body.live_only, requested)
    results = recommender.recommend_batch(
        body.user_ids,
        body.k or settings.default_k,
        body.exclude_watched,
        filters,
        body.repeat_weight,
    )
    monitoring.served("batch", [r.source for r in results])
    return BatchResponse(
        results=[
            BatchItem(user_id=user_id, personal=r.items, source=r.source)
            for user_id, r in zip(body.user_ids, results, strict=True)
        ],
        model_version=recommender.model_version,
        unknown_streamers=len(filters.unknown),
    )


def register(app: FastAPI) -> None:
    """Add the recommendation routes to ``app``."""
    tags = ["recommendations"]
    for path, suffix in zip(_PATHS, ("", " (correctly spelled alias)"), strict=True):
        app.get(
            path,
            response_model=RecommendationResponse,
            summary="Top-K streamers for a user" + suffix,
            responses=_RESPONSES,
            tags=tags,
        )(recommend_for_user)
        app.post(
            path,
            response_model=FilteredRecommendationResponse,
            summary="Top-K streamers for a user among the available ones" + suffix,
            responses=_RESPONSES,
            tags=tags,
        )(recommend_for_user_filtered)
    app.post(
        "/recommendations",
        response_model=HistoryRecommendationResponse,
        summary="Top-K streamers for a new viewer, from their watch history",
        responses=_RESPONSES,
        tags=tags,
    )(recommend_for_history)
    app.post(
        "/recommendations/batch",
        response_model=BatchResponse,
        summary="Top-K streamers for up to 1000 users at once",
        responses=_RESPONSES,
        tags=tags,
    )(recommend_batch)

"""Streamers: which ones have audiences like a given streamer's."""

from __future__ import annotations

from typing import Annotated

from fastapi import FastAPI, HTTPException, Path, Query
from pydantic import Field

from streamrec.serving.deps import RecommenderDep
from streamrec.serving.recommender import MAX_K
from streamrec.serving.schemas import DECIMAL_INTEGER, SimilarResponse
from streamrec.serving.similar import UnknownStreamerError


def similar_streamers(
    recommender: RecommenderDep,
    name: Annotated[str, Path(description="Streamer name.", examples=["mithrain"])],
    k: Annotated[
        int, Field(ge=1, le=MAX_K), DECIMAL_INTEGER, Query(description="List length.")
    ] = 10,
) -> SimilarResponse:
    """Streamers whose audiences are most like this one's (cosine of item factors)."""
    try:
        similar = recommender.similar(name, k)
    except UnknownStreamerError as exc:
        raise HTTPException(404, detail=str(exc)) from exc
    return SimilarResponse(streamer=name, similar=similar, model_version=recommender.model_version)


def register(app: FastAPI) -> None:
    """Add the streamer routes to ``app``."""
    app.get(
        "/streamers/{name}/similar",
        response_model=SimilarResponse,
        summary="Streamers with similar audiences",
        responses={404: {"description": "The streamer is not in the model."}},
        tags=["streamers"],
    )(similar_streamers)

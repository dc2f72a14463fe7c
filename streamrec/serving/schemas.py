"""Request and response bodies of the HTTP API, with their limits and OpenAPI examples."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

from streamrec.serving.lists import PrecomputeState
from streamrec.serving.recommender import MAX_K, Source

MAX_USER_ID = 2**63 - 1
MAX_NAMES = 10_000
"""Most names in one ``available``, ``exclude`` or ``history`` list."""
MAX_BATCH = 1000
"""Most users in one batch request."""
MAX_BODY_BYTES = 1 << 20
"""Largest accepted request body (1 MiB); ``/live`` writes may take more (see live_schemas)."""

_INTEGER = re.compile(r"-?[0-9]+")
_NUMBER = re.compile(
    r"[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?|[-+]?(inf|infinity|nan)", re.IGNORECASE
)


def _shown(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:40] + "...")


def _decimal_integer(value: object) -> object:
    """A path or query integer: ASCII digits with an optional minus, nothing else.

    Python's ``int()`` (which pydantic follows) also takes ``"1_000"``, ``"+1"``, ``" 1"`` and
    ``"1.0"``; an id spelled several ways is an id a cache or a log misreads.
    """
    if isinstance(value, str) and not _INTEGER.fullmatch(value):
        raise PydanticCustomError(
            "int_parsing",
            "Input should be a valid integer of decimal digits only, got {shown}",
            {"shown": _shown(value)},
        )
    return value


def _plain_number(value: object) -> object:
    """A query number in plain decimal or exponent form: no ``_``, no spaces (``float()`` takes
    both)."""
    if isinstance(value, str) and not _NUMBER.fullmatch(value):
        raise PydanticCustomError(
            "float_parsing",
            "Input should be a valid number, got {shown}",
            {"shown": _shown(value)},
        )
    return value


DECIMAL_INTEGER = BeforeValidator(_decimal_integer)
"""Put after the bounds of a path or query integer: decimal digits only."""
PLAIN_NUMBER = BeforeValidator(_plain_number)
"""Put after the bounds of a query number: plain decimals (``inf``/``nan`` are left to them)."""


def _integral(value: object) -> object:
    """A JSON number without a fraction as an int: JSON Schema's ``integer`` includes ``3.0``.

    The strict models take no other conversion (not ``true``, not ``"3"``).
    """
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


JSON_INTEGER = BeforeValidator(_integral)

UserId = Annotated[int, Field(ge=0, le=MAX_USER_ID, description="Platform user id."), JSON_INTEGER]
ListLength = Annotated[
    int | None,
    Field(ge=1, le=MAX_K, description="List length (default: default_k)."),
    JSON_INTEGER,
]
Names = Annotated[list[str], Field(max_length=MAX_NAMES)]
MAX_REPEAT_WEIGHT = 1e6
REPEAT_WEIGHT_DESCRIPTION = (
    "With exclude_watched=false: boost of the user's own streamers, score = ALS + "
    "repeat_weight * log(1 + watch steps); 0 = ALS alone; default: the repeat_weight setting."
)
_NAMES_EXAMPLE = ["mithrain", "alptv", "zeon", "elraenn"]
_VERSION_EXAMPLE = "20261122T173000Z-3fa2b1c4"


class _Filtered(BaseModel):
    """Fields shared by the requests that rank streamers.

    Strict: JSON types are taken as they are, so ``true`` is not user 1, ``"3"`` is not a
    ``k`` and ``"no"`` is not false (an integer is still a valid number).
    """

    model_config = ConfigDict(extra="forbid", strict=True)

    k: ListLength = None
    exclude_watched: bool = Field(True, description="Leave out streamers already watched.")
    repeat_weight: float | None = Field(
        None,
        ge=0,
        le=MAX_REPEAT_WEIGHT,
        allow_inf_nan=False,
        description=REPEAT_WEIGHT_DESCRIPTION,
        examples=[10.0],
    )
    available: Names | None = Field(
        None,
        description="Rank only these streamers (e.g. the ones live now); null = all. Names "
        "unknown to the model are ignored and counted in `unknown_streamers`.",
        examples=[_NAMES_EXAMPLE],
    )
    exclude: Names = Field(
        default_factory=list,
        description="Never recommend these streamers; unknown names are ignored and counted.",
        examples=[["zeon"]],
    )
    live_only: bool | None = Field(
        None,
        description="Rank only the streamers live now, from the live set the server was fed "
        "(GET /live), within `available` if given; null = the live_only_default setting. "
        "409 when no live set has been fed, or all of it expired.",
        examples=[True],
    )


class UserRequest(_Filtered):
    """Options for one known user's list."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"k": 10, "exclude_watched": True, "available": _NAMES_EXAMPLE, "exclude": []}
            ]
        }
    )


class WatchEvent(BaseModel):
    """Time a new viewer spent on one streamer."""

    model_config = ConfigDict(extra="forbid", strict=True)

    streamer: str = Field(examples=["mithrain"])
    watch_time: float = Field(
        1.0,
        gt=0,
        le=1e6,
        allow_inf_nan=False,
        description="Watch time in 10-minute steps, as in the training data; repeats add up.",
        examples=[12],
    )


class HistoryRequest(_Filtered):
    """A viewer the model has never seen, described by what they watched."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "history": [
                        {"streamer": "mithrain", "watch_time": 12},
                        {"streamer": "alptv", "watch_time": 3},
                    ],
                    "k": 10,
                    "available": _NAMES_EXAMPLE,
                }
            ]
        }
    )

    history: list[WatchEvent] = Field(
        max_length=MAX_NAMES,
        description="What the viewer watched; empty or all-unknown gives the popular list.",
    )


class BatchRequest(_Filtered):
    """Many known users at once, with one set of options."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"user_ids": [1, 2, 424242], "k": 10}]}
    )

    user_ids: list[UserId] = Field(max_length=MAX_BATCH, examples=[[1, 2, 424242]])


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
    model_version: str = Field(examples=[_VERSION_EXAMPLE])


class FilteredRecommendationResponse(RecommendationResponse):
    """A user's top-K streamers among the allowed ones."""

    unknown_streamers: int = Field(
        description="Distinct names in the request the model does not know (ignored).",
        examples=[0],
    )


class HistoryRecommendationResponse(BaseModel):
    """A new viewer's top-K streamers."""

    personal: list[str] = Field(examples=[["zeon", "elraenn"]])
    source: Literal["als-foldin", "als-foldin+popular", "popular"] = Field(
        description="'als-foldin' (history folded into the model), or 'popular' when no "
        "streamer of the history is known."
    )
    model_version: str = Field(examples=[_VERSION_EXAMPLE])
    unknown_streamers: int = Field(examples=[0])


class BatchItem(BaseModel):
    user_id: int = Field(examples=[1])
    personal: list[str] = Field(examples=[["mithrain", "alptv"]])
    source: Source


class BatchResponse(BaseModel):
    """One list per requested user, in request order."""

    results: list[BatchItem]
    model_version: str = Field(examples=[_VERSION_EXAMPLE])
    unknown_streamers: int = Field(examples=[0])


class SimilarResponse(BaseModel):
    """Streamers whose audiences look like this streamer's."""

    streamer: str = Field(examples=["mithrain"])
    similar: list[str] = Field(description="Most similar first.", examples=[["alptv", "zeon"]])
    model_version: str = Field(examples=[_VERSION_EXAMPLE])


class HealthResponse(BaseModel):
    status: Literal["ok"] = "ok"
    model_version: str
    users: int
    streamers: int
    factors: int


class ReadyResponse(BaseModel):
    """Whether the server should take traffic (the readiness probe)."""

    status: Literal["ready", "not ready"] = Field(examples=["ready"])
    reason: str | None = Field(
        description="Why the server is not ready; null when it is.",
        examples=["computing the precomputed lists (12 s so far)"],
    )
    model_version: str | None = Field(examples=[_VERSION_EXAMPLE])
    precompute_state: PrecomputeState | None = Field(examples=["ready"])


class ServingInfo(BaseModel):
    """How the model is held in memory."""

    loaded_at: str = Field(examples=["2026-11-22T17:31:05Z"])
    precompute_state: PrecomputeState = Field(
        description="The precomputed lists: 'running' while computed after start-up (requests "
        "are scored in full meanwhile, with the same results), 'ready', 'failed' or 'stopped' "
        "(scored in full), 'off' (precompute_top_n or precompute_max_users is 0), 'pending'.",
        examples=["ready"],
    )
    precomputed_users: int = Field(
        description="Users with a precomputed list (0 until ready).", examples=[100000]
    )
    precompute_top_n: int = Field(examples=[128])
    live_ranking: Literal["ranker", "blend"] = Field(
        description="What orders lists that keep watched streamers (exclude_watched=false, "
        "e.g. the live-now list) when a request gives no repeat_weight: the learned live "
        "ranker the artifact carries, or the repeat_weight blend.",
        examples=["ranker"],
    )
    precompute_seconds: float = Field(
        description="Time the precomputation took (while running: so far).", examples=[21.4]
    )
    repeat_weight: float = Field(
        description="Default boost of the user's own streamers when they are kept.",
        examples=[10.0],
    )


class ModelResponse(BaseModel):
    """Metadata of the loaded model artifact."""

    model_version: str = Field(examples=[_VERSION_EXAMPLE])
    created_at: str | None = Field(examples=["2026-11-22T17:30:00Z"])
    engine: str | None = Field(examples=["implicit"])
    params: dict[str, Any] = Field(
        description="Training hyperparameters.",
        examples=[{"factors": 64, "iterations": 15, "regularization": 0.05, "alpha": 2.0}],
    )
    counts: dict[str, int] = Field(
        examples=[{"users": 100000, "streamers": 162625, "nonzeros": 1500000, "factors": 64}]
    )
    data: dict[str, Any] | None = Field(
        description="The training data: file name (never its folder), content fingerprint, "
        "rows read and dropped.",
        examples=[{"fingerprint": "9f86d081884c7d659a2feaa0c55ad015", "rows_read": 3051733}],
    )
    evaluation: dict[str, Any] | None = Field(
        description="Offline evaluation numbers, when the training run wrote them."
    )
    serving: ServingInfo


class ReloadResponse(BaseModel):
    """The outcome of a reload."""

    model_version: str = Field(examples=[_VERSION_EXAMPLE])
    previous_version: str = Field(examples=["20261121T173000Z-0c1d2e3f"])
    seconds: float = Field(description="Time to load and check the new model.", examples=[21.9])

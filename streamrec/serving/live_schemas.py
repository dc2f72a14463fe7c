"""Request and response bodies of the ``/live`` routes (who is live), with their limits."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from streamrec.serving.schemas import MAX_BODY_BYTES

MAX_LIVE_NAME = 100
"""Longest streamer name in the live set (Twitch logins have at most 25 characters)."""
LIVE_BYTES_PER_STREAMER = 32
"""Body bytes a ``/live`` write may take per allowed streamer (a 25-character login takes 28)."""
_NAMES_EXAMPLE = ["mithrain", "alptv", "zeon", "elraenn"]


LiveName = Annotated[str, StringConstraints(min_length=1, max_length=MAX_LIVE_NAME)]
# The live_max_streamers setting bounds these lists in the route; this is its largest value.
LiveNames = Annotated[list[LiveName], Field(max_length=1_000_000)]


def live_body_bytes(max_streamers: int) -> int:
    """Largest body of ``PUT`` and ``PATCH /live`` for a live set of ``max_streamers``."""
    return max(MAX_BODY_BYTES, LIVE_BYTES_PER_STREAMER * max_streamers)


class LiveReplace(BaseModel):
    """The whole live set, replacing the previous one."""

    model_config = ConfigDict(
        extra="forbid", strict=True, json_schema_extra={"examples": [{"streamers": _NAMES_EXAMPLE}]}
    )

    streamers: LiveNames = Field(
        description="Every streamer live now; names unknown to the "
        "model are kept (a later model may know them) and counted."
    )


class LiveDelta(BaseModel):
    """Streamers that went online (or are still online: refreshed) and that went offline."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={"examples": [{"online": ["zeon"], "offline": ["alptv"]}]},
    )

    online: LiveNames = Field(
        default_factory=list, description="Add these, or refresh their time-to-live."
    )
    offline: LiveNames = Field(
        default_factory=list, description="Drop these; names not in the set are ignored."
    )


class LiveResponse(BaseModel):
    """The live set: how many, which version, since when."""

    status: Literal["not fed", "live", "expired"] = Field(
        description="'not fed' (no write since start-up: live_only is a 409), 'live', or "
        "'expired' (every streamer's time-to-live ran out since the last write: live_only is "
        "a 409 until the next write).",
        examples=["live"],
    )
    streamers: int = Field(description="Streamers live now.", examples=[1000])
    unknown_streamers: int = Field(
        description="Of those, how many the loaded model does not know (they rank nowhere).",
        examples=[3],
    )
    version: int = Field(
        description="Grows whenever the set changes (by a write or by expiry); 0 = never fed.",
        examples=[42],
    )
    changed_at: str | None = Field(
        description="When the set last changed (UTC); null before the first write.",
        examples=["2026-12-01T09:00:00.000Z"],
    )
    written_at: str | None = Field(
        description="When the stream directory last wrote, changed or not.",
        examples=["2026-12-01T09:02:00.000Z"],
    )
    ttl_seconds: float | None = Field(
        description="The live_ttl setting; null = no expiry.", examples=[300.0]
    )
    names: list[str] | None = Field(
        None, description="The live streamers, sorted; only with ?names=true.", examples=[None]
    )


class LiveWriteResponse(LiveResponse):
    """The live set after a write, and what the write changed."""

    added: int = Field(description="Streamers that were not live before.", examples=[12])
    removed: int = Field(description="Streamers that are no longer live.", examples=[9])

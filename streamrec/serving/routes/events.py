"""What viewers watch: ``POST /events`` takes batches of watch sessions.

Guarded by the ``live_token`` (checked before the body is read; without a token the route
answers 404) and bounded by ``events_max_body_bytes``. The work is
:class:`streamrec.serving.watch_events.WatchEvents`; this module maps its outcomes to HTTP:
200 with the counts once the batch is in the log and the overlay, 422 for a batch that cannot
be read or holds no valid row (naming the reasons), 503 with ``Retry-After`` when ingestion is
overloaded, the log is full or cannot be written.
"""

from __future__ import annotations

from typing import Any, NoReturn

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPBearer
from pydantic import BaseModel, Field

from streamrec.data.events import EventsError
from streamrec.serving.deps import json_response
from streamrec.serving.watch_events import NoValidRows, Overloaded, WatchEvents

_CSV_EXAMPLE = (
    "user_id,stream_id,streamer_name,time_start,time_stop\n1,34,zeon,600,603\n2,35,alptv,601,\n"
)
_JSON_EXAMPLE = {
    "sessions": [
        {
            "user_id": 1,
            "stream_id": 34,
            "streamer_name": "zeon",
            "time_start": 600,
            "time_stop": 603,
        },
        {
            "user_id": 2,
            "stream_id": 35,
            "streamer_name": "alptv",
            "time_start": 601,
            "time_stop": None,
        },
    ]
}
_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {"schema": {"type": "string"}, "example": _CSV_EXAMPLE},
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["sessions"],
                    "properties": {
                        "sessions": {
                            "type": "array",
                            "items": {"type": ["object", "array"]},
                            "description": "Rows: objects with the five columns as keys, or "
                            "arrays of five values. A null or missing time_stop: open.",
                        }
                    },
                },
                "example": _JSON_EXAMPLE,
            },
        },
    }
}


class EventsResponse(BaseModel):
    """What a batch did."""

    rows: int = Field(description="Rows in the batch (blank lines and a header are not rows).")
    accepted: int = Field(description="New sessions now in the log and in the lists.")
    open: int = Field(description="Of them, open sessions (no time_stop).")
    closed: int = Field(description="Open sessions held before that a row of this batch closed.")
    dropped: dict[str, int] = Field(
        description="Rows not accepted, per reason: the CSV loader's (duplicate includes "
        "repeats of sessions accepted before)."
    )
    unknown_streamers: int = Field(
        description="Distinct streamers of the accepted rows the served model does not know "
        "(kept: the next model will)."
    )
    overlay_events: int = Field(description="Sessions the server now holds since its model.")


def _invalid(message: str) -> NoReturn:
    error = {"type": "value_error", "loc": ("body",), "msg": message, "input": None}
    raise RequestValidationError([error])


async def post_events(request: Request) -> Response:
    """Watch sessions in the Twitch columns: `text/csv` rows or a JSON `sessions` list."""
    watch: WatchEvents = request.app.state.watch_events
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in ("text/csv", "application/json"):
        raise HTTPException(
            415, detail=f"Content-Type must be text/csv or application/json, not {media!r}"
        )
    body = await request.body()
    model = request.app.state.store.current
    try:
        result = await watch.ingest(body, media == "application/json", model)
    except (EventsError, NoValidRows) as exc:
        _invalid(str(exc))
    except Overloaded as exc:
        raise HTTPException(
            503, detail=str(exc), headers={"Retry-After": str(exc.retry_after)}
        ) from exc
    except OSError as exc:
        raise HTTPException(
            503,
            detail=f"the event log cannot be written: {exc.strerror or exc}; nothing was "
            "accepted, retry",
            headers={"Retry-After": "5"},
        ) from exc
    return json_response(result.as_dict())


async def events_off(request: Request) -> NoReturn:
    """Off: the server has no live_token, so nobody may post events."""
    raise HTTPException(404, detail="POST /events is off: the server has no live_token set")


_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or wrong live token."},
    415: {"description": "Neither text/csv nor application/json."},
    422: {
        "description": "The batch cannot be read, holds no valid row (the detail names the "
        "reasons), or is over a bound.",
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}
        },
    },
    429: {"description": "Too many wrong tokens from this client; see Retry-After."},
    503: {
        "description": "Overloaded, or the event log is full or cannot be written; nothing "
        "was accepted. Retry after Retry-After seconds."
    },
}


def register(app: FastAPI, watch: WatchEvents | None) -> None:
    """Add ``POST /events`` to ``app``: on with ``watch``, else a 404 that says why."""
    tags = ["live"]
    if watch is None:
        app.add_api_route(
            "/events",
            events_off,
            methods=["POST"],
            response_model=None,
            status_code=404,
            summary="POST /events: off (no live_token set)",
            response_description="The write routes are off.",
            tags=tags,
        )
        return
    app.state.watch_events = watch
    auth = [Depends(HTTPBearer(auto_error=False, scheme_name="live_token"))]
    app.add_api_route(
        "/events",
        post_events,
        methods=["POST"],
        response_model=EventsResponse,
        summary="Watch sessions (events) since the model was trained",
        responses=_RESPONSES,
        dependencies=auth,
        openapi_extra=_BODY,
        tags=tags,
    )

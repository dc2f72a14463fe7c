"""Who is live: the stream directory replaces or patches the live set; the read routes read it.

``PUT`` and ``PATCH /live`` need the ``live_token``, checked before the body is read
(:class:`streamrec.serving.security.BearerTokenGuard`; without a token they answer 404); ``GET
/live`` is a read route. The routes are plain functions, so FastAPI runs them in its thread pool: a
write of 100,000 names costs a tenth of a second that the event loop should not wait on.
"""

from __future__ import annotations

from typing import Annotated, Any, NoReturn

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPBearer

from streamrec.serving.live_filter import LiveFilters, iso_time
from streamrec.serving.live_schemas import LiveDelta, LiveReplace, LiveResponse, LiveWriteResponse
from streamrec.serving.live_state import LiveSetTooLargeError, LiveSnapshot

_TOKEN = "The live_token setting."
_AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or wrong live token."},
    429: {"description": "Too many wrong tokens from this client; see Retry-After."},
}


def _body(request: Request, snapshot: LiveSnapshot, names: bool = False) -> dict[str, Any]:
    live: LiveFilters = request.app.state.live
    resolved = live.resolved(request.app.state.store.current, snapshot)
    return {
        "status": snapshot.status,
        "streamers": len(snapshot),
        "unknown_streamers": len(resolved.unknown),
        "version": snapshot.version,
        "changed_at": iso_time(snapshot.changed_at),
        "written_at": iso_time(snapshot.written_at),
        "ttl_seconds": snapshot.ttl,
        "names": sorted(snapshot.refreshed) if names else None,
    }


def _invalid(field: str, message: str) -> NoReturn:
    error = {"type": "value_error", "loc": ("body", field), "msg": message, "input": None}
    raise RequestValidationError([error])


def _check_length(request: Request, field: str, names: list[str]) -> None:
    bound = request.app.state.settings.live_max_streamers
    if len(names) > bound:
        _invalid(
            field, f"List should have at most {bound} items (live_max_streamers), not {len(names)}"
        )


def read_live(
    request: Request,
    names: Annotated[bool, Query(description="Include the live streamers' names.")] = False,
) -> LiveResponse:
    """The live set: its size, version, last change and time-to-live."""
    return LiveResponse(**_body(request, request.app.state.live.state.snapshot(), names))


def replace_live(request: Request, body: LiveReplace) -> LiveWriteResponse:
    """Replace the whole live set; every streamer in it is refreshed."""
    _check_length(request, "streamers", body.streamers)
    try:
        snapshot, added, removed = request.app.state.live.state.replace(body.streamers)
    except LiveSetTooLargeError as exc:
        _invalid("streamers", str(exc))
    return LiveWriteResponse(**_body(request, snapshot), added=added, removed=removed)


def patch_live(request: Request, body: LiveDelta) -> LiveWriteResponse:
    """Streamers going online (or refreshed) and offline."""
    _check_length(request, "online", body.online)
    _check_length(request, "offline", body.offline)
    both = sorted(set(body.online) & set(body.offline))
    if both:
        shown = ", ".join(repr(name) for name in both[:3]) + (", ..." if len(both) > 3 else "")
        _invalid("offline", f"{len(both)} streamers are both online and offline: {shown}")
    try:
        snapshot, added, removed = request.app.state.live.state.apply(body.online, body.offline)
    except LiveSetTooLargeError as exc:
        _invalid("online", str(exc))
    return LiveWriteResponse(**_body(request, snapshot), added=added, removed=removed)


async def writes_off(request: Request) -> NoReturn:
    """Off: the server has no live_token, so nobody may write the live set."""
    raise HTTPException(
        404, detail=f"{request.method} /live is off: the server has no live_token set"
    )


def register(app: FastAPI, live: LiveFilters, writable: bool) -> None:
    """Add the live routes to ``app``; the writes only if ``writable`` (else they are 404)."""
    app.state.live = live
    tags = ["live"]
    app.get("/live", response_model=LiveResponse, summary="Who is live now", tags=tags)(read_live)
    if not writable:  # documented as they answer: a 404 that says why
        for method in ("PUT", "PATCH"):
            app.add_api_route(
                "/live",
                writes_off,
                methods=[method],
                response_model=None,
                status_code=404,
                summary=f"{method} /live: off (no live_token set)",
                response_description="The write routes are off.",
                tags=tags,
            )
        return
    # Checked by streamrec.serving.security.BearerTokenGuard before the body is read; declared here
    # for the OpenAPI schema.
    auth = [Depends(HTTPBearer(auto_error=False, scheme_name="live_token", description=_TOKEN))]
    app.put(
        "/live",
        response_model=LiveWriteResponse,
        summary="Replace the live set",
        responses=_AUTH_RESPONSES,
        dependencies=auth,
        tags=tags,
    )(replace_live)
    app.patch(
        "/live",
        response_model=LiveWriteResponse,
        summary="Streamers going online and offline",
        responses=_AUTH_RESPONSES,
        dependencies=auth,
        tags=tags,
    )(patch_live)

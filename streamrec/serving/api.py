"""The HTTP API: the app factory and its lifespan (routes: :mod:`streamrec.serving.routes`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool
from threadpoolctl import threadpool_limits

from streamrec.serving.live_filter import LiveFilters
from streamrec.serving.live_schemas import live_body_bytes
from streamrec.serving.live_state import InProcessLiveState
from streamrec.serving.middleware import BodySizeLimit, validation_error_handler
from streamrec.serving.monitoring import HttpMetrics, Monitoring
from streamrec.serving.recommender import Recommender
from streamrec.serving.reload import ModelStore, load_recommender
from streamrec.serving.routes import (
    admin,
    docs,
    events,
    live,
    operations,
    recommendations,
    streamers,
)
from streamrec.serving.routing import JSONBodyRoute, method_not_allowed
from streamrec.serving.schemas import MAX_BODY_BYTES
from streamrec.serving.security import (
    OWN_TOKEN_ROUTES,
    APIKeyGuard,
    BearerTokenGuard,
    FailureThrottle,
)
from streamrec.serving.watch_events import WatchEvents
from streamrec.settings import Settings, get_settings

logger = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, recommender: Recommender | None = None) -> FastAPI:
    """Build the API.

    Parameters
    ----------
    settings : Settings, optional
        Defaults to the process settings (environment and ``.env``).
    recommender : Recommender, optional
        An already loaded model; when omitted, the lifespan loads ``settings.model_path``.

    Examples
    --------
    >>> import uvicorn
    >>> uvicorn.run(create_app(), port=8000)  # doctest: +SKIP
    """
    settings = settings or get_settings()
    monitoring = Monitoring()
    live_state = InProcessLiveState(settings.live_ttl, settings.live_max_streamers)
    monitoring.watch_live(live_state)
    writable = bool(settings.live_token.get_secret_value())
    # Watch events need the live layer's write token: without it, POST /events is off.
    watch = WatchEvents(settings, monitoring.event_rows) if writable else None
    build = partial(load_recommender, settings=settings)
    on_swap = monitoring.model_loaded
    if watch is not None:
        monitoring.watch_events(watch)
        build = partial(_attached, build, watch)
        on_swap = partial(_swapped, monitoring, watch)
    store = ModelStore(
        settings.model_path,
        build,
        recommender,
        on_swap=on_swap,
        on_failure=monitoring.load_failed,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Requests are scored on the loop and in FastAPI's thread pool; BLAS threads on top
        # oversubscribe the cores, so BLAS runs single-threaded for the life of the server.
        with threadpool_limits(limits=1, user_api="blas"):
            if recommender is None:
                store.load()
            model = store.current
            if watch is not None:  # replays the events the model was not trained on
                await run_in_threadpool(watch.start, model)
            logger.info(
                "serving model %s (%d users, %d streamers); precomputed lists: %s",
                model.model_version,
                model.n_users,
                model.n_items,
                model.precompute_state,
            )
            # The port opens now; requests are scored in full until the lists are ready.
            store.precompute_in_background()
            tasks = []
            if settings.reload_interval > 0:
                tasks.append(asyncio.create_task(store.watch(settings.reload_interval)))
            if watch is not None:
                tasks.append(asyncio.create_task(_maintain(watch)))
            try:
                yield
            finally:
                for task in tasks:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                store.close()
                if watch is not None:
                    watch.close()

    app = FastAPI(
        title="streamrec",
        summary="Streamer recommendations for live-streaming platforms.",
        version="0.1.0",
        lifespan=lifespan,
        openapi_url=None,  # set below, once the API's own routes are in
        docs_url=None,  # served from this server by routes.docs, not from a CDN
        redoc_url=None,
        telemetry=None
        if settings.opentelemetry
        else {"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.store = store
    app.state.monitoring = monitoring
    app.router.route_class = JSONBodyRoute
    # Each routes module registers its path operations on the app itself: FastAPI resolves an
    # included APIRouter again on every request, which cost ~20 us per request here, a tenth of
    # the whole request.
    recommendations.register(app)
    streamers.register(app)
    live.register(app, LiveFilters(live_state), writable=writable)
    events.register(app, watch)
    operations.register(app)
    if settings.admin_token.get_secret_value():
        admin.register(app)
    # Routes are matched in order: FastAPI's documentation routes go after the API's, so the hot
    # routes match first.
    app.openapi_url = "/openapi.json"
    app.setup()
    docs.register(app)
    api_key = settings.api_key.get_secret_value()
    docs.finish_openapi(app, api_key=bool(api_key))
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(405, method_not_allowed)
    # The live layer's writes may be larger; only where they are on, behind their token.
    write_bytes = {
        "/live": live_body_bytes(settings.live_max_streamers),
        "/events": settings.events_max_body_bytes,
    }
    app.add_middleware(
        BodySizeLimit, max_bytes=MAX_BODY_BYTES, paths=write_bytes if writable else {}
    )
    # Outside the body limit: the write routes' tokens are checked before any body is read.
    for setting, routes, label in (
        ("live_token", OWN_TOKEN_ROUTES, "live write routes"),
        ("admin_token", admin.GUARDED, "admin routes"),
    ):
        token = getattr(settings, setting).get_secret_value()
        if token:
            app.add_middleware(
                BearerTokenGuard,
                routes=routes,
                token=token,
                setting=setting,
                label=label,
                throttle=FailureThrottle(),
            )
    if api_key:  # inside the metrics: refused requests are counted too
        app.add_middleware(APIKeyGuard, api_key=api_key, throttle=FailureThrottle())
    app.add_middleware(HttpMetrics, monitoring=monitoring)  # outermost: sees every response
    return app


def _attached(build: Callable[[Path], Recommender], watch: WatchEvents, path: Path) -> Recommender:
    """A newly loaded model that reads the overlay from its first request."""
    model = build(path)
    model.attach(watch.overlay)
    return model


def _swapped(monitoring: Monitoring, watch: WatchEvents, model: Recommender) -> None:
    monitoring.model_loaded(model)
    watch.model_swapped(model)


async def _maintain(watch: WatchEvents) -> None:
    """Seal idle event log segments and apply the retention, until cancelled."""
    while True:
        await asyncio.sleep(watch.maintenance_seconds)
        await run_in_threadpool(watch.maintain)

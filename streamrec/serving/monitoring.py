"""Prometheus metrics: HTTP traffic per route, list sources, and the model being served.

Every series is a prometheus_client metric in the app's own registry (so several apps, as in
the tests, can live in one process), served by ``GET /metrics``:

- ``http_requests_total{handler, method, status}`` and
  ``http_request_duration_seconds{handler, method}`` (histogram), ``handler`` being the route
  template (``/recomendations/user/{user_id}``) or ``none``; the names and labels are those of
  prometheus-fastapi-instrumentator, so its dashboards work unchanged;
- ``streamrec_recommendations_total{endpoint, source}``: lists served; the fallback rate is
  ``sum(rate(...{source="popular"}[5m])) / sum(rate(...[5m]))``;
- ``streamrec_model_info{model_version, engine, created_at}`` (always 1), and
  ``streamrec_model_loaded_timestamp_seconds``;
- ``streamrec_model_loads_total{result}``: loads at start-up and reloads, ``success`` or
  ``failure`` (a failed reload leaves the previous model serving);
- ``streamrec_precomputed_users``: users with a precomputed list in the model being served,
  read at each scrape; 0 while the lists are computed after start-up (requests are then scored
  in full), and when they failed or are off.
- ``streamrec_live_streamers``: streamers in the live set (``/live``), and
  ``streamrec_live_change_age_seconds``: seconds since the set last changed (before the first
  write: since the server started, so an alert on it also fires when the stream directory
  never wrote); both read at each scrape.

The HTTP series are recorded by :class:`HttpMetrics` rather than by prometheus-fastapi-
instrumentator's middleware: that one matches every request against the route table a second
time and builds a response object for its hooks, ~30 µs per request, which took the server
from ~175 to ~205 µs of CPU per GET (the floor app needs ~140; ``bench/serve.py``). FastAPI
has already matched the route, so :class:`HttpMetrics` reads its template from the scope.
"""

from __future__ import annotations

import time
import weakref
from collections import Counter as Tally
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from streamrec.serving.live_state import LiveState
from streamrec.serving.recommender import Recommender
from streamrec.serving.watch_events import WatchEvents

# Request latencies in seconds: the service answers in about a millisecond, batches take longer.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
# Any other method is recorded as "other", so clients cannot create series at will.
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


class Monitoring:
    """The metrics of one app (see the module docstring for the series)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._requests = Counter(
            "http_requests",
            "HTTP requests by route template, method and status.",
            ["handler", "method", "status"],
            registry=self.registry,
        )
        self._latency = Histogram(
            "http_request_duration_seconds",
            "HTTP request latency by route template and method.",
            ["handler", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._recommendations = Counter(
            "streamrec_recommendations",
            "Recommendation lists served, by endpoint and source ('popular' is the fallback).",
            ["endpoint", "source"],
            registry=self.registry,
        )
        self._model = Info("streamrec_model", "The model being served.", registry=self.registry)
        self._loaded = Gauge(
            "streamrec_model_loaded_timestamp_seconds",
            "When the model being served was loaded (Unix time).",
            registry=self.registry,
        )
        self._loads = Counter(
            "streamrec_model_loads", "Model loads by result.", ["result"], registry=self.registry
        )
        self._loads.labels("failure")
        self._precomputed = Gauge(
            "streamrec_precomputed_users",
            "Users with a precomputed list in the model being served (0 until they are ready).",
            registry=self.registry,
        )
        self._live_streamers = Gauge(
            "streamrec_live_streamers",
            "Streamers in the live set (GET /live).",
            registry=self.registry,
        )
        self._live_age = Gauge(
            "streamrec_live_change_age_seconds",
            "Seconds since the live set last changed (before the first write: since start-up).",
            registry=self.registry,
        )
        self._event_rows = Counter(
            "streamrec_event_rows",
            "POST /events rows by outcome: accepted, or the reason they were dropped.",
            ["outcome"],
            registry=self.registry,
        )
        self._overlay = Gauge(
            "streamrec_overlay",
            "What the overlay holds since the model: sessions, open sessions, viewers, and "
            "viewers evicted at its memory bound (since start-up).",
            ["what"],
            registry=self.registry,
        )
        self._event_log = Gauge(
            "streamrec_event_log_bytes",
            "Bytes of event log segments: all, and not yet trained on by the loaded model.",
            ["what"],
            registry=self.registry,
        )
        # Resolving labels costs more than the update itself: each child is resolved once.
        self._http_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self._source_children: dict[tuple[str, str], Counter] = {}

    def request_done(self, handler: str, method: str, status: int, seconds: float) -> None:
        """Record one HTTP request."""
        if method not in _METHODS:
            method = "other"
        key = (handler, method, status)
        children = self._http_children.get(key)
        if children is None:
            children = self._http_children[key] = (
                self._requests.labels(handler, method, str(status)),
                self._latency.labels(handler, method),
            )
        children[0].inc()
        children[1].observe(seconds)

    def served(self, endpoint: str, sources: str | Iterable[str]) -> None:
        """Count lists served by ``endpoint``: one source, or one per list of a batch."""
        if isinstance(sources, str):
            self._source_counter(endpoint, sources).inc()
            return
        for source, count in Tally(sources).items():
            self._source_counter(endpoint, source).inc(count)

    def _source_counter(self, endpoint: str, source: str) -> Counter:
        key = (endpoint, source)
        child = self._source_children.get(key)
        if child is None:
            child = self._source_children[key] = self._recommendations.labels(endpoint, source)
        return child

    def model_loaded(self, recommender: Recommender) -> None:
        """Publish a model that starts serving."""
        self._model.info(
            {
                "model_version": recommender.model_version,
                "engine": str(recommender.metadata.get("engine", "unknown")),
                "created_at": str(recommender.metadata.get("created_at", "unknown")),
            }
        )
        self._loaded.set_to_current_time()
        self._loads.labels("success").inc()
        # Read at scrape time: the lists may become ready long after the swap. A weak
        # reference, so the gauge does not keep a replaced model alive.
        model = weakref.ref(recommender)
        self._precomputed.set_function(lambda: _precomputed_users(model()))

    def watch_live(self, state: LiveState) -> None:
        """Read the live set's size and the age of its last change at each scrape."""
        self._live_streamers.set_function(lambda: len(state.snapshot()))
        self._live_age.set_function(
            lambda: time.time() - (state.snapshot().changed_at or state.started_at)
        )

    def watch_events(self, watch: WatchEvents) -> None:
        """Read the overlay's and the event log's sizes at each scrape."""
        overlay = watch.overlay
        for what, read in (
            ("sessions", lambda: overlay.events),
            ("open_sessions", lambda: overlay.open_sessions),
            ("viewers", lambda: overlay.viewers),
            ("evicted_viewers", lambda: overlay.evicted_viewers),
        ):
            self._overlay.labels(what).set_function(read)
        for what in ("bytes", "unconsumed_bytes"):
            self._event_log.labels("all" if what == "bytes" else "unconsumed").set_function(
                lambda what=what: watch.log.stats().get(what, 0)
            )

    def event_rows(self, outcome: str, rows: int) -> None:
        """Count ``rows`` rows of POST /events as ``outcome`` (accepted or a drop reason)."""
        self._event_rows.labels(outcome).inc(rows)

    def load_failed(self, error: Exception) -> None:
        """Count a model file that could not be loaded."""
        self._loads.labels("failure").inc()


def _precomputed_users(recommender: Recommender | None) -> int:
    return 0 if recommender is None else recommender.precomputed_users


class HttpMetrics:
    """ASGI middleware: time every HTTP request and count it by route template and status.

    Parameters
    ----------
    app : ASGI application
        The wrapped application (add this middleware last, so it sees every response).
    monitoring : Monitoring
        Where the requests are recorded.
    """

    def __init__(self, app: ASGIApp, monitoring: Monitoring) -> None:
        self.app = app
        self.monitoring = monitoring

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless a response starts: an unhandled error

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            # The router stores the route it matched in the scope; none for a 404, or for a
            # request refused before routing (e.g. an oversized body).
            route = scope.get("route")
            handler = getattr(route, "path", None) or "none"
            self.monitoring.request_done(
                handler, scope["method"], status, time.perf_counter() - started
            )

"""The replay benchmark's HTTP side: the real server, the replay itself, ingestion and latency
while ingesting (``bench/replay.py`` drives it)."""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench._replay_data import MISS, Window
from bench.serve import Running, _cpu_seconds, _process, _wait_for_lists
from streamrec.data.live import LiveIndex

TOKEN = "bench-replay-token"
LIST_PATH = "/recomendations/user/{}?k=10&live_only=true&exclude_watched=false"
logger = logging.getLogger("bench.replay")


class NoEventRoute(RuntimeError):
    """The server answers POST /events with 404: it predates the event route."""


@contextlib.contextmanager
def server(model: Path, log: Path) -> Iterator[Running]:
    """The real server (``python platform.py``) with a live token and a fresh event log."""
    with tempfile.TemporaryDirectory(prefix="replay-events-") as events:
        env = {}
        for name, value in (
            ("LIVE_TOKEN", TOKEN),
            ("EVENT_LOG_DIR", events),
            ("MODEL_PATH", str(model)),
            ("RELOAD_INTERVAL", "0"),
        ):  # the settings' names, with and without the STREAMREC_ prefix
            env[name] = env[f"STREAMREC_{name}"] = value
        command = [sys.executable, "platform.py", "--model", str(model)]
        with _process(command, log, "/health", env=env) as running:
            _wait_for_lists(running)
            yield running


class Client:
    """One persistent HTTP/1.1 connection to the server."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.retries = 0  # 503 answers retried

    def request(self, method: str, path: str, body: bytes | None = None, kind: str = "") -> tuple:
        headers = {"Authorization": f"Bearer {TOKEN}"} if method in ("PUT", "POST") else {}
        if body is not None:
            headers["Content-Type"] = kind or "application/json"
        for _ in range(100):
            try:
                self.connection.request(method, path, body=body, headers=headers)
                response = self.connection.getresponse()
                payload = response.read()
            except (http.client.HTTPException, ConnectionError):
                self.connection.close()  # reconnect once, then give up
                self.connection.request(method, path, body=body, headers=headers)
                response = self.connection.getresponse()
                payload = response.read()
            if response.status != 503:
                return response.status, payload
            self.retries += 1
            time.sleep(float(response.getheader("Retry-After") or 0.05))
        return response.status, payload

    def json(self, method: str, path: str, body: bytes | None = None, kind: str = "") -> dict:
        status, payload = self.request(method, path, body, kind)
        if status != 200:
            raise RuntimeError(f"{method} {path} answered {status}: {payload[:300]!r}")
        return json.loads(payload)

    def put_live(self, names: list[str]) -> dict:
        return self.json("PUT", "/live", json.dumps({"streamers": names}).encode())

    def post_events(self, csv: bytes) -> dict:
        status, payload = self.request("POST", "/events", csv, "text/csv")
        if status == 404:
            raise NoEventRoute("POST /events answered 404: this server has no event route")
        if status != 200:
            raise RuntimeError(f"POST /events answered {status}: {payload[:300]!r}")
        return json.loads(payload)

    def close(self) -> None:
        self.connection.close()


@dataclass
class Replayed:
    """One setup's replay: ranks per window session, and what it cost."""

    ranks: np.ndarray
    seconds: float
    requests: int
    posts: int = 0
    events: dict[str, int] = field(default_factory=dict)  # POST /events answers, summed
    get_ms: list[float] = field(default_factory=list)
    post_ms: list[float] = field(default_factory=list)


def replay(port: int, win: Window, live: LiveIndex, post: bool) -> Replayed:
    """Replay the window in time order on one connection; ``post``: the live setup (close the
    sessions stopped by each step, then after the step's requests post its sessions open)."""
    client = Client(port)
    try:
        return _replay(client, win, live, post)
    finally:
        client.close()


def _replay(client: Client, win: Window, live: LiveIndex, post: bool) -> Replayed:
    if post:  # fail at once, before the replay, when the server has no event route
        _probe(client)
    ranks = np.empty(len(win), dtype=np.int64)
    sessions_at: dict[int, list[int]] = {}
    for j, t in enumerate(win.start.tolist()):
        sessions_at.setdefault(t, []).append(j)
    queries_at: dict[int, list[int]] = {}
    for q, t in enumerate(win.query_step.tolist()):
        queries_at.setdefault(t, []).append(q)
    by_query: dict[int, list[int]] = {}
    for j, q in enumerate(win.query.tolist()):
        by_query.setdefault(q, []).append(j)
    stops = sorted(set(win.stop.tolist()) | set(sessions_at))
    open_sessions: list[int] = []
    result = Replayed(ranks, 0.0, 0)
    started = time.perf_counter()
    for t in stops:
        if post and open_sessions:
            closing = [j for j in open_sessions if win.stop[j] <= t]
            if closing:
                open_sessions = [j for j in open_sessions if win.stop[j] > t]
                _post(result, client, win.rows(np.array(closing), closed=True))
        if t not in sessions_at:
            continue
        client.put_live(win.names[live.live(t)].tolist())
        for q in queries_at[t]:
            asked = time.perf_counter()
            listed = client.json("GET", LIST_PATH.format(win.query_user[q]))["personal"]
            result.get_ms.append((time.perf_counter() - asked) * 1e3)
            position = {name: k + 1 for k, name in enumerate(listed[:10])}
            for j in by_query[q]:
                ranks[j] = position.get(win.names[win.item[j]], MISS)
            result.requests += 1
        if post:
            _post(result, client, win.rows(np.array(sessions_at[t]), closed=False))
            open_sessions += sessions_at[t]
    result.seconds = time.perf_counter() - started
    return result


def _probe(client: Client) -> None:
    """POST /events with no row: 404 without the route (NoEventRoute), else 422 or 200."""
    status, payload = client.request("POST", "/events", b"", "text/csv")
    if status == 404:
        detail = json.loads(payload or b"{}").get("detail", "Not Found")
        said = "" if detail == "Not Found" else f" (it says: {detail})"
        raise NoEventRoute(f"POST /events answered 404: this server has no event route{said}")


def _post(result: Replayed, client: Client, body: bytes) -> None:
    asked = time.perf_counter()
    answer = client.post_events(body)
    result.post_ms.append((time.perf_counter() - asked) * 1e3)
    result.posts += 1
    for key in ("rows", "accepted", "open", "closed", "unknown_streamers"):
        result.events[key] = result.events.get(key, 0) + int(answer.get(key, 0))
    # A gauge, not a count: the sessions the server holds since its model, after this batch.
    result.events["overlay_events"] = int(answer.get("overlay_events", 0))
    for reason, n in (answer.get("dropped") or {}).items():
        result.events[f"dropped {reason}"] = result.events.get(f"dropped {reason}", 0) + int(n)


# -- ingestion throughput -------------------------------------------------------------------


@dataclass(frozen=True)
class Ingested:
    events: int
    seconds: float
    cpu_seconds: float
    retries: int

    @property
    def rate(self) -> float:
        return self.events / self.seconds


def batches(win: Window, size: int, offset: int = 0) -> list[bytes]:
    """Every window session as a closed row, in ``size``-row bodies; ``offset`` shifts the
    stream ids (new, distinct events)."""
    index = np.arange(len(win))
    return [
        win.rows(index[lo : lo + size], closed=True, sid_offset=offset)
        for lo in range(0, len(win), size)
    ]


def ingest(running: Running, bodies: list[bytes], clients: int) -> Ingested:
    """Post ``bodies`` from ``clients`` concurrent connections as fast as they go."""
    clients_ = [Client(running.port) for _ in range(clients)]
    accepted = [0] * clients
    errors: list[BaseException] = []

    def work(c: int) -> None:
        try:
            for body in bodies[c::clients]:
                accepted[c] += clients_[c].post_events(body)["rows"]
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(c,)) for c in range(clients)]
    cpu = _cpu_seconds(running.pid)
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    cpu = _cpu_seconds(running.pid) - cpu
    for client in clients_:
        client.close()
    if errors:
        raise errors[0]
    return Ingested(sum(accepted), seconds, cpu, sum(c.retries for c in clients_))


class SteadyIngest:
    """A background client posting ``batch`` rows every ``interval`` seconds (5,000 events/s by
    default) until stopped; it cycles through the window, shifting stream ids each pass."""

    def __init__(self, port: int, win: Window, batch: int = 250, interval: float = 0.05) -> None:
        self.client = Client(port)
        self.win, self.batch, self.interval = win, batch, interval
        self.events = 0
        self.seconds = 0.0
        self.post_ms: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pass = 1  # stream ids of pass n are shifted by n * 10**9: new, distinct events
        self._at = 0
        self.error: BaseException | None = None

    def _next(self) -> bytes:
        """The next ``batch`` rows, wrapping around the window with new stream ids."""
        parts, wanted = [], self.batch
        while wanted:
            index = np.arange(self._at, min(self._at + wanted, len(self.win)))
            parts.append(self.win.rows(index, closed=True, sid_offset=self._pass * 10**9))
            wanted -= len(index)
            self._at += len(index)
            if self._at == len(self.win):
                self._at, self._pass = 0, self._pass + 1
        return b"".join(parts)

    def _run(self) -> None:
        started = time.perf_counter()
        due = started
        try:
            while not self._stop.is_set():
                asked = time.perf_counter()
                self.events += self.client.post_events(self._next())["rows"]
                self.post_ms.append((time.perf_counter() - asked) * 1e3)
                due += self.interval
                delay = due - time.perf_counter()
                if delay > 0:
                    self._stop.wait(delay)
        except BaseException as exc:  # noqa: BLE001 - reported by stop()
            self.error = exc
        self.seconds = time.perf_counter() - started

    def __enter__(self) -> SteadyIngest:
        self.events, self.seconds, self.post_ms = 0, 0.0, []
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join()
        self._stop.clear()
        if self.error is not None:
            raise self.error

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def percentiles(ms: list[float]) -> str:
    """``p50 / p99`` of latencies in ms, for the report."""
    if not ms:
        return "–"
    p50, p99 = np.percentile(ms, [50, 99])
    return f"{p50:.1f} / {p99:.1f}"

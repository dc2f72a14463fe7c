"""Watch events in the server: validate, log durably, then show in the next request's lists.

:class:`WatchEvents` ties the pieces together for ``POST /events``:

1. a batch is validated as the CSV loader validates a file (:mod:`streamrec.data.events`);
2. its rows not already held are appended to the event log and fsync'd
   (:class:`streamrec.data.event_log.EventLog`; concurrent batches share one fsync);
3. only then are they added to the overlay (:mod:`streamrec.serving.overlay`), which the
   models read from their next request on; the 200 is sent after that.

So an acknowledged event is on disk, and a batch that fails to be logged (disk full, the log's
bound reached) changes nothing and is refused with a 503: the client retries, and retried rows
that did make it are dropped as duplicates.

At start-up :meth:`WatchEvents.start` adds the sessions still open in the segments the loaded
model was trained on, which training skips and its artifact records, then replays the log's
segments that it was not trained on (the artifact records the segments it consumed); after a
hot reload :meth:`WatchEvents.model_swapped` forgets the closed sessions of the segments the
new model consumed and removes the consumed segments older than the retention.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from starlette.concurrency import run_in_threadpool

from streamrec.data import event_log, events
from streamrec.data.event_log import EventLog, EventLogFull
from streamrec.model.artifact import OpenSessions
from streamrec.serving.overlay import Overlay
from streamrec.serving.recommender import Recommender
from streamrec.settings import Settings

logger = logging.getLogger(__name__)

INLINE_BYTES = 32 << 10
"""Batches up to this size are handled on the event loop (about 800 rows, 2-4 ms of work)."""
INLINE_FSYNC_SECONDS = 0.002
"""Their write and fsync too, while those take less than this on average (a local disk's
0.1-0.5 ms); on a slower disk they wait in a worker thread instead."""


class Overloaded(RuntimeError):
    """Ingestion cannot take this batch now (too many in flight, or the log is full)."""

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NoValidRows(ValueError):
    """A batch without a single valid row."""

    def __init__(self, batch: events.EventBatch) -> None:
        reasons = ", ".join(f"{k}={v}" for k, v in batch.dropped.items()) or "none"
        super().__init__(f"no valid row among {batch.rows}: dropped {reasons}")
        self.batch = batch


@dataclass(frozen=True)
class Ingested:
    """What one batch did (the body of ``POST /events``)."""

    rows: int
    accepted: int
    open: int
    closed: int
    dropped: dict[str, int]
    unknown_streamers: int
    overlay_events: int

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class WatchEvents:
    """The overlay and the event log of one server.

    Parameters
    ----------
    settings : Settings
        ``event_log_*`` and ``events_*`` settings.
    on_rows : callable, optional
        ``on_rows(outcome, rows)`` for each batch's accepted rows (``"accepted"``) and dropped
        rows (by reason), e.g. to count them in the metrics.
    """

    def __init__(
        self, settings: Settings, on_rows: Callable[[str, int], None] | None = None
    ) -> None:
        self.settings = settings
        self._on_rows = on_rows or (lambda outcome, rows: None)
        self.overlay = Overlay(
            max_events=settings.events_max_in_memory,
            open_max_steps=settings.events_open_max_steps,
            popular_steps=settings.events_popular_steps,
        )
        self.log = EventLog(
            settings.event_log_dir,
            segment_bytes=settings.event_log_segment_bytes,
            segment_seconds=settings.event_log_segment_seconds,
            max_bytes=settings.event_log_max_bytes or None,
        )
        self._inflight = 0
        self._fsync_seconds = 0.0
        self._inflight_lock = threading.Lock()
        self._started = False

    # -- life cycle -------------------------------------------------------------------------

    def start(self, model: Recommender) -> int:
        """Open the log (repairing a crash's torn tail), add the sessions still open in the
        segments ``model`` was trained on, and replay the segments it was not trained on;
        return the sessions added and replayed.

        Training skips open rows, so an open session logged in a consumed segment and closed
        by no row of a consumed one is in neither the model nor the replayed segments; the
        artifact records these (``open_sessions``, computed by training over the segments it
        read), and they are added first, each under its own segment's seq (a later
        :meth:`model_swapped` keeps open sessions). The unconsumed segments are then replayed
        in order, and a closing row among them closes its session as it did live. A hot
        reload adds none: the overlay holds the open sessions already.
        """
        started = time.perf_counter()
        sealed = self.log.open()
        consumed = event_log.consumed_of(model.metadata)
        self.log.set_consumed(consumed)
        self.overlay.set_now(model.data_now)
        restored = self._restore_open(model.artifact.open_sessions)
        rows = 0
        for segment in sealed:
            if consumed.get(segment.path.name) == segment.size or segment.size == 0:
                continue
            try:
                batch = events.from_csv(segment.path.read_bytes())
            except events.EventsError:
                continue  # a segment of blank lines
            rows += self.overlay.add(batch, segment.seq).added
        self._started = True
        model.attach(self.overlay)
        self._retain()
        logger.info(
            "event log %s: held %d sessions still open in consumed segments and replayed %d "
            "sessions in %.1f s (%d segments, %d consumed by the model)",
            self.settings.event_log_dir,
            restored,
            rows,
            time.perf_counter() - started,
            len(sealed),
            sum(consumed.get(s.path.name) == s.size for s in sealed),
        )
        return restored + rows

    def _restore_open(self, sessions: OpenSessions | None) -> int:
        """Add the artifact's still-open sessions, each under its segment's seq, in seq order;
        return how many were added."""
        if sessions is None or len(sessions) == 0:
            return 0
        batch = events.open_batch(
            sessions.user_ids, sessions.stream_keys, sessions.streamer_names, sessions.time_starts
        )
        order = np.argsort(sessions.segments, kind="stable")  # by segment, in the log's order
        seqs, firsts = np.unique(sessions.segments[order], return_index=True)
        added = 0
        for seq, part in zip(seqs.tolist(), np.split(order, firsts[1:]), strict=True):
            added += self.overlay.add(batch.subset(part), seq).added
        return added

    def model_swapped(self, model: Recommender) -> None:
        """A new model serves (the store built it reading the overlay): forget what it was
        trained on."""
        if not self._started:  # the first model: start() replays for it
            return
        consumed = event_log.consumed_of(model.metadata)
        # A segment is consumed when both its name and its size match (as the log counts it).
        seqs = [s.seq for s in self.log.segments() if consumed.get(s.path.name) == s.size]
        dropped = self.overlay.drop_consumed(seqs)
        self.log.set_consumed(consumed)
        self.overlay.set_now(model.data_now)
        if dropped:
            logger.info("model %s was trained on %d held sessions", model.model_version, dropped)
        self._retain()

    def maintain(self) -> None:
        """Seal an idle log's overdue segment (training reads sealed ones only) and apply the
        retention; the server calls it every ``maintenance_seconds``."""
        try:
            self.log.rotate()
        except OSError as exc:  # appends report it too (503), until the log is reopened
            logger.error("event log: cannot seal the active segment: %s", exc)
        self._retain()

    @property
    def maintenance_seconds(self) -> float:
        return min(60.0, self.settings.event_log_segment_seconds / 4)

    def close(self) -> None:
        self.log.close()

    # -- ingestion --------------------------------------------------------------------------

    async def ingest(self, body: bytes, json: bool, model: Recommender) -> Ingested:
        """Validate, log and apply one batch; return once it is fsync'd and applied.

        A batch of up to ``INLINE_BYTES`` is validated and applied on the event loop, and
        logged there too while the log's write and fsync average under
        ``INLINE_FSYNC_SECONDS``: handing work to a worker thread costs far more than the work
        while the loop is busy with list requests, since the thread waits for the interpreter
        lock and the loop to pick up its result (a 250-row batch took 160 ms so under load,
        for under 5 ms of work and a 0.1 ms fsync). A larger batch, or the fsync of a slow
        disk, waits in a worker thread, so that the loop never stalls for long.

        Raises
        ------
        events.EventsError, NoValidRows
            The batch cannot be read, or holds no valid row (a 422).
        Overloaded
            Too many batches in flight, or the log is full (a 503); nothing was changed.
        OSError
            The log cannot be written; nothing was acknowledged or applied.
        """
        with self._inflight_lock:
            if self._inflight >= self.settings.events_max_inflight:
                raise Overloaded(
                    f"{self._inflight} event batches are being written "
                    f"(events_max_inflight); retry shortly"
                )
            self._inflight += 1
        try:
            inline = len(body) <= INLINE_BYTES
            if inline:
                batch, new, dropped = self._prepare(body, json)
            else:
                batch, new, dropped = await run_in_threadpool(self._prepare, body, json)
            segment = None
            if new.accepted:
                if inline and self._fsync_seconds < INLINE_FSYNC_SECONDS:
                    segment = self._append(new)
                else:
                    segment = await run_in_threadpool(self._append, new)
            if inline:
                return self._apply(batch, new, dropped, segment, model)
            return await run_in_threadpool(self._apply, batch, new, dropped, segment, model)
        finally:
            with self._inflight_lock:
                self._inflight -= 1

    def _prepare(
        self, body: bytes, json: bool
    ) -> tuple[events.EventBatch, events.EventBatch, dict[str, int]]:
        """The batch, its rows the overlay does not hold yet, and the drop counts."""
        max_rows = self.settings.events_max_rows
        batch = events.from_json(body, max_rows) if json else events.from_csv(body)
        if batch.rows > max_rows:
            raise events.EventsError(f"{batch.rows} rows in one batch; at most {max_rows}")
        if batch.accepted == 0:
            self._count(batch.dropped)
            raise NoValidRows(batch)
        fresh = np.flatnonzero(~self.overlay.held(batch))
        dropped = dict(batch.dropped)
        repeats = batch.accepted - len(fresh)
        if repeats:
            dropped["duplicate"] = dropped.get("duplicate", 0) + repeats
        return batch, batch.subset(fresh), dropped

    def _append(self, new: events.EventBatch) -> int:
        started = time.perf_counter()
        try:
            return self.log.append(events.log_lines(new))
        except EventLogFull as exc:
            raise Overloaded(str(exc), retry_after=60) from exc
        finally:  # a moving average: a disk that turns slow moves the fsyncs off the loop
            spent = time.perf_counter() - started
            self._fsync_seconds = 0.8 * self._fsync_seconds + 0.2 * spent

    def _apply(
        self,
        batch: events.EventBatch,
        new: events.EventBatch,
        dropped: dict[str, int],
        segment: int | None,
        model: Recommender,
    ) -> Ingested:
        added = closed = opened = unknown = 0
        if segment is not None:
            result = self.overlay.add(new, segment)
            added, closed, opened = result.added, result.closed, new.open
            if result.duplicates:  # a concurrent batch held them first (both are logged)
                dropped["duplicate"] = dropped.get("duplicate", 0) + result.duplicates
            unknown = model.unknown_names(new.streamer_name)
        self._count(dropped, added)
        return Ingested(
            rows=batch.rows,
            accepted=added,
            open=opened,
            closed=closed,
            dropped=dropped,
            unknown_streamers=unknown,
            overlay_events=self.overlay.events,
        )

    def _count(self, dropped: dict[str, int], added: int = 0) -> None:
        if added:
            self._on_rows("accepted", added)
        for reason, n in dropped.items():
            self._on_rows(reason, n)

    def _retain(self) -> None:
        hours = self.settings.event_log_retention_hours
        removed = self.log.remove_consumed(hours * 3600.0)
        if removed:
            logger.info(
                "event log: removed %d consumed segments older than %g h", len(removed), hours
            )

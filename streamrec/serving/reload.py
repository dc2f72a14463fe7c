"""Model loading: serve the first model at once, hot-reload later ones fully built.

At start-up, :meth:`ModelStore.load` reads and indexes the artifact and the server opens its
port. The model's precomputed lists are ready at once when training stored them for this
server's settings; otherwise :meth:`ModelStore.precompute_in_background` computes them
(:meth:`~streamrec.serving.recommender.Recommender.precompute`, a minute at Twitch scale on one
core; ``precompute_threads``, one per core by default) in the loader thread while requests are
answered by full scoring.

``als_fit.py`` replaces the model file atomically, so a reader sees the old file or the new one.
:class:`ModelStore` notices the change (a poll of the file's identity, or an explicit call),
builds the new :class:`~streamrec.serving.recommender.Recommender` off the event loop, lists
included (in the same loader thread, of lowered OS priority, so requests keep their CPU; a reload
requested while the first model's lists are computed waits for them), smoke-tests it and then
rebinds :attr:`ModelStore.current`. A request takes ``current`` once when it starts, so requests in
flight finish on the model they started with; the old model is freed when the last of them ends. A
file that fails to load (or whose lists fail) is logged and remembered, and the old model keeps
serving until the file changes again; each new file is loaded once, however its change is noticed.
:meth:`ModelStore.close` stops a precomputation within a fraction of a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from streamrec.model import artifact
from streamrec.serving.recommender import Recommender
from streamrec.settings import Settings

logger = logging.getLogger(__name__)

Signature = tuple[int, int, int]


class ReloadError(RuntimeError):
    """A new model could not be loaded; the previous one is still being served."""


@dataclass(frozen=True)
class ReloadResult:
    """What a successful reload did."""

    model_version: str
    previous_version: str
    seconds: float


def load_recommender(path: Path, settings: Settings) -> Recommender:
    """Load the artifact at ``path``, build the served model and smoke-test it.

    The model's precomputed lists are ready at once when the artifact holds lists computed
    for the settings' ``precompute_top_n`` and ``precompute_max_users``; otherwise they are
    still to compute (see :meth:`~streamrec.serving.recommender.Recommender.precompute`, on
    ``precompute_threads`` threads, one per core by default) and the model answers by full
    scoring meanwhile. Temporary files that killed training runs left next to ``path`` are
    removed first (:func:`streamrec.model.artifact.remove_stale_temporaries`).

    Parameters
    ----------
    path : Path
        The model artifact.
    settings : Settings
        Supplies the precomputation bounds (``precompute_*``) and ``repeat_weight``.

    Raises
    ------
    streamrec.model.artifact.ArtifactError
        The file is missing, not a valid artifact, or cannot be served (e.g. invalid training
        parameters in its metadata); the message starts with the path and says why.
    """
    artifact.remove_stale_temporaries(path)
    model = artifact.load(path)
    try:
        recommender = Recommender(
            model,
            top_n=settings.precompute_top_n,
            max_users=settings.precompute_max_users,
            threads=settings.precompute_threads or os.cpu_count() or 1,
            repeat_weight=settings.repeat_weight,
            precompute_now=False,
        )
        # Serve one known and one unknown user before the model may take traffic.
        recommender.recommend(int(recommender.artifact.user_ids[0]), k=1)
        recommender.recommend(-1, k=1)
    except Exception as exc:  # whatever a crafted file triggers, it must not stop the caller
        logger.debug("model %s cannot be served", path, exc_info=True)
        raise artifact.ArtifactError(
            f"{path} cannot be served: {type(exc).__name__}: {exc}"
        ) from exc
    return recommender


def _lower_priority() -> None:
    """Let request handling go first while a model loads (on Linux, nice is per thread)."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)


def file_signature(path: Path) -> Signature | None:
    """Identity of the file at ``path`` (inode, mtime, size), None when there is none."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return (stat.st_ino, stat.st_mtime_ns, stat.st_size)


class ModelStore:
    """The model being served, and how to replace it.

    Parameters
    ----------
    path : Path
        Where new models appear.
    build : callable
        ``build(path) -> Recommender``; raises when the file is unusable. The lists of the
        model it returns may still be to compute (``precompute_now=False``).
    current : Recommender, optional
        An already loaded model; otherwise call :meth:`load` before serving.
    on_swap : callable, optional
        Called with each model that starts serving (e.g. to update metrics).
    on_failure : callable, optional
        Called with the error of each failed reload.
    """

    def __init__(
        self,
        path: Path,
        build: Callable[[Path], Recommender],
        current: Recommender | None = None,
        on_swap: Callable[[Recommender], None] | None = None,
        on_failure: Callable[[Exception], None] | None = None,
    ) -> None:
        self.path = path
        self._build = build
        self._on_swap = on_swap or (lambda _: None)
        self._on_failure = on_failure or (lambda _: None)
        self._current = current
        self._seen = file_signature(path) if current is not None else None
        self._lock = asyncio.Lock()
        # One low-priority thread for loading: building a model (precomputing every user's
        # list) takes seconds to minutes of CPU that requests need more.
        self._loader = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="model-load", initializer=_lower_priority
        )
        self._jobs: set[Future[object]] = set()
        self._closing = threading.Event()  # stops precomputations at shutdown
        self.loaded_at = time.time()
        if current is not None:
            self._on_swap(current)

    @property
    def current(self) -> Recommender:
        """The model that new requests use."""
        if self._current is None:
            raise RuntimeError("no model loaded; call ModelStore.load() first")
        return self._current

    def load(self) -> Recommender:
        """Load the model synchronously (at start-up, before serving); errors propagate.

        Its lists may still be to compute: see :meth:`precompute_in_background`.
        """
        signature = file_signature(self.path)
        self._swap(self._build(self.path), signature)
        return self.current

    def precompute_in_background(self) -> Future[object]:
        """Compute the current model's lists in the loader thread; it serves meanwhile.

        A failure is logged and the model keeps answering by full scoring. A reload waits for
        this job, so a model is not replaced while its lists are computed (and the job, which
        holds it, ends with them or when :meth:`close` stops it).

        Returns
        -------
        concurrent.futures.Future
            Done when the lists are ready, failed or stopped (or precomputation is off).
        """
        return self._submit(_precompute_logged, self.current, self._closing)

    async def reload(self) -> ReloadResult:
        """Load ``path`` in a worker thread and swap it in; one reload runs at a time.

        Raises
        ------
        ReloadError
            The file could not be loaded or failed its checks; the old model keeps serving.
        """
        result = await self._reload(only_if_changed=False)
        assert result is not None
        return result

    async def _reload(self, only_if_changed: bool) -> ReloadResult | None:
        """:meth:`reload`; with ``only_if_changed``, None when the file is the one last seen.

        The watcher passes ``only_if_changed``: the file it saw change may have been loaded
        meanwhile by an explicit reload (e.g. ``mv`` then ``POST /admin/reload``), which it
        waited for on the lock, and one file is loaded once.
        """
        async with self._lock:
            signature = file_signature(self.path)
            if only_if_changed and (signature is None or signature == self._seen):
                return None
            previous = self.current.model_version
            started = time.perf_counter()
            try:
                new = await asyncio.wrap_future(self._submit(self._build_complete, self.path))
            except Exception as exc:  # any failure of a new file must leave serving intact
                self._seen = signature
                logger.error("reload of %s failed, still serving %s: %s", self.path, previous, exc)
                self._on_failure(exc)
                reason = str(exc) if str(self.path) in str(exc) else f"{self.path}: {exc}"
                raise ReloadError(f"{reason}; still serving model {previous}") from exc
            self._swap(new, signature)
            seconds = time.perf_counter() - started
            logger.info(
                "now serving model %s (was %s), loaded in %.1f s",
                new.model_version,
                previous,
                seconds,
            )
            return ReloadResult(new.model_version, previous, seconds)

    def close(self, timeout: float = 5.0) -> None:
        """Stop the loader thread: queued loads are cancelled, a precomputation is stopped.

        Waits up to ``timeout`` seconds for the job in progress to end (a precomputation ends
        within a fraction of a second; reading an artifact is not interruptible).
        """
        self._closing.set()
        self._loader.shutdown(wait=False, cancel_futures=True)
        wait(list(self._jobs), timeout=timeout)

    async def watch(self, interval: float) -> None:
        """Poll ``path`` every ``interval`` seconds and reload when the file changes."""
        while True:
            await asyncio.sleep(interval)
            signature = file_signature(self.path)
            if signature is None or signature == self._seen:
                continue
            try:
                await self._reload(only_if_changed=True)
            except ReloadError:
                pass  # logged by reload; retried when the file changes again

    def _submit(self, job: Callable[..., object], *args: object) -> Future[object]:
        """Run ``job(*args)`` in the loader thread; :meth:`close` waits for it."""
        future = self._loader.submit(job, *args)
        self._jobs.add(future)
        future.add_done_callback(self._jobs.discard)
        return future

    def _build_complete(self, path: Path) -> Recommender:
        """A new model with its lists computed (in the loader thread, before it may serve)."""
        new = self._build(path)
        new.precompute(self._closing)
        if new.precompute_state == "stopped":
            raise ReloadError(f"loading {path} was stopped: the server is shutting down")
        return new

    def _swap(self, new: Recommender, signature: Signature | None) -> None:
        self._current = new  # the swap: one reference assignment, atomic for readers
        self._seen = signature
        self.loaded_at = time.time()
        self._on_swap(new)


def _precompute_logged(recommender: Recommender, stop: threading.Event) -> None:
    """Compute ``recommender``'s lists; a failure is logged, never raised (it keeps serving)."""
    try:
        recommender.precompute(stop)
    except Exception:
        logger.exception(
            "precomputing the lists of model %s failed; requests are scored in full",
            recommender.model_version,
        )

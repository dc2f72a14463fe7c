"""Hot reload: load a new model in a worker thread, check it, swap it in with one assignment.

``als_fit.py`` replaces the model file atomically, so a reader sees the old file or the new one.
:class:`ModelStore` notices the change (a poll of the file's identity, or an explicit call),
builds the new :class:`~streamrec.recommender.Recommender` off the event loop (in a thread of
lowered OS priority, so requests keep their CPU), smoke-tests it and then rebinds
:attr:`ModelStore.current`. A request takes ``current`` once when it starts, so
requests in flight finish on the model they started with; the old model is freed when the last
of them ends. A file that fails to load is logged and remembered, and the old model keeps
serving until the file changes again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from streamrec import artifact
from streamrec.recommender import Recommender
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

    Parameters
    ----------
    path : Path
        The model artifact.
    settings : Settings
        Supplies the precomputation bounds (``precompute_*``) and ``repeat_weight``.

    Raises
    ------
    streamrec.artifact.ArtifactError
        The file is missing or not a valid artifact.
    ValueError
        The artifact's metadata cannot be used (e.g. invalid training parameters).
    """
    recommender = Recommender(
        artifact.load(path),
        top_n=settings.precompute_top_n,
        max_users=settings.precompute_max_users,
        threads=settings.precompute_threads,
        repeat_weight=settings.repeat_weight,
    )
    # Serve one known and one unknown user before the model may take traffic.
    recommender.recommend(int(recommender.artifact.user_ids[0]), k=1)
    recommender.recommend(-1, k=1)
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
        ``build(path) -> Recommender``; raises when the file is unusable.
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
        # list) takes seconds of CPU that requests need more.
        self._loader = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="model-load", initializer=_lower_priority
        )
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
        """Load the model synchronously (at start-up, before serving); errors propagate."""
        signature = file_signature(self.path)
        self._swap(self._build(self.path), signature)
        return self.current

    async def reload(self) -> ReloadResult:
        """Load ``path`` in a worker thread and swap it in; one reload runs at a time.

        Raises
        ------
        ReloadError
            The file could not be loaded or failed its checks; the old model keeps serving.
        """
        async with self._lock:
            signature = file_signature(self.path)
            previous = self.current.model_version
            started = time.perf_counter()
            try:
                loop = asyncio.get_running_loop()
                new = await loop.run_in_executor(self._loader, self._build, self.path)
            except Exception as exc:  # any failure of a new file must leave serving intact
                self._seen = signature
                logger.error("reload of %s failed, still serving %s: %s", self.path, previous, exc)
                self._on_failure(exc)
                raise ReloadError(f"{exc}; still serving model {previous}") from exc
            self._swap(new, signature)
            seconds = time.perf_counter() - started
            logger.info(
                "now serving model %s (was %s), loaded in %.1f s",
                new.model_version,
                previous,
                seconds,
            )
            return ReloadResult(new.model_version, previous, seconds)

    def close(self) -> None:
        """Stop the loader thread (a load in progress is abandoned)."""
        self._loader.shutdown(wait=False, cancel_futures=True)

    async def watch(self, interval: float) -> None:
        """Poll ``path`` every ``interval`` seconds and reload when the file changes."""
        while True:
            await asyncio.sleep(interval)
            signature = file_signature(self.path)
            if signature is None or signature == self._seen:
                continue
            try:
                await self.reload()
            except ReloadError:
                pass  # logged by reload; retried when the file changes again

    def _swap(self, new: Recommender, signature: Signature | None) -> None:
        self._current = new  # the swap: one reference assignment, atomic for readers
        self._seen = signature
        self.loaded_at = time.time()
        self._on_swap(new)

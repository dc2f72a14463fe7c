"""Each user's best unwatched streamers, computed once per model: the precomputed lists.

A typical request reads its user's short list instead of scoring the catalogue. The lists take
a catalogue scan per user, so training stores them in the artifact
(:mod:`streamrec.ranking.precompute`), and a server whose settings match uses them from the start;
otherwise :meth:`PrecomputedLists.compute` computes them (in a background thread while the
model already serves: requests score the catalogue meanwhile, which gives the same lists).
:meth:`PrecomputedLists.answer` reads a request's answer from its user's list.

Publication is one reference assignment of an immutable (read-only) table, so a reader sees
either no lists or all of them, never a half-filled table.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Literal, NamedTuple

import numpy as np
import scipy.sparse as sp

from streamrec.model.artifact import Artifact
from streamrec.ranking import precompute
from streamrec.serving.filters import isin_sorted
from streamrec.serving.scoring import row_boost

logger = logging.getLogger(__name__)

PrecomputeState = Literal["pending", "running", "ready", "failed", "stopped", "off"]
# How often a gated precomputation looks at its stop flag while it waits.
_GATE_POLL_SECONDS = 0.05


class _Lists(NamedTuple):
    """The precomputed lists, published as one immutable value (see the module docstring)."""

    top: np.ndarray
    """int32 ``(users, min(top_n, n_items))``, read-only: each list, best first."""
    slot: np.ndarray | None
    """Model row -> row of ``top`` (-1: none), read-only; None when every user has a list."""
    seconds: float


class PrecomputedLists:
    """The lists of one model: chosen users, the published table, and its state.

    Parameters
    ----------
    artifact : Artifact
        The model (its factors, and the lists it may store).
    watched : scipy.sparse.csr_matrix
        Its users x streamers watch steps, sorted indices.
    top_n, max_users, threads, gate
        As :class:`streamrec.serving.recommender.Recommender` takes them
        (``precompute_gate`` there).
    """

    def __init__(
        self,
        artifact: Artifact,
        watched: sp.csr_matrix,
        top_n: int,
        max_users: int | None,
        threads: int,
        gate: threading.Event | None,
    ) -> None:
        self.artifact = artifact
        self.model_version = artifact.model_version
        self._user_factors = artifact.user_factors
        self._item_factors = artifact.item_factors
        self._n_items = len(artifact.streamer_names)
        self._watched = watched
        self.top_n = top_n
        self.threads = threads
        self._gate = gate
        self.rows, self.slot_of_row = precompute.chosen_rows(watched, top_n, max_users)
        # Published once: from the artifact (below) or by compute().
        self.current: _Lists | None = None
        self._state: PrecomputeState = "pending" if len(self.rows) else "off"
        if len(self.rows):
            self._use_stored_lists()
        self._state_lock = threading.Lock()  # taken by compute() only, never by requests
        self._started: float | None = None

    @property
    def users(self) -> int:
        """Users whose list is held in memory (0 until the lists are ready)."""
        lists = self.current
        return 0 if lists is None else len(lists.top)

    @property
    def state(self) -> PrecomputeState:
        """Where the precomputed lists are.

        ``"pending"`` (not started), ``"running"``, ``"ready"`` (requests read them),
        ``"failed"`` or ``"stopped"`` (requests keep scoring the catalogue), or ``"off"``
        (``top_n`` or ``max_users`` is 0).
        """
        return "ready" if self.current is not None else self._state

    @property
    def seconds(self) -> float:
        """Time the precomputation took; while it runs, the time so far; 0 before it starts."""
        lists, started = self.current, self._started
        if lists is not None:
            return lists.seconds
        if started is None or self._state != "running":
            return 0.0
        return time.perf_counter() - started

    def answer(
        self, row: int, k: int, exclude_watched: bool, exclude: np.ndarray, weight: float
    ) -> np.ndarray | None:
        """The answer from the list of the user at ``row``, or None when that list cannot give
        it (no list yet, none for this user, or too few items left after ``exclude``).

        The list holds unwatched items, whose scores the blend does not change, so it stays
        valid for blended requests: only the merged-in watched items get their bonus.
        """
        lists = self.current  # read once: the lists are published while requests run
        if lists is None:
            return None
        top, slot_of_row, _ = lists
        slot = row if slot_of_row is None else int(slot_of_row[row])
        if slot < 0:
            return None
        ranked = top[slot]
        start, stop = self._watched.indptr[row], self._watched.indptr[row + 1]
        watched = self._watched.indices[start:stop]
        # The list holds every unwatched item: nothing outside it can be missing. Only such a
        # list can be padded with -1.
        complete = self._n_items - len(watched) <= self.top_n
        if complete:
            ranked = ranked[ranked >= 0]
        if not exclude_watched and len(watched):
            # Merge the watched items in. Unless the list is complete, only those scoring at
            # least as high as its last item are certainly ranked right.
            merged = np.concatenate([ranked, watched])
            scores = self._item_factors[merged] @ self._user_factors[row]
            extra = row_boost(self._watched, row, weight)
            if extra is not None:
                scores[len(ranked) :] += extra[1]
            if not complete:
                keep = scores >= scores[len(ranked) - 1]
                merged, scores = merged[keep], scores[keep]
            ranked = merged[np.lexsort((merged, -scores))]
        if len(exclude):
            ranked = ranked[~isin_sorted(ranked, exclude)]
        if len(ranked) >= k or complete:
            return ranked[:k]
        return None

    def compute(self, stop: threading.Event | None = None) -> bool:
        """Compute every chosen user's top ``top_n`` list and publish them; at most once.

        Runs in the calling thread (BLAS limited to one thread, chunks spread over
        ``threads``), so it can run in the background while the instance serves: requests are
        answered by full scoring until the lists are published, then from them.

        Parameters
        ----------
        stop : threading.Event, optional
            Checked between blocks of users: once set, the work is abandoned (state
            ``"stopped"``) within one block, a fraction of a second.

        Returns
        -------
        bool
            True when the lists are ready (now or before), False when precomputation is off
            or was stopped.

        Raises
        ------
        RuntimeError
            Another call is running, or one failed or was stopped before.
        Exception
            Whatever the computation raised (state ``"failed"``; requests keep scoring the
            catalogue).
        """
        with self._state_lock:
            if self._state in ("ready", "off"):
                return self._state == "ready"
            if self._state != "pending":
                raise RuntimeError(f"precomputation is {self._state}; it runs only once")
            self._state = "running"
        try:
            lists = self._compute_lists(stop or threading.Event())
        except BaseException:
            self._state = "failed"
            raise
        if lists is None:
            self._state = "stopped"
            logger.info("precomputation for model %s stopped", self.model_version)
            return False
        self.current = lists  # the publication: one reference assignment
        self._state = "ready"
        logger.info(
            "model %s: precomputed the top %d of %d users in %.1f s (%.0f MB)",
            self.model_version,
            self.top_n,
            len(lists.top),
            lists.seconds,
            lists.top.nbytes / 1e6,
        )
        return True

    def _compute_lists(self, stop: threading.Event) -> _Lists | None:
        """Each chosen user's best ``top_n`` unwatched items; None when ``stop`` is set."""
        if self._gate is not None:
            while not self._gate.wait(_GATE_POLL_SECONDS):
                if stop.is_set():
                    return None
        self._started = started = time.perf_counter()
        top = precompute.compute(
            self._user_factors,
            self._item_factors,
            self._watched,
            self.rows,
            self.top_n,
            threads=self.threads,
            stop=stop,
        )
        if top is None:
            return None
        return _Lists(top, self.slot_of_row, time.perf_counter() - started)

    def _use_stored_lists(self) -> None:
        """Publish the artifact's precomputed lists when they are the ones this instance wants."""
        stored = precompute.matching_lists(self.artifact, self.top_n, self.rows)
        if isinstance(stored, str):
            if self.artifact.top_lists is not None:
                logger.info(
                    "model %s: computing its lists, not using the stored ones: %s",
                    self.model_version,
                    stored,
                )
            return
        self.current = _Lists(stored, self.slot_of_row, 0.0)
        self._state = "ready"
        logger.info(
            "model %s: the top %d of %d users precomputed at training time are ready",
            self.model_version,
            self.top_n,
            len(stored),
        )

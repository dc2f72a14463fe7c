"""``live_only`` lists: the live set as the model's item indices, resolved once per version.

A request with ``live_only`` sends no names: the server ranks among the live set it was fed
(:mod:`streamrec.serving.live_state`). Mapping a set of 1,000 names to item indices and gathering
their factors costs more than ranking them, so :class:`LiveFilters` does it once per
(model, set version) and every request until the next change reuses the result; a request's
own ``available`` and ``exclude`` are intersected with it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import weakref
from typing import NamedTuple

import numpy as np

from streamrec.serving.filters import Filters
from streamrec.serving.live_state import LiveSnapshot, LiveState
from streamrec.serving.recommender import Recommender


class LiveSetUnavailableError(RuntimeError):
    """``live_only`` was asked but the server does not know who is live."""


class _Resolved(NamedTuple):
    model: weakref.ref[Recommender]
    version: int
    filters: Filters
    bare: Filters
    """``filters`` without its unknown names: the filters of a request that sends none."""


class LiveFilters:
    """The ``available`` filter of ``live_only`` requests, cached per model and set version.

    Parameters
    ----------
    state : LiveState
        Where the live set is kept.

    Examples
    --------
    >>> live = LiveFilters(InProcessLiveState())  # doctest: +SKIP
    >>> live.state.replace(["zeon", "alptv"])  # doctest: +SKIP
    >>> live.filters(recommender).available  # doctest: +SKIP
    array([3, 7], dtype=int32)
    """

    def __init__(self, state: LiveState) -> None:
        self.state = state
        # One entry, replaced by one assignment: a race only resolves the same set twice.
        self._resolved: _Resolved | None = None

    def resolved(self, recommender: Recommender, snapshot: LiveSnapshot | None = None) -> Filters:
        """The live set (``snapshot``, default the current one) as filters of ``recommender``.

        ``unknown`` holds the live names the model does not know.
        """
        return self._resolve(recommender, snapshot or self.state.snapshot()).filters

    def _resolve(self, recommender: Recommender, snapshot: LiveSnapshot) -> _Resolved:
        cached = self._resolved
        if cached is not None and cached.version == snapshot.version:
            if cached.model() is recommender:
                return cached
        filters = recommender.resolve(list(snapshot.refreshed))  # indices come out sorted
        bare = dataclasses.replace(filters, unknown=frozenset())
        resolved = _Resolved(weakref.ref(recommender), snapshot.version, filters, bare)
        self._resolved = resolved
        return resolved

    def filters(self, recommender: Recommender, request: Filters | None = None) -> Filters:
        """The filters of a ``live_only`` request: the live set, within the request's own.

        Parameters
        ----------
        recommender : Recommender
            The model serving the request.
        request : Filters, optional
            The request's own ``available`` and ``exclude`` (see :meth:`Recommender.filters`);
            its ``available``, when given, is intersected with the live set, and its
            ``unknown`` names are kept (the live set's are not the request's).

        Raises
        ------
        LiveSetUnavailableError
            No live set was fed since the server started, or every streamer's time-to-live
            ran out since the last write.
        """
        snapshot = self.state.snapshot()
        if snapshot.status != "live":
            raise LiveSetUnavailableError(self._why(snapshot))
        live = self._resolve(recommender, snapshot).bare
        if request is None:
            return live
        available, factors = live.available, live.available_factors
        if request.available is not None:
            assert available is not None and factors is not None
            keep = np.isin(available, request.available, assume_unique=True)
            available, factors = available[keep], factors[keep]
        return Filters(available, request.exclude, request.unknown, factors)

    def _why(self, snapshot: LiveSnapshot) -> str:
        if snapshot.status == "not fed":
            return (
                "live_only needs the live set, and none has been fed since the server started: "
                "the stream directory sends it with PUT /live; until then, ask with "
                "live_only=false (or send the names in `available`)"
            )
        return (
            f"live_only needs the live set, but every streamer's time-to-live "
            f"(live_ttl={snapshot.ttl:g} s) ran out: the stream directory last wrote at "
            f"{iso_time(snapshot.written_at)} (PUT or PATCH /live refreshes the set)"
        )


def iso_time(seconds: float | None) -> str | None:
    """Unix seconds as UTC ISO 8601 with milliseconds (``2026-12-01T09:00:00.000Z``)."""
    if seconds is None:
        return None
    moment = dt.datetime.fromtimestamp(seconds, dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

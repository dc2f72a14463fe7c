"""A request's streamer names as the model's item indices: the filters of a list.

:class:`Filters` says which streamers a list may contain (``available``) and which it must not
(``exclude``), as sorted item indices, with the request's names the model does not know.
:class:`NameResolver` builds them from names, remembering the last few distinct lists (a
platform sends the same "live now" list with every request until it changes).

Pure numpy; nothing here knows about HTTP.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

NONE = np.empty(0, dtype=np.int32)
NONE.flags.writeable = False
"""No items (read-only, shared)."""


@dataclass(frozen=True, eq=False)
class Filters:
    """Which streamers a list may contain, as sorted item indices (:meth:`NameResolver.filters`).

    ``available`` None means every streamer; ``unknown`` holds the request's names the model
    does not know, which were ignored; ``available_factors`` are the item factors of
    ``available``, gathered once per distinct list rather than once per request.
    """

    available: np.ndarray | None = None
    exclude: np.ndarray = field(default_factory=lambda: NONE)
    unknown: frozenset[str] = frozenset()
    available_factors: np.ndarray | None = field(default=None, repr=False)


NO_FILTERS = Filters()


class NameResolver:
    """Streamer names to item indices (and factors) of one model.

    Parameters
    ----------
    index : dict of str to int
        The model's name index.
    item_factors : numpy.ndarray
        The model's item factors.
    """

    def __init__(self, index: dict[str, int], item_factors: np.ndarray) -> None:
        self._index = index
        self._item_factors = item_factors
        # Not a bound method: the cache must not keep the model alive after a reload.
        self._resolve_joined = functools.lru_cache(maxsize=8)(
            functools.partial(_resolve_joined, index, item_factors)
        )

    def filters(
        self, available: Sequence[str] | None = None, exclude: Sequence[str] = ()
    ) -> Filters:
        """Map a request's streamer names to item indices; unknown names are collected.

        Parameters
        ----------
        available : sequence of str, optional
            Only these streamers may be recommended (e.g. those live now); None means all.
        exclude : sequence of str
            These streamers must not be recommended.

        Notes
        -----
        A platform sends the same "live now" list with every request until it changes, so the
        last few distinct lists are remembered with their item factors: a repeated list of
        1,000 names then costs one string join and hash instead of 1,000 lookups in the name
        index and a gather of 1,000 scattered factor rows.
        """
        allowed, unknown, factors = None, frozenset[str](), None
        if available is not None:
            allowed, unknown, factors = self._resolve_names(available, with_factors=True)
        excluded, unknown_excluded, _ = self._resolve_names(exclude, with_factors=False)
        return Filters(allowed, excluded, unknown | unknown_excluded, factors)

    def resolve(self, names: Sequence[str]) -> Filters:
        """:meth:`filters` with ``names`` as ``available``, bypassing its cache (a live set)."""
        available, unknown, factors = _resolve(self._index, self._item_factors, names, True)
        return Filters(available, NONE, unknown, factors)

    def _resolve_names(
        self, names: Sequence[str], with_factors: bool
    ) -> tuple[np.ndarray, frozenset[str], np.ndarray | None]:
        if len(names) == 0:
            return NONE, frozenset(), self._item_factors[:0] if with_factors else None
        # The joined names are the cache key: one C-level join and hash instead of hashing
        # every name. A name containing the separator would make the key ambiguous: no cache.
        joined = "\x00".join(names)
        if joined.count("\x00") != len(names) - 1:
            return _resolve(self._index, self._item_factors, names, with_factors)
        return self._resolve_joined(joined, with_factors)


def allowed(filters: Filters, watched: np.ndarray) -> np.ndarray:
    """The available items that are neither excluded nor (already) watched."""
    items = filters.available if filters.available is not None else NONE
    for skip in (filters.exclude, watched):
        if len(skip):
            items = items[~isin_sorted(items, skip)]
    return items


def lookup(index: dict[str, int], names: Iterable[str], unknown: set[str]) -> np.ndarray:
    """Item index per name (-1 when unknown); unknown names are added to ``unknown``."""
    names = names if isinstance(names, list | tuple) else list(names)
    get = index.get
    ids = np.array([get(name, -1) for name in names], dtype=np.int32)
    if len(ids) and ids.min() < 0:
        unknown.update(names[j] for j in np.flatnonzero(ids < 0).tolist())
    return ids


def _resolve(
    index: dict[str, int], item_factors: np.ndarray, names: Sequence[str], with_factors: bool
) -> tuple[np.ndarray, frozenset[str], np.ndarray | None]:
    """Sorted distinct item indices of the known ``names``, the unknown names, and (when
    ``with_factors``) the items' factors."""
    unknown: set[str] = set()
    ids = np.sort(lookup(index, names, unknown))
    ids = ids[np.searchsorted(ids, 0) :]
    if len(ids) > 1:
        ids = ids[np.concatenate(([True], ids[1:] != ids[:-1]))]
    factors = item_factors[ids] if with_factors else None
    for shared in (ids, factors):  # shared between requests through the cache
        if shared is not None:
            shared.flags.writeable = False
    return ids, frozenset(unknown), factors


def _resolve_joined(
    index: dict[str, int], item_factors: np.ndarray, joined: str, with_factors: bool
) -> tuple[np.ndarray, frozenset[str], np.ndarray | None]:
    return _resolve(index, item_factors, joined.split("\x00"), with_factors)


def locate(sorted_items: np.ndarray, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each of ``items`` sits in ``sorted_items``, and whether it is there at all."""
    position = np.searchsorted(sorted_items, items)
    found = position < len(sorted_items)
    found[found] = sorted_items[position[found]] == items[found]
    return position, found


def isin_sorted(values: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    """``np.isin(values, sorted_set)`` for a sorted ``sorted_set``, by binary search."""
    position = np.searchsorted(sorted_set, values)
    position[position == len(sorted_set)] = 0
    return sorted_set[position] == values

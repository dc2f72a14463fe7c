"""What the ranking metrics take: checks on their inputs, the hits read from them, shared docs.

The rules are those of :mod:`streamrec.evaluation.metrics`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Hashable, Iterable, Mapping
from collections.abc import Set as AbstractSet
from itertools import islice
from typing import TypeAlias, TypeVar

import numpy as np

# A scoring hit: the 1-based rank of a relevant item's first occurrence, and the item.
_Hit: TypeAlias = tuple[int, Hashable]

_F = TypeVar("_F", bound=Callable[..., object])

# Parameter docs shared by the public metrics, filled in by _shared_docs.
_SHARED_DOCS = {
    "user_parameters": """\
relevant : iterable of hashable
    The items the user actually watched (set, list, tuple or numpy array).
recommended : iterable of hashable
    Recommended items, best first. Only the first ``k`` positions are used.
k : int
    Cut-off, an integer >= 1.""",
    "lists_parameters": """\
relevant_lists : collection of iterables of hashable
    Per user, the items they actually watched.
recommended_lists : collection of iterables of hashable
    Per user (same order and length), recommended items, best first.
k : int
    Cut-off, an integer >= 1.""",
}


def _shared_docs(func: _F) -> _F:
    """Replace each ``%(name)s`` line of ``func``'s docstring by the shared text ``name``."""
    if func.__doc__ is None:  # python -OO
        return func
    lines: list[str] = []
    for line in func.__doc__.splitlines():
        name = line.strip()
        if name.startswith("%(") and name.endswith(")s"):
            indent = line[: len(line) - len(line.lstrip())]
            lines.extend(indent + part for part in _SHARED_DOCS[name[2:-2]].splitlines())
        else:
            lines.append(line)
    func.__doc__ = "\n".join(lines)
    return func


def _check_k(k: object) -> int:
    # bool is an int subclass, but k=True is a bug, not a cut-off of 1.
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got k={k!r}")
    return int(k)


def _check_same_length(
    relevant_lists: Collection[object], recommended_lists: Collection[object]
) -> None:
    # zip() would silently drop the tail and score the wrong users, so refuse up front.
    if len(relevant_lists) != len(recommended_lists):
        raise ValueError(
            "relevant_lists and recommended_lists must have the same length, got "
            f"len(relevant_lists)={len(relevant_lists)} and "
            f"len(recommended_lists)={len(recommended_lists)}"
        )


def _check_lists(
    relevant_lists: Collection[object], recommended_lists: Collection[object], k: object
) -> int:
    checked_k = _check_k(k)
    _check_same_length(relevant_lists, recommended_lists)
    return checked_k


def _reject_string(value: object, name: str) -> None:
    # A bare string is iterable, so it would be scored character by character.
    if isinstance(value, str | bytes):
        raise TypeError(
            f"{name} must be a collection of items, not a single {type(value).__name__}"
        )


def _relevant_set(relevant: Iterable[Hashable]) -> AbstractSet[Hashable]:
    if isinstance(relevant, AbstractSet):
        return relevant  # already deduplicated with O(1) lookups; no need to copy
    if isinstance(relevant, np.ndarray):
        # tolist() converts every element in one C call, far faster than iterating the array.
        return set(relevant.tolist())
    _reject_string(relevant, "relevant")
    return set(relevant)


def _top_k(recommended: Iterable[Hashable], k: int) -> list[Hashable] | tuple[Hashable, ...]:
    if isinstance(recommended, np.ndarray):
        return recommended[:k].tolist()
    if isinstance(recommended, list | tuple):
        return recommended[:k]
    _reject_string(recommended, "recommended")
    return list(islice(recommended, k))


def _hits(rel: AbstractSet[Hashable], recommended: Iterable[Hashable], k: int) -> list[_Hit]:
    """The scoring hits among the first k recommendations, in rank order."""
    hits: list[_Hit] = []
    scored: set[Hashable] = set()
    for rank, item in enumerate(_top_k(recommended, k), start=1):
        if item in rel and item not in scored:
            scored.add(item)
            hits.append((rank, item))
    return hits


def _gain(gains: Mapping[Hashable, float], item: Hashable) -> float:
    try:
        value = float(gains[item])
    except KeyError:
        raise ValueError(f"gains has no entry for relevant item {item!r}") from None
    # A negative or NaN gain makes the ideal ordering meaningless (NDCG could leave [0, 1]).
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"gains must be finite and >= 0, got {value!r} for item {item!r}")
    return value

"""Users and their sessions, chunk by chunk of users: who watches which stream, when."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from streamrec.data.synth.catalog import Catalog, _build_index, _LiveIndex, build_catalog
from streamrec.data.synth.config import (
    _BUCKET_STEPS,
    _CHUNK_USERS,
    _DEDUP_ROUNDS,
    _DRAWN_PER_KEPT,
    _EXPLORE_TRIES,
    _MAX_SESSION_STEPS,
    STEPS_PER_DAY,
    FloatArray,
    Int32Array,
    IntArray,
    SynthConfig,
)


@dataclass(frozen=True)
class SessionChunk:
    """Sessions of one chunk of consecutive users, grouped by user, in time order per user.

    Attributes
    ----------
    first_user_id : int
        Id of the chunk's first user; the chunk covers ``first_user_id .. + n_users - 1``.
    user_id, stream_id : numpy.ndarray
        Per row (int64).
    streamer : numpy.ndarray
        Per row, index into ``Catalog.names`` (int32).
    stream : numpy.ndarray
        Per row, index into the catalogue's stream arrays (int32).
    time_start, time_stop : numpy.ndarray
        Per row, steps (int32), inclusive.
    user_communities : numpy.ndarray
        Per user of the chunk, the favourite community and the second one or -1 (int32,
        shape ``(n_users, 2)``): the ground truth behind the rows.
    """

    first_user_id: int
    user_id: IntArray
    stream_id: IntArray
    streamer: Int32Array
    stream: Int32Array
    time_start: Int32Array
    time_stop: Int32Array
    user_communities: Int32Array = field(repr=False)

    def __len__(self) -> int:
        return int(self.user_id.size)


def iter_session_chunks(
    config: SynthConfig, catalog: Catalog | None = None
) -> Iterator[SessionChunk]:
    """Generate the sessions chunk by chunk of users, in user id order.

    Parameters
    ----------
    config : SynthConfig
        What to generate.
    catalog : Catalog, optional
        ``build_catalog(config)``, if the caller already has it.

    Yields
    ------
    SessionChunk
        Consecutive users' rows, grouped by user and in time order per user. Only one chunk
        is alive at a time, so memory does not grow with the number of users.
    """
    if catalog is None:
        catalog = build_catalog(config)
    index = _build_index(config, catalog)
    drawn = kept = 0
    for chunk_no, first in enumerate(range(0, config.users, _CHUNK_USERS)):
        n_users = min(_CHUNK_USERS, config.users - first)
        rng = np.random.default_rng([config.seed, 1, chunk_no])
        # Merging overlapping sessions loses rows, more in a dense world: draw more by the
        # share lost so far. The first chunk has no history, so it is made twice, the second
        # time with the ratio it measured itself.
        scale = drawn / kept if kept else _DRAWN_PER_KEPT
        chunk, n_drawn = _make_chunk(config, catalog, index, rng, first + 1, n_users, scale)
        if chunk_no == 0:
            scale = n_drawn / len(chunk)
            rng = np.random.default_rng([config.seed, 1, chunk_no])
            chunk, n_drawn = _make_chunk(config, catalog, index, rng, first + 1, n_users, scale)
        drawn, kept = drawn + n_drawn, kept + len(chunk)
        yield chunk


def _search(haystack: npt.NDArray[np.generic], needles: npt.NDArray[np.generic]) -> IntArray:
    """``np.searchsorted(haystack, needles, side="right")``, several times faster here.

    The haystacks are large (millions) and the needles random: searching them in sorted order
    lets each binary search start from the previous result, which keeps it in cache.
    """
    order = np.argsort(needles)
    found = np.empty(needles.size, dtype=np.int64)
    found[order] = np.searchsorted(haystack, needles[order], side="right")
    return found


def _weighted_pick(
    rng: np.random.Generator, cum: FloatArray, lo: IntArray, hi: IntArray
) -> IntArray:
    """Index in ``[lo, hi)`` drawn with weights given by the exclusive prefix sum ``cum``."""
    base = cum[lo]
    target = base + rng.random(lo.size) * (cum[hi] - base)
    return np.clip(_search(cum, target) - 1, lo, hi - 1)


def _pick_live(
    catalog: Catalog,
    index: _LiveIndex,
    rng: np.random.Generator,
    community: IntArray,
    t: IntArray,
) -> IntArray:
    """A stream of ``community`` live at step ``t``, weighted by popularity; -1 if none found.

    Draws among the streams overlapping t's bucket and keeps the ones live at t exactly:
    rejection from a superset with the same weights, so the kept draws are exact.
    """
    out = np.full(t.size, -1, dtype=np.int64)
    seg = community * index.n_buckets + t // _BUCKET_STEPS
    lo, hi = index.seg_offsets[seg], index.seg_offsets[seg + 1]
    pending = np.flatnonzero(hi > lo)
    for _ in range(_EXPLORE_TRIES):
        if pending.size == 0:
            break
        entry = _weighted_pick(rng, index.entry_cum, lo[pending], hi[pending])
        stream = index.entry_stream[entry]
        tp = t[pending]
        ok = (catalog.stream_start[stream] <= tp) & (catalog.stream_end[stream] >= tp)
        out[pending[ok]] = stream[ok]
        pending = pending[~ok]
    return out


def _nearest_stream(
    catalog: Catalog, index: _LiveIndex, streamer: IntArray, t: IntArray, steps: int
) -> IntArray:
    """The stream of each streamer live at ``t``, else the one nearest in time."""
    first = index.streamer_first[streamer]
    last = first + index.streamer_count[streamer] - 1
    # Last stream starting at or before t; the first one if all start later.
    pos = _search(index.stream_key, streamer * steps + t) - 1
    pos = np.clip(pos, first, last)
    ended = catalog.stream_end[pos] < t
    nxt = np.minimum(pos + 1, last)
    closer = (nxt > pos) & (catalog.stream_start[nxt] - t < t - catalog.stream_end[pos])
    return np.where(ended & closer, nxt, pos)


def _pick_new(
    config: SynthConfig,
    catalog: Catalog,
    index: _LiveIndex,
    rng: np.random.Generator,
    user_comm: Int32Array,
    t: IntArray,
) -> IntArray:
    """Streams for new-streamer picks of users with communities ``user_comm`` at steps ``t``."""
    m = t.size
    second = user_comm[:, 1]
    # A user with two communities splits new picks between them, the favourite first.
    use_second = (second >= 0) & (rng.random(m) < 0.4)
    comm = np.where(use_second, second, user_comm[:, 0]).astype(np.int64)
    wander = rng.random(m) >= config.loyalty
    comm[wander] = rng.choice(config.communities, size=int(wander.sum()), p=catalog.community_share)
    stream = _pick_live(catalog, index, rng, comm, t)
    # No streamer of the community live then (night, small community): pick one of its
    # streamers by popularity and join their stream nearest in time instead.
    miss = np.flatnonzero(stream < 0)
    if miss.size:
        c = comm[miss]
        k = _weighted_pick(rng, index.comm_cum, index.comm_offsets[c], index.comm_offsets[c + 1])
        streamer = index.comm_streamers[k].astype(np.int64)
        stream[miss] = _nearest_stream(catalog, index, streamer, t[miss], config.steps)
    return stream


def _rows_per_user(
    config: SynthConfig, rng: np.random.Generator, n_users: int, scale: float
) -> IntArray:
    # Poisson around a log-normal rate: heavy-tailed, at least one row, mean rows / users
    # times ``scale``.
    excess = config.rows / config.users * scale - 1.0
    if excess <= 0.0:
        return np.ones(n_users, dtype=np.int64)
    sigma = config.activity_sigma
    rate = rng.lognormal(0.0, sigma, size=n_users)
    rate = np.minimum(rate, 100.0 * rate.mean())
    # Rescale to the exact mean: with a heavy tail, a chunk's total would otherwise swing by
    # several percent (more for one small chunk), and ``rows`` is a target.
    rate *= excess / rate.mean()
    return 1 + rng.poisson(rate).astype(np.int64)


def _user_communities(
    config: SynthConfig, catalog: Catalog, rng: np.random.Generator, n_users: int
) -> Int32Array:
    share = catalog.community_share
    first = rng.choice(config.communities, size=n_users, p=share)
    second = rng.choice(config.communities, size=n_users, p=share)
    has_second = (rng.random(n_users) < config.second_community_prob) & (second != first)
    return np.stack([first, np.where(has_second, second, -1)], axis=1).astype(np.int32)


def _session_times(
    config: SynthConfig,
    catalog: Catalog,
    rng: np.random.Generator,
    per_user: IntArray,
    user_of_row: IntArray,
    favourite: Int32Array,
) -> IntArray:
    """Intended step of each session: a day in the user's active span, at their usual hour."""
    steps = config.steps
    n_users = per_user.size
    # Heavier users are active over more days (about one session a day, give or take).
    span = per_user * STEPS_PER_DAY * rng.uniform(0.3, 1.2, size=n_users)
    span = np.clip(span, STEPS_PER_DAY, steps).astype(np.int64)
    begin = (rng.random(n_users) * (steps - span + 1)).astype(np.int64)
    hour = catalog.community_peak[favourite].astype(np.float64) + rng.normal(0, 6, size=n_users)

    n = user_of_row.size
    at = begin[user_of_row] + (rng.random(n) * span[user_of_row]).astype(np.int64)
    of_day = np.rint(hour[user_of_row] + rng.normal(0, 10, size=n)).astype(np.int64)
    t = at // STEPS_PER_DAY * STEPS_PER_DAY + of_day % STEPS_PER_DAY
    # The last day is partial: move late times a day back; tiny periods wrap around.
    t = np.where(t >= steps, t - STEPS_PER_DAY, t)
    return np.where((t < 0) | (t >= steps), t % steps, t)


def _make_chunk(
    config: SynthConfig,
    catalog: Catalog,
    index: _LiveIndex,
    rng: np.random.Generator,
    first_user_id: int,
    n_users: int,
    scale: float,
) -> tuple[SessionChunk, int]:
    """One chunk of users' sessions, and the number of rows drawn before merging."""
    steps = config.steps
    per_user = _rows_per_user(config, rng, n_users, scale)
    user_comm = _user_communities(config, catalog, rng, n_users)
    n = int(per_user.sum())
    user_of_row = np.repeat(np.arange(n_users, dtype=np.int64), per_user)
    row_offset = np.cumsum(per_user) - per_user
    rank = np.arange(n, dtype=np.int64) - row_offset[user_of_row]

    t = _session_times(config, catalog, rng, per_user, user_of_row, user_comm[:, 0])
    t = t[np.lexsort((t, user_of_row))]  # rows stay grouped by user, now in time order

    # Repeat viewing as a vectorised urn: a later session goes back, with repeat_prob (bent by
    # settling; rank is the number of earlier sessions), to the streamer of a uniformly chosen
    # earlier session (so favourites are weighted by how often they were watched). Following
    # parents to the root gives every row its first-watch row. Without settling the draw is
    # the original comparison, so such configurations keep their exact output.
    if config.settling > 0.0:
        explore = (1.0 - config.repeat_prob) * (1.0 + rank) ** -config.settling
        again = (rank > 0) & (rng.random(n) >= explore)
    else:
        again = (rank > 0) & (rng.random(n) < config.repeat_prob)
    parent = np.arange(n, dtype=np.int64)
    earlier = (rng.random(n) * rank).astype(np.int64)
    parent[again] = row_offset[user_of_row[again]] + earlier[again]
    while True:
        grand = parent[parent]
        if np.array_equal(grand, parent):
            break
        parent = grand
    roots = np.flatnonzero(parent == np.arange(n))

    stream = np.full(n, -1, dtype=np.int64)
    stream[roots] = _pick_new(config, catalog, index, rng, user_comm[user_of_row[roots]], t[roots])
    # A new pick should be new to the user: re-draw later duplicates a few times; what is left
    # (a user who has seen every live streamer of a small community) stays a repeat.
    for _ in range(_DEDUP_ROUNDS):
        key = user_of_row[roots] * config.streamers + catalog.stream_streamer[stream[roots]]
        order = np.argsort(key, kind="stable")  # stable: the earliest root of a pair first
        dup = roots[order[1:][key[order][1:] == key[order][:-1]]]
        if dup.size == 0:
            break
        stream[dup] = _pick_new(config, catalog, index, rng, user_comm[user_of_row[dup]], t[dup])

    streamer = catalog.stream_streamer[stream[parent]].astype(np.int64)
    children = np.flatnonzero(parent != np.arange(n))
    stream[children] = _nearest_stream(catalog, index, streamer[children], t[children], steps)

    # Join at the intended step if the stream is live then, else somewhere in the stream.
    s_start = catalog.stream_start[stream].astype(np.int64)
    s_end = catalog.stream_end[stream].astype(np.int64)
    inside = (t >= s_start) & (t <= s_end)
    anywhere = s_start + (rng.random(n) * (s_end - s_start + 1)).astype(np.int64)
    begin = np.where(inside, t, anywhere)
    # Mostly 1-6 steps; now and then a user is seen only once (stop == start).
    length = 1 + rng.exponential(2.0, size=n).astype(np.int64)
    length[rng.random(n) < 0.15] = 0
    length = np.minimum(length, _MAX_SESSION_STEPS)
    stop = np.minimum(begin + length, s_end)

    user_of_row, stream, begin, stop = _merge_overlaps(user_of_row, stream, begin, stop)
    order = np.lexsort((stream, stop, begin, user_of_row))
    user_of_row, stream, begin, stop = (
        user_of_row[order],
        stream[order],
        begin[order],
        stop[order],
    )
    chunk = SessionChunk(
        first_user_id=first_user_id,
        user_id=user_of_row + first_user_id,
        stream_id=catalog.stream_id[stream],
        streamer=catalog.stream_streamer[stream],
        stream=stream.astype(np.int32),
        time_start=begin.astype(np.int32),
        time_stop=stop.astype(np.int32),
        user_communities=user_comm,
    )
    return chunk, n


def _merge_overlaps(
    user: IntArray, stream: IntArray, begin: IntArray, stop: IntArray
) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """Merge a user's sessions in one stream that overlap or touch, as a crawler would see them.

    Returns the merged rows (user, stream, start, stop) in (user, stream, start) order.
    """
    order = np.lexsort((begin, stream, user))
    user, stream, begin, stop = user[order], stream[order], begin[order], stop[order]
    n = user.size
    group_start = np.ones(n, dtype=bool)
    group_start[1:] = (user[1:] != user[:-1]) | (stream[1:] != stream[:-1])
    # Running max of stop within each (user, stream) group: offset groups so that a plain
    # cumulative max never carries over from the previous group.
    group = np.cumsum(group_start) - 1
    span = int(stop.max(initial=0)) + 2
    reach = np.maximum.accumulate(stop + group * span) - group * span
    new_run = group_start.copy()
    new_run[1:] |= begin[1:] > reach[:-1] + 1
    first = np.flatnonzero(new_run)
    return (
        user[first],
        stream[first],
        begin[first],
        np.maximum.reduceat(stop, first) if n else stop,
    )

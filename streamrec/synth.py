"""Seeded generator of Twitch-like watch sessions, in the public Twitch dataset's CSV format.

The output has the exact layout of the Twitch dataset (Rappaz, McAuley, Aberer, RecSys 2021):
no header, one session per line ``user_id,stream_id,streamer_name,time_start,time_stop``, times
in 10-minute steps, rows grouped by user and in time order per user, e.g.::

    1,33842865744,mithrain,154,156

The model behind it, kept simple but with the structure the rest of the system relies on:

* **Catalogue.** Streamers belong to communities (a game or a language) of skewed sizes, and
  have a Zipf popularity. Every community has a time zone, so there is a daily cycle.
* **Schedules.** Each streamer goes live on some days (popular ones on most days) around their
  usual hour, for a few hours; every such stream has its own ``stream_id`` (increasing with
  time, as on Twitch). A session always lies inside one stream of its streamer.
* **Users.** Each user prefers one or two communities, has a heavy-tailed number of sessions,
  an active span of days and a usual hour of the day.
* **Sessions.** A user's first session, and each later one with probability
  ``1 - repeat_prob`` (falling as the user settles, see ``settling``), picks a streamer the
  user has not watched yet: from one of the user's communities (sometimes any community),
  weighted by popularity, among the streamers live at that step. Otherwise the user goes back
  to a streamer already watched, weighted by how often (a uniformly chosen earlier session),
  and joins that streamer's stream nearest in time. Sessions last a few steps; overlapping
  sessions of a user in one stream are merged.

Generation streams: users are made in fixed-size chunks with their own random streams and
appended to the file, so memory is bounded by the catalogue plus one chunk, whatever the number
of rows. The same configuration gives a byte-identical file (with the same library versions).

Run ``python -m streamrec.synth --help`` for the command line.
"""

from __future__ import annotations

import argparse
import logging
import numbers
import os
import secrets
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import NoReturn

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.csv as pa_csv

logger = logging.getLogger(__name__)

STEPS_PER_DAY = 144
"""Ten-minute steps in a day."""

COLUMNS = ("user_id", "stream_id", "streamer_name", "time_start", "time_stop")

IntArray = npt.NDArray[np.int64]
Int32Array = npt.NDArray[np.int32]
FloatArray = npt.NDArray[np.float64]

# Users per chunk. Part of the output's definition (each chunk has its own random stream), so
# it is a constant rather than a knob: changing it would change every file.
_CHUNK_USERS = 8192
# The live index groups streams by (community, bucket of this many steps): a pick among the
# streams overlapping a bucket is live at the exact step most of the time.
_BUCKET_STEPS = 6
# Rejection rounds for a live pick, and re-draws of a "new" pick that the user had already
# watched; what is still unresolved after them takes a fallback (see _pick_new, _make_chunk).
_EXPLORE_TRIES = 8
_DEDUP_ROUNDS = 4
_STREAM_ID_BASE = 33_000_000_000
_MAX_STREAM_STEPS = 60
_MAX_SESSION_STEPS = 24
_MAX_NAME_LEN = 25
# Local hour (0-23) when viewers peak, and the UTC offsets of the communities' time zones with
# how common they are (mostly North America and Europe, as on Twitch).
_PEAK_HOUR = 20
_ZONES_H = np.array([-5, -8, 0, 1, 3, -3, 9, 8])
_ZONE_P = np.array([0.30, 0.12, 0.18, 0.12, 0.06, 0.10, 0.06, 0.06])
# Rows drawn per row kept once overlapping sessions in one stream are merged: a first guess,
# refined on the first chunk and then on every chunk so far, so that ``rows`` is met.
_DRAWN_PER_KEPT = 1.1


@dataclass(frozen=True)
class SynthConfig:
    """What to generate.

    Parameters
    ----------
    users : int
        Users; every one gets at least one row. User ids are ``1..users``.
    streamers : int
        Streamers in the catalogue. The ones that draw no viewer do not appear in the data
        (``SynthStats.streamers`` counts those that do): few when there are many sessions per
        streamer, about two thirds in the twitch-100k preset, as in the real sample.
    rows : int
        Target number of rows, met approximately (within a few percent).
    steps : int
        Length of the period in 10-minute steps; times are ``0..steps-1``.
    communities : int
        Communities of taste (games, languages); at most ``streamers``.
    seed : int
        Seed of every random draw. Same configuration, same file.
    repeat_prob : float
        Probability that a user's later session goes back to a streamer already watched (with
        ``settling`` 0; otherwise the base that ``settling`` bends).
    second_community_prob : float
        Probability that a user has a second favourite community.
    loyalty : float
        Share of new-streamer picks made in the user's own communities (the rest: any).
    popularity_exponent : float
        Zipf exponent of streamer popularity.
    activity_sigma : float
        Log-normal sigma of the number of rows per user (the heavy tail).
    stream_steps : float
        Typical length of a stream in steps (popular streamers stream longer).
    stream_rate : float
        Scales how often streamers go live: at 1.0 about one day in eight for the tail and
        every other day for the most popular; at most once a day. A small catalogue needs
        more so that users have a choice of live streamers at any time.
    settling : float
        How fast users settle on their streamers: the ``k``-th later session of a user picks a
        new streamer with probability ``(1 - repeat_prob) * (1 + k) ** -settling``, so heavy
        viewers return more often than light ones and see fewer new streamers in a late
        window, as in real samples (0: the same probability at every session).
    """

    users: int
    streamers: int
    rows: int
    steps: int = 6148
    communities: int = 20
    seed: int = 0
    repeat_prob: float = 0.55
    second_community_prob: float = 0.5
    loyalty: float = 0.9
    popularity_exponent: float = 0.8
    activity_sigma: float = 1.2
    stream_steps: float = 10.0
    stream_rate: float = 1.0
    settling: float = 0.0

    def __post_init__(self) -> None:
        for name in ("users", "streamers", "steps", "communities"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise ValueError(f"SynthConfig.{name} must be an integer >= 1, got {value!r}")
        if not _is_int(self.seed) or self.seed < 0:
            raise ValueError(f"SynthConfig.seed must be an integer >= 0, got {self.seed!r}")
        if not _is_int(self.rows) or self.rows < self.users:
            raise ValueError(
                f"SynthConfig.rows must be an integer >= users ({self.users}), got {self.rows!r}"
            )
        if self.communities > self.streamers:
            raise ValueError(
                f"SynthConfig.communities must be <= streamers ({self.streamers}), "
                f"got {self.communities!r}"
            )
        unit = ("repeat_prob", "second_community_prob", "loyalty")
        for name in unit:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"SynthConfig.{name} must be in [0, 1], got {value!r}")
        if self.repeat_prob >= 1.0:
            raise ValueError(f"SynthConfig.repeat_prob must be < 1, got {self.repeat_prob!r}")
        for name in ("popularity_exponent", "activity_sigma", "settling"):
            value = getattr(self, name)
            if not 0.0 <= value <= 5.0:
                raise ValueError(f"SynthConfig.{name} must be in [0, 5], got {value!r}")
        if not 0.0 < self.stream_rate <= 20.0:
            raise ValueError(
                f"SynthConfig.stream_rate must be in (0, 20], got {self.stream_rate!r}"
            )
        if not 1.0 <= self.stream_steps <= _MAX_STREAM_STEPS:
            raise ValueError(
                f"SynthConfig.stream_steps must be in [1, {_MAX_STREAM_STEPS}], "
                f"got {self.stream_steps!r}"
            )


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


PRESETS: dict[str, SynthConfig] = {
    # Unit tests: three days, a few communities; generates in a few hundredths of a second.
    # Few streamers, so they stream daily and long for users to have a choice at any time.
    "tiny": SynthConfig(
        users=300,
        streamers=60,
        rows=5_000,
        steps=432,
        communities=4,
        repeat_prob=0.5,
        popularity_exponent=1.0,
        stream_rate=8.0,
        stream_steps=36.0,
    ),
    # Quick start: a week; every streamer appears, so a steeper Zipf gives the real skew. Users
    # settle as in twitch-100k.
    "small": SynthConfig(
        users=5_000,
        streamers=1_500,
        rows=150_000,
        steps=1008,
        communities=12,
        popularity_exponent=1.0,
        stream_rate=3.0,
        stream_steps=18.0,
        repeat_prob=0.0,
        settling=0.3,
        activity_sigma=1.0,
    ),
    # The real 100k-user file: 3,051,733 rows, 100,000 users, 162,625 streamers, 739,991
    # streams, 1,505,158 user-streamer pairs, steps 0..6147. That file is a sample of users of
    # the full one, so the catalogue is the whole platform's and only about a third of it
    # draws a viewer, as in the real sample. Its repeat share is 52.4%; the real slice of one
    # community's heavy viewers (its README) has 64.4%, 80% of first sessions in the last
    # window are repeats and 23% of a viewer's streamers there are new. Users who settle
    # (settling 0.3 from repeat_prob 0) and a thinner activity tail (sigma 1.0) give 55% here
    # and, sampled like the slice, 63%, 77% and 25% (``python -m bench shape``); a constant
    # repeat_prob gave 54%, 64% and 42% there. Settled users find fewer streamers: a Zipf
    # exponent of 0.75 (was 0.8) brings back the real count of streamers with a viewer.
    "twitch-100k": SynthConfig(
        users=100_000,
        streamers=465_000,
        rows=3_051_733,
        communities=48,
        repeat_prob=0.0,
        settling=0.3,
        activity_sigma=1.0,
        popularity_exponent=0.75,
    ),
    # The full file: 124M rows, 15.5M users, 465k streamers, steps 0..6147.
    "twitch-full": SynthConfig(
        users=15_500_000,
        streamers=465_000,
        rows=124_000_000,
        communities=96,
        repeat_prob=0.0,
        settling=0.3,
        activity_sigma=1.0,
        popularity_exponent=0.75,
    ),
}


@dataclass(frozen=True)
class SynthStats:
    """What a generated file holds.

    Attributes
    ----------
    rows, users : int
        Rows (sessions) and users written.
    streamers : int
        Streamers that appear in at least one row.
    streams : int
        Distinct ``stream_id`` values written.
    pairs : int
        Distinct (user, streamer) pairs.
    repeat_share : float
        Share of users' sessions after their first that go back to a streamer already watched:
        ``(rows - pairs) / (rows - users)``.
    mean_live_streamers : float
        Streamers live at a step, averaged over steps, as a reader of the file sees it: a
        stream is live from its first session's start to its last session's stop.
    """

    rows: int
    users: int
    streamers: int
    streams: int
    pairs: int
    repeat_share: float
    mean_live_streamers: float

    def summary(self) -> str:
        """One line for logs and the command line."""
        return (
            f"{self.rows:,} rows, {self.users:,} users, {self.streamers:,} streamers, "
            f"{self.streams:,} streams, {self.pairs:,} user-streamer pairs, "
            f"repeat share {self.repeat_share:.3f}, "
            f"{self.mean_live_streamers:,.0f} streamers live per step"
        )


@dataclass(frozen=True)
class Catalog:
    """Streamers and their streams, shared by all users of a configuration.

    Streams are sorted by streamer, then start; a streamer's streams never overlap.

    Attributes
    ----------
    names : numpy.ndarray
        Streamer names (unique, ``[a-z0-9_]{3,25}``), indexed by streamer.
    community : numpy.ndarray
        Community of each streamer (int32).
    popularity : numpy.ndarray
        Relative popularity of each streamer (float64, Zipf).
    stream_streamer, stream_start, stream_end : numpy.ndarray
        Streamer, first step and last step (inclusive) of each stream (int32).
    stream_id : numpy.ndarray
        Public id of each stream (int64, unique, increasing with the start step).
    community_share : numpy.ndarray
        Share of users (and streamers) in each community.
    community_peak : numpy.ndarray
        Step of the day (0..143) when each community's viewers peak.
    """

    names: npt.NDArray[np.str_]
    community: Int32Array
    popularity: FloatArray
    stream_streamer: Int32Array
    stream_start: Int32Array
    stream_end: Int32Array
    stream_id: IntArray
    community_share: FloatArray
    community_peak: Int32Array


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


@dataclass(frozen=True)
class _LiveIndex:
    """Lookup structures for picking streams, built once per catalogue."""

    # Streams overlapping each (community, bucket), sorted by that key, with the exclusive
    # prefix sum of their streamers' popularity: a weighted pick is one binary search.
    entry_stream: Int32Array
    entry_cum: FloatArray
    seg_offsets: IntArray
    n_buckets: int
    # Sorted key streamer * steps + start, to find a streamer's stream nearest a step.
    stream_key: IntArray
    streamer_first: IntArray
    streamer_count: IntArray
    # Streamers grouped by community with the prefix sum of popularity x streams, for the
    # fallback pick when no streamer of a community is live at a step.
    comm_streamers: Int32Array
    comm_cum: FloatArray
    comm_offsets: IntArray


def build_catalog(config: SynthConfig) -> Catalog:
    """Make the streamers, their communities, popularity and stream schedules.

    Parameters
    ----------
    config : SynthConfig
        Only ``streamers``, ``communities``, ``steps``, ``seed``, ``popularity_exponent``,
        ``stream_steps`` and ``stream_rate`` matter here.

    Returns
    -------
    Catalog
        Deterministic for the configuration.
    """
    rng = np.random.default_rng([config.seed, 0])
    n, n_comm, steps = config.streamers, config.communities, config.steps

    share = _community_share(n_comm)
    # The first streamers go one to each community so that none is empty; the rest by share.
    community = np.empty(n, dtype=np.int32)
    community[:n_comm] = np.arange(n_comm)
    community[n_comm:] = rng.choice(n_comm, size=n - n_comm, p=share)
    rank = rng.permutation(n).astype(np.float64)  # 0 is the most popular
    popularity = (rank + 1.0) ** -config.popularity_exponent
    quantile = rank / n

    zone_h = rng.choice(_ZONES_H, size=n_comm, p=_ZONE_P / _ZONE_P.sum())
    peak = (((_PEAK_HOUR - zone_h) % 24) * 6 + rng.integers(-3, 4, size=n_comm)) % STEPS_PER_DAY
    community_peak = peak.astype(np.int32)

    # Popular streamers stream on most days and longer; the tail now and then.
    per_day = (0.12 + 0.45 * (1.0 - quantile) ** 16) * rng.lognormal(0.0, 0.35, size=n)
    per_day *= config.stream_rate
    per_day = np.clip(per_day, 0.02, 0.95)
    usual_start = (community_peak[community] - 18 + np.rint(rng.normal(0, 12, size=n))).astype(
        np.int64
    ) % STEPS_PER_DAY
    mean_len = config.stream_steps * (0.8 + 1.2 * (1.0 - quantile) ** 3)

    days = -(-steps // STEPS_PER_DAY)
    s_list: list[IntArray] = []
    d_list: list[IntArray] = []
    for day in range(days):  # one draw per day keeps memory at O(streamers)
        live = np.flatnonzero(rng.random(n) < per_day)
        s_list.append(live)
        d_list.append(np.full(live.size, day, dtype=np.int64))
    s = np.concatenate(s_list)
    d = np.concatenate(d_list)
    jitter = np.clip(np.rint(rng.normal(0, 4, size=s.size)), -12, 12).astype(np.int64)
    length = _stream_lengths(rng, mean_len[s])
    start = d * STEPS_PER_DAY + usual_start[s] + jitter
    end = start + length - 1
    # Streams cut by either end of the period keep their visible part. With the jitter bound
    # and the length cap, consecutive days' streams of a streamer cannot overlap.
    keep = (end >= 0) & (start <= steps - 1)
    s, start, end = s[keep], np.maximum(start[keep], 0), np.minimum(end[keep], steps - 1)

    # A streamer with no stream in the period gets one at a random time.
    has = np.zeros(n, dtype=bool)
    has[s] = True
    missing = np.flatnonzero(~has)
    m_start = rng.integers(0, steps, size=missing.size)
    m_len = _stream_lengths(rng, mean_len[missing])
    s = np.concatenate([s, missing])
    start = np.concatenate([start, m_start])
    end = np.concatenate([end, np.minimum(m_start + m_len - 1, steps - 1)])

    # Twitch stream ids grow with time: number the streams in start order with random gaps.
    by_time = np.lexsort((s, start))
    stream_id = np.empty(s.size, dtype=np.int64)
    stream_id[by_time] = _STREAM_ID_BASE + np.cumsum(rng.integers(1, 2000, size=s.size))
    order = np.lexsort((start, s))
    names = _streamer_names(rng, n)
    logger.debug("catalogue: %d streamers, %d streams", n, s.size)
    return Catalog(
        names=names,
        community=community,
        popularity=popularity,
        stream_streamer=s[order].astype(np.int32),
        stream_start=start[order].astype(np.int32),
        stream_end=end[order].astype(np.int32),
        stream_id=stream_id[order],
        community_share=share,
        community_peak=community_peak,
    )


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


def write_sessions(config: SynthConfig, path: str | Path) -> SynthStats:
    """Generate the sessions of ``config`` and write them as a Twitch-format CSV.

    The file is written to a temporary file next to ``path`` and moved into place at the
    end, so a reader never sees a partial file. Parent folders are created.

    Parameters
    ----------
    config : SynthConfig
        What to generate.
    path : str or Path
        Destination CSV (no header, ``user_id,stream_id,streamer_name,time_start,time_stop``).

    Returns
    -------
    SynthStats
        Counts of what was written, gathered chunk by chunk in bounded memory.

    Examples
    --------
    >>> stats = write_sessions(PRESETS["tiny"], "data/tiny.csv")  # doctest: +SKIP
    >>> stats.users  # doctest: +SKIP
    300
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    catalog = build_catalog(config)
    names = pa.array(catalog.names, type=pa.string())
    types = (pa.int64(), pa.int64(), pa.string(), pa.int32(), pa.int32())
    schema = pa.schema(list(zip(COLUMNS, types, strict=True)))
    options = pa_csv.WriteOptions(include_header=False, quoting_style="none")

    # Stats that span chunks are arrays over the catalogue, never over rows.
    n_streams = catalog.stream_id.size
    seen_streamer = np.zeros(config.streamers, dtype=bool)
    live_first = np.full(n_streams, config.steps, dtype=np.int32)
    live_last = np.full(n_streams, -1, dtype=np.int32)
    rows = pairs = 0

    # A unique hidden name in the same folder, so that os.replace is atomic; created by the
    # writer itself so that it gets the usual permissions (mkstemp's are owner-only).
    tmp_name = str(path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"))
    try:
        with pa_csv.CSVWriter(tmp_name, schema, write_options=options) as writer:
            for chunk_no, chunk in enumerate(iter_session_chunks(config, catalog)):
                table = pa.table(
                    [
                        chunk.user_id,
                        chunk.stream_id,
                        names.take(chunk.streamer),
                        chunk.time_start,
                        chunk.time_stop,
                    ],
                    schema=schema,
                )
                writer.write_table(table)
                rows += len(chunk)
                # Users never span chunks, so per-chunk distinct pairs add up exactly.
                pair_key = chunk.user_id * config.streamers + chunk.streamer
                pairs += int(np.unique(pair_key).size)
                seen_streamer[chunk.streamer] = True
                np.minimum.at(live_first, chunk.stream, chunk.time_start)
                np.maximum.at(live_last, chunk.stream, chunk.time_stop)
                if chunk_no % 100 == 99:  # about every 800k users: minutes apart on twitch-full
                    logger.info(
                        "%s: %d of %d users, %d rows", path, chunk.user_id[-1], config.users, rows
                    )
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise

    watched = live_last >= 0
    live_steps = int((live_last[watched] - live_first[watched] + 1).sum(dtype=np.int64))
    later = rows - config.users
    stats = SynthStats(
        rows=rows,
        users=config.users,
        streamers=int(seen_streamer.sum()),
        streams=int(watched.sum()),
        pairs=pairs,
        repeat_share=(rows - pairs) / later if later > 0 else 0.0,
        mean_live_streamers=live_steps / config.steps,
    )
    logger.info("wrote %s: %s", path, stats.summary())
    return stats


# --- internals ---------------------------------------------------------------------------------


def _community_share(n_comm: int) -> FloatArray:
    # A few big communities (the big games, English) and a long tail of small ones.
    share = (np.arange(n_comm, dtype=np.float64) + 1.0) ** -0.8
    return share / share.sum()


def _stream_lengths(rng: np.random.Generator, mean: FloatArray) -> IntArray:
    raw = mean * rng.lognormal(-0.1, 0.45, size=mean.size)
    return np.clip(np.rint(raw), 3, _MAX_STREAM_STEPS).astype(np.int64)


_ONSETS = (
    "b c d f g h j k l m n p r s t v w z y x br ch dr fl gr kr pl sh sk sl st tr th vr zh"
).split()
_VOWELS = "a e i o u a e o ai ea ou y".split()
_CODAS = ["", "", "", "", "n", "r", "x", "k", "s", "l", "m", "z", "th", "nk"]
_SUFFIXES = ["tv", "_tv", "ttv", "_gg", "yt", "_live", "hd", "_"]


def _streamer_names(rng: np.random.Generator, n: int) -> npt.NDArray[np.str_]:
    """Unique pronounceable names: 2-3 syllables, sometimes digits or a suffix like ``tv``."""
    syllables = np.unique(
        np.array([o + v + c for o in _ONSETS for v in _VOWELS for c in _CODAS], dtype=str)
    )
    pick = rng.integers(0, syllables.size, size=(3, n))
    names = np.strings.add(syllables[pick[0]], syllables[pick[1]])
    three = rng.random(n) < 0.35
    names = np.where(three, np.strings.add(names, syllables[pick[2]]), names)
    deco = rng.random(n)
    digits = np.char.mod("%d", rng.integers(1, 10_000, size=n))
    suffix = np.array(_SUFFIXES, dtype=str)[rng.integers(0, len(_SUFFIXES), size=n)]
    names = np.where(deco < 0.30, np.strings.add(names, digits), names)
    names = np.where((deco >= 0.30) & (deco < 0.42), np.strings.add(names, suffix), names)
    # Append a digit to each later duplicate until all are unique; a couple of rounds at most.
    for _ in range(20):
        order = np.argsort(names, kind="stable")
        dup = order[1:][names[order][1:] == names[order][:-1]]
        if dup.size == 0:
            break
        extra = np.char.mod("%d", rng.integers(0, 10, size=dup.size))
        names[dup] = np.strings.add(names[dup], extra)
    else:  # pragma: no cover - the name space is billions of times the streamer count
        raise RuntimeError("could not make streamer names unique")
    too_long = np.strings.str_len(names) > _MAX_NAME_LEN
    names[too_long] = np.strings.slice(names[too_long], 0, _MAX_NAME_LEN)
    return names


def _build_index(config: SynthConfig, catalog: Catalog) -> _LiveIndex:
    steps, n_comm = config.steps, config.communities
    start = catalog.stream_start.astype(np.int64)
    end = catalog.stream_end.astype(np.int64)
    streamer = catalog.stream_streamer
    n_streams = start.size

    # One entry per (stream, bucket it overlaps), built in int32 to keep the peak small: the
    # full preset has tens of millions of entries.
    n_buckets = -(-steps // _BUCKET_STEPS)
    first_b = (start // _BUCKET_STEPS).astype(np.int32)
    per_stream = (end // _BUCKET_STEPS).astype(np.int32) - first_b + 1
    entry_stream = np.repeat(np.arange(n_streams, dtype=np.int32), per_stream)
    key = np.arange(entry_stream.size, dtype=np.int32)
    key -= np.repeat((np.cumsum(per_stream) - per_stream).astype(np.int32), per_stream)
    key += first_b[entry_stream]  # now the bucket of each entry
    key += catalog.community[streamer[entry_stream]] * np.int32(n_buckets)
    order = np.argsort(key, kind="stable")
    entry_stream, key = entry_stream[order], key[order]
    del order
    seg_offsets = np.searchsorted(key, np.arange(n_comm * n_buckets + 1, dtype=np.int32))
    del key
    entry_cum = np.empty(entry_stream.size + 1)
    entry_cum[0] = 0.0
    np.cumsum(catalog.popularity[streamer[entry_stream]], out=entry_cum[1:])

    stream_key = streamer.astype(np.int64) * steps + start
    streamer_count = np.bincount(streamer, minlength=config.streamers).astype(np.int64)
    streamer_first = np.cumsum(streamer_count) - streamer_count

    comm_streamers = np.argsort(catalog.community, kind="stable").astype(np.int32)
    comm_weight = catalog.popularity[comm_streamers] * streamer_count[comm_streamers]
    comm_cum = np.concatenate([[0.0], np.cumsum(comm_weight)])
    comm_offsets = np.searchsorted(catalog.community[comm_streamers], np.arange(n_comm + 1))
    return _LiveIndex(
        entry_stream=entry_stream,
        entry_cum=entry_cum,
        seg_offsets=seg_offsets.astype(np.int64),
        n_buckets=n_buckets,
        stream_key=stream_key,
        streamer_first=streamer_first,
        streamer_count=streamer_count,
        comm_streamers=comm_streamers,
        comm_cum=comm_cum,
        comm_offsets=comm_offsets.astype(np.int64),
    )


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


# --- command line ------------------------------------------------------------------------------


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (no usage block), exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m streamrec.synth",
        description="Write synthetic Twitch-like watch sessions in the Twitch dataset's CSV "
        "format (no header: user_id,stream_id,streamer_name,time_start,time_stop).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--preset", choices=sorted(PRESETS), default="small", help="base config")
    parser.add_argument(
        "--out", required=True, type=Path, default=argparse.SUPPRESS, help="CSV file to write"
    )
    # SUPPRESS: a flag that is not given leaves the preset's value alone.
    overrides = {
        "users": (_positive_int, "users"),
        "streamers": (_positive_int, "streamers in the catalogue"),
        "rows": (_positive_int, "target number of rows (approximate)"),
        "steps": (_positive_int, "10-minute steps in the period"),
        "communities": (_positive_int, "communities of taste"),
        "seed": (_non_negative_int, "random seed"),
    }
    for name, (kind, text) in overrides.items():
        values = ", ".join(f"{p} {getattr(c, name)}" for p, c in PRESETS.items())
        parser.add_argument(
            f"--{name}",
            type=kind,
            default=argparse.SUPPRESS,
            help=f"{text}; overrides the preset's ({values})",
        )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: write a synthetic sessions file and print a one-line summary.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name; ``sys.argv[1:]`` if None.

    Returns
    -------
    int
        0 on success, 2 on bad arguments (with a one-line error on stderr).
    """
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help (0) and on bad arguments (2)
        return exc.code if isinstance(exc.code, int) else 2
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    names = {f.name for f in fields(SynthConfig)}
    given = {k: v for k, v in vars(args).items() if k in names}
    try:
        config = replace(PRESETS[args.preset], **given)
    except ValueError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    stats = write_sessions(config, args.out)
    seconds = time.perf_counter() - started
    print(f"wrote {args.out} in {seconds:.1f} s: {stats.summary()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The catalogue: streamers, their communities, popularity and stream schedules.

Also the lookup structures (:class:`_LiveIndex`) that sessions use to pick a live stream.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from streamrec.data.synth.config import (
    _BUCKET_STEPS,
    _MAX_NAME_LEN,
    _MAX_STREAM_STEPS,
    _PEAK_HOUR,
    _STREAM_ID_BASE,
    _ZONE_P,
    _ZONES_H,
    STEPS_PER_DAY,
    FloatArray,
    Int32Array,
    IntArray,
    SynthConfig,
)

logger = logging.getLogger(__name__)


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

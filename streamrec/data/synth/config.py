"""What to generate: :class:`SynthConfig`, the presets, and the constants of the model."""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

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

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

Run ``python -m streamrec.data.synth --help`` for the command line.

The modules, in the order data flows: :mod:`~streamrec.data.synth.config` (what to generate, the
presets), :mod:`~streamrec.data.synth.catalog` (streamers and their streams),
:mod:`~streamrec.data.synth.sessions` (users and their sessions, chunk by chunk),
:mod:`~streamrec.data.synth.writer` (the CSV and its statistics) and
:mod:`~streamrec.data.synth.cli`.
Everything public is importable from ``streamrec.data.synth`` itself.
"""

from streamrec.data.synth.catalog import Catalog, build_catalog
from streamrec.data.synth.cli import main
from streamrec.data.synth.config import (
    COLUMNS,
    PRESETS,
    STEPS_PER_DAY,
    FloatArray,
    Int32Array,
    IntArray,
    SynthConfig,
)
from streamrec.data.synth.sessions import SessionChunk, iter_session_chunks
from streamrec.data.synth.writer import SynthStats, write_sessions

__all__ = [
    "COLUMNS",
    "PRESETS",
    "STEPS_PER_DAY",
    "Catalog",
    "FloatArray",
    "Int32Array",
    "IntArray",
    "SessionChunk",
    "SynthConfig",
    "SynthStats",
    "build_catalog",
    "iter_session_chunks",
    "main",
    "write_sessions",
]

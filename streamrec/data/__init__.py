"""The data layer: watch sessions read and checked, event batches, the event log, the time split.

Nothing here knows about models. :mod:`~streamrec.data.sessions` reads sessions and builds the
watch-time matrix (its Polars plan is :mod:`~streamrec.data.loader`);
:mod:`~streamrec.data.events` validates a batch of watch events the same way, and
:mod:`~streamrec.data.event_log` (with :mod:`~streamrec.data.event_segments`) keeps the accepted
ones durably; :mod:`~streamrec.data.split` and :mod:`~streamrec.data.live` are the time split and
who was live when; :mod:`~streamrec.data.synth` generates Twitch-like samples.

The session API is importable from here too, as notebooks use it::

    from streamrec import data
    sessions, report = data.read_sessions("data/sessions.csv")
"""

from streamrec.data.sessions import (
    COLUMNS,
    DROP_REASONS,
    DataError,
    Interactions,
    LoadReport,
    build_interactions,
    fingerprint,
    read_sessions,
    watch_steps,
)

__all__ = [
    "COLUMNS",
    "DROP_REASONS",
    "DataError",
    "Interactions",
    "LoadReport",
    "build_interactions",
    "fingerprint",
    "read_sessions",
    "watch_steps",
]

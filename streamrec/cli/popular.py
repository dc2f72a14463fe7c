"""`python cold_start.py`: print the most popular streamers of a sessions file."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from streamrec import data
from streamrec.cli import fail, load_settings
from streamrec.model.popularity import PopularityRanker


def popular_streamers(
    sessions: pd.DataFrame, k: int = 20, recent_steps: int | None = None
) -> pd.DataFrame:
    """The ``k`` most popular streamers as a table: rank, name, viewers, watch steps.

    Parameters
    ----------
    sessions : pandas.DataFrame
        As returned by :func:`streamrec.data.sessions.read_sessions`.
    k : int
        How many streamers.
    recent_steps : int, optional
        Count only sessions that end within the last ``recent_steps`` steps of the data
        ("popular now"); all sessions when None.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if recent_steps is not None:
        if recent_steps < 1:
            raise ValueError(f"recent_steps must be >= 1, got {recent_steps}")
        last = int(sessions["time_stop"].max())
        sessions = sessions[sessions["time_stop"] > last - recent_steps]
    interactions = data.build_interactions(sessions)
    ranker = PopularityRanker().fit(interactions.user_items)
    top = ranker.top(k)
    return pd.DataFrame(
        {
            "rank": range(1, len(top) + 1),
            "streamer": interactions.streamer_names[top],
            "viewers": ranker.viewers_[top],
            "watch_steps": ranker.watch_time_[top].astype("int64"),
        }
    )


def main(argv: Sequence[str] | None = None) -> int:
    settings = load_settings()
    parser = argparse.ArgumentParser(
        prog="cold_start.py",
        description="Print the most popular streamers (the cold-start ranking).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--data", type=Path, default=settings.data_path, help="sessions CSV")
    parser.add_argument("--k", type=int, default=20, help="how many streamers")
    parser.add_argument(
        "--recent-steps",
        type=int,
        default=None,
        help="count only the last N 10-minute steps ('popular now')",
    )
    args = parser.parse_args(argv)
    try:
        sessions, _ = data.read_sessions(args.data)
        table = popular_streamers(sessions, args.k, args.recent_steps)
    except (data.DataError, ValueError) as exc:
        return fail(str(exc))
    print(table.to_string(index=False))
    return 0

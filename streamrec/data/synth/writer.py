"""Writing the sessions of a configuration as a Twitch-format CSV, with what it holds."""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

from streamrec.data.synth.catalog import build_catalog
from streamrec.data.synth.config import COLUMNS, SynthConfig
from streamrec.data.synth.sessions import iter_session_chunks

logger = logging.getLogger(__name__)


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

"""How the generator's data compares with real sessions: one table of shape statistics.

One column per data set (:mod:`streamrec.evaluation.shape` defines each statistic):

* the real slice, ``../shared/data/twitch-real-slice.csv`` from the repository root (or
  ``--real``), when it is there; the table says so when it is not;
* each ``--presets`` sample of :mod:`streamrec.data.synth` (default ``small`` and ``twitch-100k``),
  generated afresh into a temporary folder (a cached sample could predate a generator change);
* the last preset sampled the way the real slice was drawn (``--no-slice-like`` to skip): the
  generator's community with the most viewers of at least 10 sessions on it, 2,000 of those
  viewers weighted by their sessions there, start steps only, cut at the slice's last step
  (:func:`streamrec.evaluation.shape.sample_like_slice`). Its column is the like-for-like comparison
  with the real slice; the plain presets show the population the sampling hides.

The list collapse fits ALS with the project's defaults (:class:`streamrec.model.als.ALSParams`) or
the ALS flags given. Run from the repository root (one to two minutes; most of it is generating
twitch-100k and fitting ALS on it)::

    python -m bench shape
    python -m bench shape -- --presets small --no-slice-like
    python -m bench shape -- --real path/to/sessions.csv --regularization 10
    python -m bench shape -- --max-users 1000000  # every user's list (minutes on twitch-100k)

It is a benchmark, not a test: it prints a table and asserts nothing.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from streamrec import data
from streamrec.data import synth
from streamrec.data.split import DEFAULT_WINDOW
from streamrec.evaluation import shape
from streamrec.model.als import ALSParams

DEFAULT = False  # one to two minutes, most of it twitch-100k: run when named
ROOT = Path(__file__).resolve().parent.parent
REAL = Path("../shared/data/twitch-real-slice.csv")
# How the real slice was drawn (its README): 2,000 users with at least 10 sessions on the
# community, weighted by activity; sessions up to step 5897.
SLICE_USERS = 2000
SLICE_MIN_SESSIONS = 10
SLICE_END = 5898


def generated(preset: str, folder: Path) -> pd.DataFrame:
    """The sessions of ``preset``, generated into ``folder`` and read back as any file is."""
    path = folder / f"{preset}.csv"
    started = time.perf_counter()
    stats = synth.write_sessions(synth.PRESETS[preset], path)
    print(f"{preset}: generated in {time.perf_counter() - started:.1f} s: {stats.summary()}")
    return data.read_sessions(path)[0]


def streamer_communities(config: synth.SynthConfig, names: np.ndarray) -> np.ndarray:
    """The generator's community of each streamer name (the ground truth behind a sample)."""
    catalog = synth.build_catalog(config)
    order = np.argsort(catalog.names)
    pos = np.searchsorted(catalog.names[order], names.astype(str))
    pos = order[np.minimum(pos, len(order) - 1)]
    if not np.array_equal(catalog.names[pos], names.astype(str)):
        raise ValueError("the sample holds streamers the preset's catalogue does not have")
    return catalog.community[pos]


def slice_like(sessions: pd.DataFrame, config: synth.SynthConfig) -> tuple[pd.DataFrame, str]:
    """``sessions`` of ``config`` sampled as the real slice was, and a note saying how."""
    names = sessions["streamer_name"].cat.categories.to_numpy(dtype=object)
    of_streamer = streamer_communities(config, names)
    community = of_streamer[sessions["streamer_name"].cat.codes.to_numpy()]
    per_user = pd.DataFrame({"c": community, "u": sessions["user_id"].to_numpy()})
    per_user = per_user.groupby(["c", "u"]).size()
    heavy = (per_user >= SLICE_MIN_SESSIONS).groupby(level=0).sum()
    chosen = int(heavy.idxmax())
    streamers = names[of_streamer == chosen]
    sample = shape.sample_like_slice(
        sessions, set(streamers), SLICE_USERS, SLICE_MIN_SESSIONS, end=SLICE_END
    )
    note = (
        f"community {chosen} ({len(streamers):,} streamers, {int(heavy.max()):,} viewers with "
        f">= {SLICE_MIN_SESSIONS} sessions on it)"
    )
    return sample, note


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


ROWS: list[tuple[str, Callable[[shape.Shape], str]]] = [
    ("sessions", lambda s: f"{s.sessions:,}"),
    ("users", lambda s: f"{s.users:,}"),
    ("streamers with a session", lambda s: f"{s.streamers:,}"),
    ("repeat share, sessions after each user's first", lambda s: _pct(s.repeat_share)),
    (
        "repeat share, first session in the last window (protocol 2)",
        lambda s: _pct(s.window.next_repeat_share),
    ),
    ("new-streamer share in the last window", lambda s: _pct(s.window.new_share)),
    ("users with history and a session in the last window", lambda s: f"{s.window.users:,}"),
    (
        "sessions per user: median / mean / p90",
        lambda s: f"{s.activity.median:g} / {s.activity.mean:.1f} / {s.activity.p90:g}",
    ),
    ("sessions on the top 1% of streamers", lambda s: _pct(s.popularity.top1_share)),
    ("sessions on the top 10% of streamers", lambda s: _pct(s.popularity.top10_share)),
    ("Gini of sessions per streamer", lambda s: f"{s.popularity.gini:.2f}"),
    ("log-log slope, top 10% of streamers", lambda s: f"{s.popularity.slope:.2f}"),
    ("live streamers per step (median)", lambda s: f"{s.live_median:g}"),
    (
        "heaviest 40 viewers sharing a top-10 list",
        lambda s: "–" if s.collapse is None else f"{s.collapse.heavy_shared} of {s.collapse.heavy}",
    ),
    (
        "distinct top-10 lists / users",
        lambda s: "–" if s.collapse is None else f"{s.collapse.distinct_share:.2f}",
    ),
]


def table(columns: dict[str, shape.Shape | None]) -> str:
    """The Markdown table, one column per data set (None: the data set is absent)."""
    lines = [
        "| statistic | " + " | ".join(columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    for label, cell in ROWS:
        values = ["absent" if s is None else cell(s) for s in columns.values()]
        lines.append(f"| {label} | " + " | ".join(values) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench shape",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--real", type=Path, default=None, help=f"real sessions CSV (default: {REAL} from the root)"
    )
    parser.add_argument("--presets", default="small,twitch-100k", help="generator presets")
    parser.add_argument("--no-slice-like", action="store_true", help="skip the sampled column")
    parser.add_argument("--window", type=int, default=DEFAULT_WINDOW, help="W in steps")
    parser.add_argument(
        "--max-users", type=int, default=20_000, help="users (a seeded sample) whose lists compare"
    )
    defaults = ALSParams()
    for name in ("factors", "iterations", "regularization", "alpha"):
        value = getattr(defaults, name)
        parser.add_argument(
            f"--{name}", type=type(value), default=value, help=f"ALS {name} (default {value})"
        )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    presets = [p.strip() for p in args.presets.split(",") if p.strip()]
    unknown = [p for p in presets if p not in synth.PRESETS]
    if unknown:
        parser.error(f"unknown preset {unknown[0]!r}; choose from {', '.join(synth.PRESETS)}")
    params = replace(
        defaults,
        factors=args.factors,
        iterations=args.iterations,
        regularization=args.regularization,
        alpha=args.alpha,
    )

    def describe(label: str, sessions: pd.DataFrame) -> shape.Shape:
        started = time.perf_counter()
        result = shape.describe(sessions, params, args.window, args.max_users)
        print(f"{label}: {time.perf_counter() - started:.1f} s", flush=True)
        return result

    notes = []
    columns: dict[str, shape.Shape | None] = {}
    real = args.real if args.real is not None else ROOT / REAL
    if real.is_file():
        columns["real slice"] = describe("real slice", data.read_sessions(real)[0])
        notes.append(f"real slice: {args.real or REAL}")
    else:
        columns["real slice"] = None
        notes.append(f"real slice: absent ({args.real or REAL} not found)")
    sessions = None
    with tempfile.TemporaryDirectory(prefix="bench-shape-") as folder:
        for preset in presets:
            sessions = generated(preset, Path(folder))
            columns[preset] = describe(preset, sessions)
    if presets and not args.no_slice_like and sessions is not None:
        sample, how = slice_like(sessions, synth.PRESETS[presets[-1]])
        label = f"{presets[-1]}, sampled like the slice"
        columns[label] = describe(label, sample)
        notes.append(f"{label}: {how}")
    print()
    print(table(columns))
    print()
    notes.append(
        f"last window W = {args.window} steps; ALS {params.as_dict()}"
        + (f"; lists compared over {args.max_users:,} users at most" if args.max_users else "")
    )
    for note in notes:
        print(f"- {note}")
    return 0

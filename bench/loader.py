"""Loading sessions: the Polars loader against bare scans with Polars and DuckDB, same run.

``python -m bench loader`` (or ``python -m bench.loader [--data FILE] [--repeats N]``) reads
one sessions CSV (default: the ``twitch-100k`` preset, 3M rows, generated into ``bench/out/``
if missing) several ways, each in a fresh process, and prints the median wall time and peak
RSS of each, with ratios (``× scan``, ``× bare``, ``× matrix``: to the same engine's
``scan``, ``bare`` and ``matrix``, Polars' for ``streamrec``):

- ``streamrec``: ``data.read_sessions`` + ``data.build_interactions`` (Polars, every check);
- ``before``: the same two calls with the pyarrow block loader this one replaced, taken from
  git (``--before REF``; skipped when git or the commit is not there);
- per engine (``polars``, ``duckdb``): ``scan`` reads the five typed columns and nothing else;
  ``bare`` reads them, drops exact duplicates and sums watch steps per (user, streamer), with
  no checks (the engine's floor for this job); ``matrix`` (Polars) also turns that into the
  same users x streamers CSR matrix with sorted id maps as ``streamrec``; ``lines`` reads the
  file as raw lines, the first step of the robust design; ``split`` also splits them and casts
  the fields.

Imports are outside the time. Peak RSS is the child process's high-water mark
(``ru_maxrss``), interpreter and imports included. It is a benchmark: it prints a table and
asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
# The last commit with the pyarrow block loader.
BEFORE = "d808c5f90fbae06e162b55d3305ad269cafc08e1"
TYPES = {
    "user_id": "BIGINT",
    "stream_id": "BIGINT",
    "streamer_name": "VARCHAR",
    "time_start": "INTEGER",
    "time_stop": "INTEGER",
}
VARIANTS = (
    "streamrec",
    "before",
    "polars-scan",
    "polars-bare",
    "polars-matrix",
    "polars-lines",
    "polars-split",
    "duckdb-scan",
    "duckdb-bare",
    "duckdb-lines",
    "duckdb-split",
)


def _streamrec(path: Path) -> None:
    from streamrec import data

    data.build_interactions(data.read_sessions(path)[0])


def _before(path: Path, ref: str = BEFORE) -> None:
    import importlib.util

    source = subprocess.run(  # the old loader's path at that commit, before streamrec/data/
        ["git", "-C", str(ROOT), "show", f"{ref}:streamrec/data.py"],
        capture_output=True,
        check=True,
    ).stdout
    module_path = OUT / "_before_data.py"
    module_path.write_bytes(source)
    spec = importlib.util.spec_from_file_location("before_data", module_path)
    assert spec is not None and spec.loader is not None
    before = sys.modules["before_data"] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(before)
    started = time.perf_counter()
    before.build_interactions(before.read_sessions(path)[0])
    _Timer.started = started  # importing the old module is not part of the load


def _polars_typed(path: Path):  # -> polars.LazyFrame; polars is imported in the child only
    import polars as pl

    dtypes = {"BIGINT": pl.Int64, "VARCHAR": pl.String, "INTEGER": pl.Int32}
    schema = {name: dtypes[kind] for name, kind in TYPES.items()}
    return pl.scan_csv(path, has_header=False, schema=schema)


def _polars_scan(path: Path) -> None:
    _polars_typed(path).collect()


def _polars_bare(path: Path) -> None:
    import polars as pl

    steps = pl.max_horizontal(pl.col("time_stop") - pl.col("time_start"), 1)
    _polars_typed(path).unique().group_by("user_id", "streamer_name").agg(steps.sum()).collect()


def _polars_matrix(path: Path) -> None:
    import numpy as np
    import polars as pl
    import scipy.sparse as sp

    steps = pl.max_horizontal(pl.col("time_stop") - pl.col("time_start"), 1)
    summed = (
        _polars_typed(path).unique().group_by("user_id", "streamer_name").agg(steps.sum()).collect()
    )
    # Sorted id maps; names are sorted once, as distinct values, not per row.
    names = summed["streamer_name"].unique().sort()
    rows = summed["user_id"].rank("dense").to_numpy() - 1
    cols = summed["streamer_name"].cast(pl.Enum(names)).to_physical().to_numpy()
    shape = (int(rows.max()) + 1, len(names))
    values = summed["time_stop"].to_numpy().astype(np.float32)
    sp.csr_matrix((values, (rows, cols)), shape=shape)


def _polars_lines(path: Path) -> None:
    import polars as pl

    from streamrec.data import loader

    pl.scan_csv(path, **loader._LINES).collect()


def _polars_split(path: Path) -> None:
    import polars as pl

    from streamrec.data import loader

    fields = pl.col("line").str.split_exact(",", 4).struct
    pl.scan_csv(path, **loader._LINES).select(
        fields.field("field_0").cast(pl.Int64, strict=False),
        fields.field("field_1").str.to_integer(strict=False),
        fields.field("field_2"),
        fields.field("field_3").cast(pl.Int32, strict=False),
        fields.field("field_4").cast(pl.Int32, strict=False),
    ).collect()


def _duckdb_csv(path: Path) -> str:
    columns = "{" + ", ".join(f"'{name}': '{kind}'" for name, kind in TYPES.items()) + "}"
    return f"read_csv('{path}', header = false, auto_detect = false, columns = {columns})"


def _duckdb_lines_csv(path: Path) -> str:
    return (
        f"read_csv('{path}', header = false, auto_detect = false, columns = {{'line': 'VARCHAR'}},"
        " delim = '\x01', quote = '', escape = '', strict_mode = false)"
    )


def _duckdb(query: str) -> None:
    import duckdb

    duckdb.connect().sql(query).fetch_arrow_table()


def _duckdb_scan(path: Path) -> None:
    _duckdb(f"select * from {_duckdb_csv(path)}")


def _duckdb_bare(path: Path) -> None:
    _duckdb(
        "select user_id, streamer_name, sum(greatest(time_stop - time_start, 1)) as steps"
        f" from (select distinct * from {_duckdb_csv(path)}) group by all"
    )


def _duckdb_lines(path: Path) -> None:
    _duckdb(f"select * from {_duckdb_lines_csv(path)}")


def _duckdb_split(path: Path) -> None:
    parts = "string_split(line, ',')"
    _duckdb(
        f"select try_cast({parts}[1] as bigint), try_cast({parts}[2] as bigint), {parts}[3],"
        f" try_cast({parts}[4] as integer), try_cast({parts}[5] as integer)"
        f" from {_duckdb_lines_csv(path)}"
    )


class _Timer:
    started = 0.0


_RUNS: dict[str, Callable[[Path], None]] = {
    "streamrec": _streamrec,
    "before": _before,
    "polars-scan": _polars_scan,
    "polars-bare": _polars_bare,
    "polars-matrix": _polars_matrix,
    "polars-lines": _polars_lines,
    "polars-split": _polars_split,
    "duckdb-scan": _duckdb_scan,
    "duckdb-bare": _duckdb_bare,
    "duckdb-lines": _duckdb_lines,
    "duckdb-split": _duckdb_split,
}


def run_one(variant: str, path: Path, before: str) -> dict[str, float]:
    """Run one variant in this process; its seconds and this process's peak RSS in bytes.

    Every variant's libraries are imported first, outside the time and in every process alike.
    """
    import pyarrow.csv  # noqa: F401 - the old loader's reader
    import scipy.sparse  # noqa: F401

    import streamrec.data.sessions  # noqa: F401 - polars, pandas

    if variant.startswith("duckdb"):
        import duckdb  # noqa: F401
    _Timer.started = time.perf_counter()
    if variant == "before":
        _before(path, before)
    else:
        _RUNS[variant](path)
    seconds = time.perf_counter() - _Timer.started
    return {"seconds": seconds, "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}


def measure(variant: str, path: Path, before: str) -> dict[str, float] | None:
    """One variant in a fresh process (None when it cannot run here, e.g. no git)."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.loader", "--run", variant, "--before", before, str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["failed"])[-1]
        print(f"  {variant}: skipped ({last})", flush=True)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.loader",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("data", nargs="?", type=Path, help="sessions CSV (default: preset's)")
    parser.add_argument("--preset", default="twitch-100k", help="synth preset if no data")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each variant")
    parser.add_argument("--before", default=BEFORE, help="git commit of the old loader")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--run", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    path = args.data or OUT / f"{args.preset}.csv"
    if args.run:
        print(json.dumps(run_one(args.run, path, args.before)))
        return 0
    if not path.exists():
        from streamrec.data import synth

        print(f"generating {args.preset} into {path} ...", flush=True)
        synth.write_sessions(synth.PRESETS[args.preset], path)

    runs: dict[str, list[dict[str, float]]] = {variant: [] for variant in args.variants}
    for _ in range(args.repeats):  # interleaved, so that load on the machine hits all alike
        for variant in args.variants:
            if result := measure(variant, path, args.before):
                runs[variant].append(result)
    seconds = {v: statistics.median(r["seconds"] for r in rs) for v, rs in runs.items() if rs}
    fastest = {v: min(r["seconds"] for r in rs) for v, rs in runs.items() if rs}
    peaks = {v: statistics.median(r["peak"] for r in rs) for v, rs in runs.items() if rs}

    size_mb = path.stat().st_size / 1e6
    print(f"\ndata: {path.name} ({size_mb:.0f} MB), medians of {args.repeats} runs")
    print("| variant | wall s | min s | × scan | × bare | × matrix | peak RSS GB | × before RSS |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for variant, wall in seconds.items():
        engine = "duckdb" if variant.startswith("duckdb") else "polars"
        refs = ("scan", "bare", "matrix")
        ratios = [_ratio(wall, seconds.get(f"{engine}-{ref}")) for ref in refs]
        memory = _ratio(peaks[variant], peaks.get("before"))
        print(
            f"| {variant} | {wall:.2f} | {fastest[variant]:.2f} | {' | '.join(ratios)} "
            f"| {peaks[variant] / 1e9:.2f} | {memory} |"
        )
    return 0


def _ratio(value: float, reference: float | None) -> str:
    return f"{value / reference:.2f}" if reference else "–"


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark the two training engines, implicit and Spark MLlib, on one sessions file.

Both engines train the same hyperparameters on the sessions that start before the last
``--test-steps`` steps (clipped at the cut, so no future watch time leaks in) and are scored on
the window after it, split as the evaluation splits (:class:`streamrec.data.split.Fold`): for each
user known at the cut, the relevant items are the streamers they watched in the window and had
not watched before; recommendations exclude watched streamers.
A popularity ranking is scored as a floor. Run from the repository root::

    python -m bench.engines                       # synthetic "small" preset
    python -m bench.engines --preset twitch-100k  # the 100k-user scale (minutes)
    python -m bench.engines data/sessions.csv --factors 64 --iterations 15
    python -m bench engines -- --preset tiny      # through the benchmark runner

It is a benchmark, not a test: it prints a table and asserts nothing.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from streamrec import data
from streamrec.data import synth
from streamrec.data.split import DEFAULT_WINDOW, Fold
from streamrec.evaluation.metrics import mean_hit_rate_at_k, mean_ndcg_at_k
from streamrec.model import artifact
from streamrec.model.als import ALSParams, fit_als
from streamrec.model.popularity import PopularityRanker
from streamrec.model.spark import DEFAULT_REG_PARAM
from streamrec.serving.recommender import Recommender

logger = logging.getLogger("bench.engines")


@dataclass(frozen=True)
class Heldout:
    """Users known at the cut and, per user, the streamers new to them in the test window."""

    user_ids: list[int]
    relevant: list[set[str]]


@dataclass(frozen=True)
class Row:
    engine: str
    wall_s: float
    fit_s: float
    ndcg: float
    hit_rate: float


def make_sample(preset: str, folder: Path) -> Path:
    """Write the synthetic ``preset`` into ``folder`` and return its path."""
    path = folder / f"{preset}.csv"
    stats = synth.write_sessions(synth.PRESETS[preset], path)
    logger.info("generated %s: %s rows, %s users", path, f"{stats.rows:,}", f"{stats.users:,}")
    return path


def write_train_file(history: pd.DataFrame, target: Path) -> int:
    """Write ``history`` (a fold's, :meth:`streamrec.data.split.Fold.history`) as a sessions CSV.

    Both engines read the file back as these very rows: each row gets its own stream id (the
    read sessions carry none), so rows that clipping at the cut made equal are not dropped as
    duplicates. Returns the number of rows written.
    """
    history.assign(stream_id=np.arange(len(history)))[list(data.COLUMNS)].to_csv(
        target, header=False, index=False
    )
    return len(history)


def heldout(sessions: pd.DataFrame, fold: Fold) -> Heldout:
    """Per user seen before the fold's cut, the streamers first watched in its window."""
    history, targets = fold.history(sessions), fold.targets(sessions)
    before = set(zip(history["user_id"], history["streamer_name"].astype(str), strict=True))
    known = {user for user, _ in before}
    new: dict[int, set[str]] = {}
    for user, name in zip(targets["user_id"], targets["streamer_name"].astype(str), strict=True):
        if user in known and (user, name) not in before:
            new.setdefault(int(user), set()).add(name)
    users = sorted(new)
    return Heldout(user_ids=users, relevant=[new[u] for u in users])


def score(model: artifact.Artifact, test: Heldout, k: int) -> tuple[float, float]:
    recommender = Recommender(model)
    lists = [recommender.recommend(user, k).items for user in test.user_ids]
    return mean_ndcg_at_k(test.relevant, lists, k), mean_hit_rate_at_k(test.relevant, lists, k)


def score_popularity(model: artifact.Artifact, test: Heldout, k: int) -> tuple[float, float]:
    ranker = PopularityRanker().fit(model.user_items)
    rows = np.searchsorted(model.user_ids, test.user_ids)
    lists = [
        model.streamer_names[ranker.top(k, exclude=model.user_items[row].indices)].tolist()
        for row in rows
    ]
    return mean_ndcg_at_k(test.relevant, lists, k), mean_hit_rate_at_k(test.relevant, lists, k)


def run_implicit(path: Path, params: ALSParams) -> tuple[artifact.Artifact, float, float]:
    started = time.perf_counter()
    sessions, _ = data.read_sessions(path)
    interactions = data.build_interactions(sessions)
    loaded = time.perf_counter()
    user_factors, item_factors = fit_als(interactions.user_items, params)
    done = time.perf_counter()
    model = artifact.from_training(
        interactions, user_factors, item_factors, engine="implicit", params=params.as_dict()
    )
    return model, done - started, done - loaded


def run_spark(
    path: Path, params: ALSParams, master: str, reg_param: float | None
) -> tuple[artifact.Artifact, float, float, float]:
    from streamrec.model.spark import fit_spark

    started = time.perf_counter()
    fit = fit_spark(path, params, master=master, reg_param=reg_param)
    wall = fit.load_seconds + fit.fit_seconds
    logger.info("spark total with session stop: %.1fs", time.perf_counter() - started)
    model = artifact.from_training(
        fit.interactions,
        fit.user_factors,
        fit.item_factors,
        engine="spark",
        params=params.as_dict(),
    )
    return model, wall, fit.fit_seconds, fit.reg_param


def table(rows: Sequence[Row], k: int) -> str:
    lines = [
        f"| engine | wall s (load+fit) | fit s | NDCG@{k} | HR@{k} |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        wall = f"{row.wall_s:.1f}" if row.wall_s else "-"
        fit = f"{row.fit_s:.1f}" if row.fit_s else "-"
        lines.append(f"| {row.engine} | {wall} | {fit} | {row.ndcg:.4f} | {row.hit_rate:.4f} |")
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.engines",
        description="Train implicit and Spark ALS on one file; compare time and NDCG@k.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("data", nargs="?", type=Path, help="sessions CSV (default: --preset)")
    parser.add_argument(
        "--preset",
        choices=sorted(synth.PRESETS),
        default="small",
        help="synthetic sample (streamrec.data.synth) to generate when no data is given",
    )
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--iterations", type=int, default=15)
    parser.add_argument("--regularization", type=float, default=ALSParams.regularization)
    parser.add_argument("--alpha", type=float, default=ALSParams.alpha)
    parser.add_argument("--test-steps", type=int, default=DEFAULT_WINDOW, help="held-out window")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--spark-master", default="local[2]")
    parser.add_argument(
        "--spark-reg-param",
        type=float,
        default=DEFAULT_REG_PARAM,
        help="Spark regParam as is; a negative value maps --regularization "
        "(regularization * users / nnz)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("py4j").setLevel(logging.WARNING)
    params = ALSParams(
        factors=args.factors,
        iterations=args.iterations,
        regularization=args.regularization,
        alpha=args.alpha,
    )
    with tempfile.TemporaryDirectory(prefix="bench-engines-") as tmp:
        folder = Path(tmp)
        source = args.data or make_sample(args.preset, folder)
        sessions, _ = data.read_sessions(source)
        end = int(sessions["time_stop"].max())
        # The test fold of streamrec.data.split.TimeSplit(end, window=test_steps), without its
        # check that a validation fold fits before it (this benchmark needs none).
        fold = Fold("test", cut=end - args.test_steps, stop=end + 1)
        test = heldout(sessions, fold)
        train_path = folder / "train.csv"
        n_train = write_train_file(fold.history(sessions), train_path)
        del sessions

        implicit_model, implicit_wall, implicit_fit = run_implicit(train_path, params)
        spark_model, spark_wall, spark_fit, reg_param = run_spark(
            train_path,
            params,
            args.spark_master,
            None if args.spark_reg_param < 0 else args.spark_reg_param,
        )
        rows = [
            Row("implicit", implicit_wall, implicit_fit, *score(implicit_model, test, args.k)),
            Row(
                f"spark ({args.spark_master}, regParam {reg_param:.4g})",
                spark_wall,
                spark_fit,
                *score(spark_model, test, args.k),
            ),
            Row("popularity", 0.0, 0.0, *score_popularity(implicit_model, test, args.k)),
        ]
    users, items = implicit_model.user_items.shape
    print(
        f"data {source.name}: train {n_train:,} rows before step {fold.cut} ({users:,} users x "
        f"{items:,} streamers, {implicit_model.user_items.nnz:,} pairs); test steps "
        f"{fold.cut}..{end}, {len(test.user_ids):,} users with new streamers"
    )
    print(f"params {params.as_dict()}")
    print(table(rows, args.k))
    return 0


if __name__ == "__main__":
    sys.exit(main())

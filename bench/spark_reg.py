"""Spark ALS's regParam (and confidence) against implicit's defaults, on the evaluation's split.

Implicit ALS adds ``regularization * I`` to every least-squares solve; Spark's implicit ALS adds
``regParam * n * I``, with ``n`` the number of ratings of the user or streamer solved ("ALS-WR").
This benchmark fits, on one fold of :class:`streamrec.data.split.TimeSplit` (the same history and
window as ``python metrics.py``), popularity, implicit ALS with the project's settings, and
Spark ALS (one local Spark session, the fit of :mod:`streamrec.model.spark`) with each
``--reg`` choice, and prints protocol 1 (watched streamers excluded) and protocol 2 of
:mod:`streamrec.evaluation.protocols`. A ``--reg`` choice is a number (Spark's ``regParam`` as it
is), ``mapped`` (``lambda * users / nnz``, matched on the mean user:
:func:`streamrec.model.spark.spark_reg_param`), ``items`` (``lambda * streamers / nnz``, matched on
the mean streamer) or ``setting`` (the ``spark_reg_param`` setting, which ``als_fit.py --engine
spark`` uses); a ``+shift`` suffix gives Spark the rating ``f(w) - 1 / alpha``, so that a watched
pair's confidence is ``alpha * f(w)`` as in implicit (instead of ``1 + alpha * f(w)``). ``lambda``
and every other hyperparameter are the settings' (``.env``, environment). Run from the repository
root::

    python -m bench spark_reg -- data/sessions.csv
    python -m bench spark_reg -- data/sessions.csv --fold valid --reg mapped,0.3,1+shift

It is a benchmark, not a test: it prints a table and asserts nothing (about 15 s per Spark fit
on a 5k-user sample with two cores).
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp

from streamrec import data
from streamrec.cli import load_settings
from streamrec.data.split import DEFAULT_WINDOW
from streamrec.evaluation.baselines import ALS, Estimator, Popularity, _FactorModel
from streamrec.evaluation.evaluate import evaluate
from streamrec.model.als import ALSParams, confidence_weights

DEFAULT = False  # starts a JVM and fits Spark several times: run when named

logger = logging.getLogger("bench.spark_reg")


class SparkALS(_FactorModel):
    """Spark ALS fitted in a running session on the in-memory matrix, for :func:`evaluate`."""

    def __init__(
        self, spark: Any, folder: Path, params: ALSParams, choice: str, setting: float | None
    ) -> None:
        self.spark, self.folder, self.params, self.choice = spark, folder, params, choice
        self.setting = setting
        self.name = f"spark {choice}"

    def get_params(self) -> dict[str, Any]:
        return {"params": self.params, "reg": self.choice, "reg_param": self.reg_param_}

    def _fit(self, user_items: sp.csr_matrix) -> None:
        from streamrec.model.spark import _fit, spark_reg_param

        choice, shift = self.choice.removesuffix("+shift"), self.choice.endswith("+shift")
        coo = confidence_weights(user_items, self.params).tocoo()
        rating = coo.data.astype(np.float64)
        if shift:
            # Spark's confidence is 1 + alpha * r: r = f - 1/alpha gives implicit's alpha * f
            # (kept above 0, since Spark reads r <= 0 as "not watched").
            rating = np.maximum(rating - 1.0 / self.params.alpha, 1e-3)
        path = self.folder / f"ratings-{len(list(self.folder.iterdir()))}.parquet"
        table = pa.table(
            {"u": coo.row.astype(np.int32), "i": coo.col.astype(np.int32), "rating": rating}
        )
        pq.write_table(table, path)
        ratings = self.spark.read.parquet(str(path))
        users = int((np.diff(user_items.indptr) > 0).sum())
        items = int((np.bincount(coo.col, minlength=user_items.shape[1]) > 0).sum())
        reg = self.params.regularization
        if choice == "setting" and self.setting is not None:
            self.reg_param_ = self.setting
        elif choice in ("setting", "mapped"):
            self.reg_param_ = spark_reg_param(reg, users, user_items.nnz)
        elif choice == "items":
            self.reg_param_ = reg * items / user_items.nnz
        else:
            self.reg_param_ = float(choice)
        n_users, n_items = user_items.shape
        self.user_factors_, self.item_factors_ = _fit(
            self.spark, ratings, self.params, self.reg_param_, n_users, n_items
        )


def row(name: str, reg_param: str, result: Any) -> str:
    p1 = result.topk["exclude"]
    p2 = result.live
    cells = [
        p1["new"]["ndcg"][9],
        p1["new"]["hit_rate"][9],
        p1["new"]["recall"][9],
        p1["all"]["ndcg"][9],
        p2["all"]["ndcg@10"],
        p2["new"]["hit_rate@10"],
    ]
    numbers = " | ".join(f"{value:.4f}" for value in cells)
    return f"| {name} | {reg_param} | {numbers} | {result.fit_seconds:.1f} |"


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench spark_reg",
        description="Compare Spark ALS regParam choices with implicit ALS on a time split.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("data", type=Path, help="sessions CSV")
    parser.add_argument(
        "--reg",
        default="mapped,items,0.1,0.3,0.5,1,2",
        help="comma-separated Spark regParam choices: a number, mapped, items or setting, "
        "each optionally with +shift",
    )
    parser.add_argument("--fold", choices=["test", "valid"], default="test")
    parser.add_argument("--window", type=int, default=DEFAULT_WINDOW, help="W in steps")
    parser.add_argument("--spark-master", default="local[2]")
    parser.add_argument("--driver-memory", default=None, help="e.g. 4g")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from streamrec.model.spark_session import (
        _new_log_file,
        _require_java,
        _require_pyspark,
        _session,
    )

    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("py4j").setLevel(logging.WARNING)
    settings = load_settings()
    params = ALSParams.from_settings(settings)
    sessions, _ = data.read_sessions(args.data)
    _require_pyspark()
    _require_java()
    log_file = _new_log_file()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-spark-reg-") as tmp:
        with _session(args.spark_master, args.driver_memory, None, log_file) as spark:
            logger.info("Spark session started in %.1fs", time.perf_counter() - started)
            models: list[Estimator] = [Popularity(), ALS(params)]
            models += [
                SparkALS(spark, Path(tmp), params, choice.strip(), settings.spark_reg_param)
                for choice in args.reg.split(",")
            ]
            result = evaluate(sessions, models, window=args.window, fold=args.fold)
    log_file.unlink(missing_ok=True)
    counts = result.counts
    print(
        f"data {args.data.name}, fold {args.fold} (cut {result.fold.cut}, window "
        f"{args.window}): {counts['users']:,} users evaluated, {counts['history_nnz']:,} "
        f"history pairs, {counts['streamers']:,} streamers"
    )
    print(f"params {params.as_dict()}")
    print(
        "| model | regParam | P1 NDCG@10 new | P1 HR@10 new | P1 recall@10 new "
        "| P1 NDCG@10 all | P2 NDCG@10 | P2 HR@10 new | fit s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for model in result.models:
        reg_param = model.params.get("reg_param")
        print(row(model.name, "-" if reg_param is None else f"{reg_param:.4g}", model))
    return 0

"""Does the live ranker help lists that exclude watched streamers too? (It is not used there.)

On the test window (fit before ``T - W``) it trains the served configuration as
``python als_fit.py`` does, then builds each viewer's top 10 among the streamers they never
watched twice: by ALS, as the default lists are served, and re-ranked by the live ranker (its
candidates: ALS's best and the popular ones). It prints protocol 1's NDCG@10 and recall@10 on
new and on all targets for both, for the real slice when present and the ``--presets``.

    python -m bench rerank
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bench.quality import REAL_SLICE, sample_path
from streamrec import data
from streamrec.data.split import DEFAULT_WINDOW, TimeSplit
from streamrec.evaluation.batch_metrics import hit_matrix, metrics_at_ks
from streamrec.evaluation.fold_data import prepare_fold
from streamrec.ranking.topn import PAD, top_k
from streamrec.training.pipeline import TrainingPlan
from streamrec.training.served import Served

DEFAULT = False


def compare(path: Path, window: int, max_users: int) -> str:
    sessions, _ = data.read_sessions(path)
    fold = TimeSplit.from_sessions(sessions, window=window).test
    fold_data = prepare_fold(sessions, fold, max_users=max_users)
    served = Served(TrainingPlan()).fit_sessions(
        fold.history(sessions), fold_data.history, fold_data.user_ids
    )
    if served.ranker_ is None:
        return f"{path}: the training run has no ranker"
    n_items = fold_data.history.shape[1]
    lists = {"ALS (served)": [], "re-ranked": []}
    for user in fold_data.users:
        allowed = np.setdiff1d(np.arange(n_items), fold_data.history[user].indices)
        scores = served.item_factors_[allowed] @ served.user_factors_[user]
        row = int(served.row_of_[user])
        lists["ALS (served)"].append(allowed[top_k(scores, 10)])
        lists["re-ranked"].append(
            served.ranker_.rank(row if row >= 0 else None, allowed, scores, 10)
        )
    relevant = fold_data.relevant()
    lines = [
        f"{path.name}: {len(fold_data.users):,} viewers, watched streamers excluded",
        "",
        "| lists | NDCG@10 new | recall@10 new | NDCG@10 all | recall@10 all |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, rows in lists.items():
        top = np.full((len(rows), 10), PAD, dtype=np.int32)
        for j, items in enumerate(rows):
            top[j, : len(items)] = items
        m = {
            b: metrics_at_ks(hit_matrix(top, rel), np.diff(rel.indptr))
            for b, rel in relevant.items()
        }
        lines.append(
            f"| {name} | {m['new']['ndcg'][9]:.4f} | {m['new']['recall'][9]:.4f} "
            f"| {m['all']['ndcg'][9]:.4f} | {m['all']['recall'][9]:.4f} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench rerank", description=__doc__)
    parser.add_argument("--presets", default="small", help="generator presets (comma-separated)")
    parser.add_argument("--window", type=int, default=DEFAULT_WINDOW)
    parser.add_argument("--max-users", type=int, default=3000)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    paths = [REAL_SLICE] if REAL_SLICE.is_file() else []
    paths += [sample_path(p.strip()) for p in args.presets.split(",") if p.strip()]
    for path in paths:
        print(compare(path, args.window, args.max_users), end="\n\n", flush=True)
    return 0

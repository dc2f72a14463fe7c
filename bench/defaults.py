"""Which fixed ALS setting holds across data shapes: the grid behind ``--no-tune``'s defaults.

For each data set (the real Twitch slice when present, then the generator's ``--presets``) it
fits ALS for every (lambda, alpha) of a grid, the other parameters at their defaults, on the
sessions before the data's own validation window (:func:`streamrec.data.split.choose_window`), and
scores NDCG@10 on new streamers with watched ones excluded, the search's objective, on up to
``--max-users`` viewers of the window. A setting's worth on a data set is its score over the
best score of the grid there; the robust default is the setting whose worst such ratio is
highest. The fixed default must not be the winner on one data set and poor on another.

    python -m bench defaults                                  # real slice + small preset
    python -m bench defaults -- --presets small,twitch-100k   # + the 100k shape (~10 min)
"""

from __future__ import annotations

import argparse
import itertools
import logging
from collections.abc import Sequence
from dataclasses import replace

from bench.quality import REAL_SLICE, sample_path
from streamrec import data
from streamrec.data.split import Fold, choose_window
from streamrec.evaluation.fold_data import prepare_fold
from streamrec.model.als import ALSParams, fit_als
from streamrec.training.tune import OBJECTIVE, evaluate_factors

DEFAULT = False  # minutes: run when named
LAMBDAS = (1.0, 3.0, 10.0, 30.0, 100.0)
ALPHAS = (1.0, 4.0, 16.0)
EXTRA = ((70.0, 2.0),)  # the previous default


def scores(path: str, max_users: int) -> dict[tuple[float, float], float]:
    """The objective of every grid setting on the data set at ``path``."""
    sessions, _ = data.read_sessions(path)
    end = int(sessions["time_stop"].max())
    window = choose_window(sessions)
    fold = prepare_fold(sessions, Fold("valid", end - window, end + 1), max_users=max_users)
    result = {}
    for reg, alpha in [*itertools.product(LAMBDAS, ALPHAS), *EXTRA]:
        params = replace(ALSParams(), regularization=reg, alpha=alpha)
        factors = fit_als(fold.history, params)
        result[(reg, alpha)] = evaluate_factors(*factors, params, fold)[OBJECTIVE]
        print(f"  {path}: lambda {reg:g}, alpha {alpha:g}: {result[(reg, alpha)]:.4f}", flush=True)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench defaults",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--presets", default="small", help="generator presets (comma-separated)")
    parser.add_argument("--data", action="append", default=[], help="more sessions CSV files")
    parser.add_argument("--max-users", type=int, default=3000, help="viewers scored per data set")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    sets = {}
    if REAL_SLICE.is_file():
        sets["real slice"] = str(REAL_SLICE)
    else:
        print("the real slice is not here: generator only")
    for preset in filter(None, (p.strip() for p in args.presets.split(","))):
        sets[preset] = str(sample_path(preset))
    sets.update({path: path for path in args.data})
    results = {name: scores(path, args.max_users) for name, path in sets.items()}
    names = list(results)
    best = {name: max(results[name].values()) for name in names}
    settings = list(results[names[0]])
    worst = {s: min(results[n][s] / best[n] for n in names) for s in settings}
    lines = [
        f"{OBJECTIVE} (watched excluded) on each data set's validation window; in brackets, "
        "the share of that data set's best",
        "",
        "| lambda | alpha | " + " | ".join(names) + " | worst share |",
        "|---:|---:|" + "---:|" * (len(names) + 1),
    ]
    for s in sorted(settings, key=lambda s: -worst[s]):
        cells = " | ".join(f"{results[n][s]:.4f} ({results[n][s] / best[n]:.0%})" for n in names)
        lines.append(f"| {s[0]:g} | {s[1]:g} | {cells} | {worst[s]:.0%} |")
    robust = max(settings, key=lambda s: worst[s])
    lines += ["", f"most robust: lambda {robust[0]:g}, alpha {robust[1]:g}"]
    print("\n".join(lines))
    return 0

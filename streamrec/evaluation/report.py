"""An :class:`~streamrec.evaluation.evaluate.Evaluation` as Markdown tables, JSON and PNG plots.

``write_report`` writes into one folder:

* ``report.md``: the two tables (protocol 1 at the chosen K, protocol 2) and what was measured;
* ``results.json``: every number, including the curves for K = 1..max_k;
* ``topk_curves.png``: NDCG@K and recall@K per model, for new targets with watched streamers
  excluded and for all targets with them kept;
* ``live_bars.png``: protocol 2 HR@1 and HR@10 per model for all / new / repeat targets.
"""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from streamrec.evaluation.evaluate import Evaluation
from streamrec.evaluation.protocols import BUCKETS, LIVE_KS, PairedHits, paired_hits

logger = logging.getLogger(__name__)

_PLOT_DPI = 80
_LINE_STYLES = ("-", "--", "-.", ":")


def markdown(evaluation: Evaluation, k: int = 10, title: str | None = None) -> str:
    """The report as Markdown: a description of the split and the two tables.

    Parameters
    ----------
    evaluation : Evaluation
        From :func:`streamrec.evaluation.evaluate.evaluate`.
    k : int
        Cut-off of the protocol 1 table (at most the evaluation's ``max_k``).
    title : str, optional
        First line, e.g. the data file.
    """
    max_k = len(evaluation.models[0].topk["exclude"]["all"]["ndcg"]) if evaluation.models else k
    if not 1 <= k <= max_k:
        raise ValueError(f"k must be between 1 and the evaluated max_k={max_k}, got {k}")
    c = evaluation.counts
    split, fold = evaluation.split, evaluation.fold
    lines = [f"## {title}", ""] if title else []
    lines += [
        f"Time split T = {split.end}, W = {split.window} steps: models fit on sessions starting "
        f"before step {fold.cut} (clipped there) and are evaluated on sessions starting in "
        f"[{fold.cut}, {fold.stop - 1}]. {c['users']:,} users with history are evaluated "
        f"({c['cold_users']:,} without history are left out: every model gives them the "
        f"popularity ranking). {c['streamers']:,} streamers; {c['target_pairs']:,} "
        f"(user, streamer) targets, {c['repeat_pairs'] / max(c['target_pairs'], 1):.1%} of "
        f"them repeats.",
        "",
        f"**Protocol 1: top-{k} over all streamers.** Relevant = the streamers a user watched "
        "in the window; *new* = not watched before, *repeat* = watched before. *excl.* = "
        "watched streamers removed from the list (the service default), *kept* = not removed.",
        "",
        f"| model | fit s | NDCG@{k} new excl. | recall@{k} new excl. | NDCG@{k} all excl. "
        f"| MAP@{k} all excl. | NDCG@{k} all kept | NDCG@{k} repeat kept |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for m in evaluation.models:
        ex, kept = m.topk["exclude"], m.topk["keep"]
        values = (
            ex["new"]["ndcg"],
            ex["new"]["recall"],
            ex["all"]["ndcg"],
            ex["all"]["map"],
            kept["all"]["ndcg"],
            kept["repeat"]["ndcg"],
        )
        cells = " | ".join(f"{v[k - 1]:.4f}" for v in values)
        lines.append(f"| {m.name} | {m.fit_seconds:.1f} | {cells} |")
    lines += [
        "",
        "**Protocol 2: next session among the streamers live at its start** (LiveRec, RecSys "
        f"2021). {c['users']:,} targets, {c['repeat_share']:.1%} of them repeats; "
        f"{c['live_per_step']:.0f} streamers live on average at the targets' steps. "
        "HR@1 = NDCG@1.",
        "",
        "| model | HR@1 | HR@5 | HR@10 | NDCG@5 | NDCG@10 | HR@1 new | HR@1 repeat "
        "| HR@10 new | HR@10 repeat |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for m in evaluation.models:
        a, n, r = (m.live[b] for b in BUCKETS)
        cells = [
            a["hit_rate@1"],
            a["hit_rate@5"],
            a["hit_rate@10"],
            a["ndcg@5"],
            a["ndcg@10"],
            n["hit_rate@1"],
            r["hit_rate@1"],
            n["hit_rate@10"],
            r["hit_rate@10"],
        ]
        lines.append(f"| {m.name} | " + " | ".join(f"{v:.4f}" for v in cells) + " |")
    lines += _paired_table(evaluation)
    metrics = [f"{name}@{k}" for name in ("hit_rate", "ndcg") for k in LIVE_KS]
    headers = [
        f"{'HR' if name == 'hit_rate' else 'NDCG'}@{k}"
        for name in ("hit_rate", "ndcg")
        for k in LIVE_KS
    ]
    lines += [
        "",
        "Protocol 2 by target set:",
        "",
        "| model | targets | users | " + " | ".join(headers) + " |",
        "|---|---|---:|" + "---:|" * len(headers),
    ]
    for m in evaluation.models:
        for bucket in BUCKETS:
            row = m.live[bucket]
            cells = " | ".join(f"{row[name]:.4f}" for name in metrics)
            lines.append(f"| {m.name} | {bucket} | {int(row['users']):,} | {cells} |")
    return "\n".join(lines) + "\n"


def paired_against_best(evaluation: Evaluation, k: int = 1) -> dict[str, PairedHits]:
    """Each other model's protocol 2 hits at ``k`` paired with the best model's."""
    if not evaluation.models:
        return {}
    best = evaluation.best_live(k)
    return {
        m.name: paired_hits(m.live_ranks, best.live_ranks, k)
        for m in evaluation.models
        if m is not best
    }


def _paired_table(evaluation: Evaluation) -> list[str]:
    paired = paired_against_best(evaluation)
    if not paired:
        return []
    best = evaluation.best_live().name
    lines = [
        "",
        f"HR@1 paired with the best model, {best}, on the same targets (exact McNemar test):",
        "",
        f"| model | targets it hits and {best} misses | the reverse | p |",
        "|---|---:|---:|---:|",
    ]
    for name, pair in paired.items():
        p = f"{pair.p_value:.2g}" if pair.p_value > 0 else "< 1e-300"  # below float64's range
        lines.append(f"| {name} | {pair.gained:,} | {pair.lost:,} | {p} |")
    return lines


def to_json(evaluation: Evaluation) -> dict[str, Any]:
    """Every number of the evaluation as plain JSON types (curves as lists over K = 1..).

    Floats are rounded to 6 decimals, which keeps the file small and stays far below the
    sampling error of any of these means.
    """

    def plain(value: Any) -> Any:
        if isinstance(value, dict):
            return {str(key): plain(v) for key, v in value.items()}
        if isinstance(value, np.ndarray):
            return [plain(v) for v in value.tolist()] if value.ndim else plain(value.item())
        if isinstance(value, np.generic):
            return plain(value.item())
        if isinstance(value, float):
            return round(value, 6)
        return value

    return {
        "split": {"end": evaluation.split.end, "window": evaluation.split.window},
        "fold": {
            "name": evaluation.fold.name,
            "cut": evaluation.fold.cut,
            "stop": evaluation.fold.stop,
        },
        "counts": plain(evaluation.counts),
        "models": [
            {
                "name": m.name,
                "params": plain(m.params),
                "fit_seconds": m.fit_seconds,
                "eval_seconds": m.eval_seconds,
                "topk": plain(m.topk),
                "live": plain(m.live),
            }
            for m in evaluation.models
        ],
        "paired_hr1": {
            "reference": evaluation.best_live().name if evaluation.models else None,
            "models": {
                name: {"gained": pair.gained, "lost": pair.lost, "p_value": pair.p_value}
                for name, pair in paired_against_best(evaluation).items()
            },
        },
    }


def plot_topk_curves(evaluation: Evaluation, path: Path) -> Path:
    """NDCG@K and recall@K for K = 1..max_k, one line per model, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = (
        ("exclude", "new", "new targets, watched excluded"),
        ("keep", "all", "all targets, watched kept"),
    )
    fig, axes = plt.subplots(2, 2, figsize=(10, 7.5), sharex=True)
    for row, (mode, bucket, label) in enumerate(panels):
        for col, metric in enumerate(("ndcg", "recall")):
            ax = axes[row, col]
            for i, m in enumerate(evaluation.models):
                curve = m.topk[mode][bucket][metric]
                # Line styles keep coinciding curves visible (with watched streamers excluded,
                # a repeat-first model ranks like its fallback).
                style = _LINE_STYLES[i % len(_LINE_STYLES)]
                ax.plot(np.arange(1, len(curve) + 1), curve, style, label=m.name)
            ax.set_title(f"{'NDCG' if metric == 'ndcg' else 'Recall'}@K, {label}", fontsize=10)
            ax.grid(alpha=0.3)
            if row == 1:
                ax.set_xlabel("K")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle("Protocol 1: top-K over all streamers", fontsize=11)
    fig.tight_layout()
    _save_png(fig, path)
    plt.close(fig)
    return path


def plot_live_bars(evaluation: Evaluation, path: Path, ks: tuple[int, ...] = (1, 10)) -> Path:
    """Protocol 2 hit rates per model, grouped by target set (all / new / repeat), as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if any(k not in LIVE_KS for k in ks):
        raise ValueError(f"ks must be among {LIVE_KS}, got {ks}")
    fig, axes = plt.subplots(1, len(ks), figsize=(5 * len(ks), 4), sharey=True)
    axes = np.atleast_1d(axes)
    n_models = len(evaluation.models)
    width = 0.8 / max(n_models, 1)
    x = np.arange(len(BUCKETS))
    for ax, k in zip(axes, ks, strict=True):
        for i, m in enumerate(evaluation.models):
            values = [m.live[b][f"hit_rate@{k}"] for b in BUCKETS]
            ax.bar(x + (i - (n_models - 1) / 2) * width, values, width, label=m.name)
        ax.set_xticks(x, [f"{b}" for b in BUCKETS])
        ax.set_title(f"HR@{k} among live streamers", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(
        f"Protocol 2: next session ({evaluation.counts['repeat_share']:.0%} repeat targets)",
        fontsize=11,
    )
    fig.tight_layout()
    _save_png(fig, path)
    plt.close(fig)
    return path


def _save_png(fig: Any, path: Path) -> None:
    """Save a figure as a small PNG: a 128-colour palette instead of 32-bit colour.

    A plot has a handful of colours plus their anti-aliasing shades, so the palette looks the
    same and the file is about four times smaller (these PNGs are committed under docs/).
    """
    from PIL import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_PLOT_DPI)
    buffer.seek(0)
    with Image.open(buffer) as image:
        image.convert("RGB").quantize(colors=128).save(path, format="PNG", optimize=True)


def write_report(
    evaluation: Evaluation, out_dir: str | Path, k: int = 10, title: str | None = None
) -> dict[str, Path]:
    """Write ``report.md``, ``results.json`` and the two PNGs into ``out_dir`` (created).

    Returns
    -------
    dict of str to Path
        ``"markdown"``, ``"json"``, ``"topk_curves"``, ``"live_bars"``.
    """
    if not evaluation.models:
        raise ValueError("the evaluation has no model results to report")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "markdown": out / "report.md",
        "json": out / "results.json",
        "topk_curves": out / "topk_curves.png",
        "live_bars": out / "live_bars.png",
    }
    paths["markdown"].write_text(markdown(evaluation, k, title))
    paths["json"].write_text(json.dumps(to_json(evaluation)) + "\n")
    plot_topk_curves(evaluation, paths["topk_curves"])
    plot_live_bars(evaluation, paths["live_bars"])
    logger.info("wrote the report to %s", out)
    return paths

"""The replay benchmark's data side: the cut, the model trained before it, the window's requests,
the repeat baseline and the quality metrics (``bench/replay.py`` drives it)."""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from streamrec import data
from streamrec.data.live import LiveIndex
from streamrec.data.split import TimeSplit
from streamrec.evaluation.protocols import live_metrics

logger = logging.getLogger("bench.replay")
K = 10
MISS = K + 1  # the rank recorded when the watched streamer is not in the top K


def default_data(root: Path) -> Path | None:
    """``shared/data/twitch-real-slice.csv`` next to the repo root, or next to a folder that holds
    it (a worktree of the repository); None when it is nowhere."""
    for folder in root.parents:
        path = folder / "shared" / "data" / "twitch-real-slice.csv"
        if path.is_file():
            return path
    return None


@dataclass
class Window:
    """The sessions of the replay window ``[cut, end]``, sorted by start, and what they need.

    ``sid`` is a per-session stream id for the event rows (the loader keeps no stream ids; the
    server only needs it to match an open row with its closing row). ``query`` maps each session
    to its request: one per distinct (viewer, start step), shared by a viewer's sessions
    starting at the same step.
    """

    cut: int
    end: int
    names: np.ndarray  # streamer names by category code
    user: np.ndarray
    item: np.ndarray
    start: np.ndarray
    stop: np.ndarray
    sid: np.ndarray
    is_new: np.ndarray  # streamer not watched by the viewer before this session
    in_history: np.ndarray  # streamer watched by the viewer before the cut
    after_first: np.ndarray  # starts after the viewer's first start in the window
    query: np.ndarray  # session -> row of query_user / query_step
    query_user: np.ndarray
    query_step: np.ndarray
    history_users: int
    cold_sessions: int  # sessions of viewers without history before the cut

    def __len__(self) -> int:
        return len(self.user)

    def rows(self, index: np.ndarray, closed: bool, sid_offset: int = 0) -> bytes:
        """The sessions ``index`` as ``text/csv`` event rows (open: an empty time_stop)."""
        names = self.names[self.item[index]]
        stops = self.stop[index] if closed else None
        lines = []
        for j, i in enumerate(index.tolist()):
            stop = "" if stops is None else str(int(stops[j]))
            lines.append(
                f"{self.user[i]},{self.sid[i] + sid_offset},{names[j]},{self.start[i]},{stop}\n"
            )
        return "".join(lines).encode()


def split(sessions: pd.DataFrame, window: int) -> tuple[pd.DataFrame, Window, LiveIndex]:
    """The history before ``T - window`` (clipped at the cut), the window, who is live when."""
    fold = TimeSplit.from_sessions(sessions, window=window).test
    history = fold.history(sessions)
    targets = fold.targets(sessions)
    start = targets["time_start"].to_numpy(np.int64)
    order = np.argsort(start, kind="stable")
    targets = targets.iloc[order]
    user = targets["user_id"].to_numpy(np.int64)
    item = targets["streamer_name"].cat.codes.to_numpy().astype(np.int64)
    start = start[order]
    stop = targets["time_stop"].to_numpy(np.int64)
    seen = set(
        zip(
            history["user_id"].to_numpy(np.int64).tolist(),
            history["streamer_name"].cat.codes.to_numpy().tolist(),
            strict=True,
        )
    )
    history_users = set(history["user_id"].to_numpy(np.int64).tolist())
    in_history = np.array(
        [(u, i) in seen for u, i in zip(user.tolist(), item.tolist(), strict=True)], dtype=bool
    )
    is_new = np.empty(len(user), dtype=bool)
    first: dict[int, int] = {}
    pending: list[tuple[int, int]] = []  # pairs of the current step: seen from the next one on
    step = None
    for j, (u, i, t) in enumerate(zip(user.tolist(), item.tolist(), start.tolist(), strict=True)):
        if t != step:
            seen.update(pending)
            pending, step = [], t
        is_new[j] = (u, i) not in seen
        pending.append((u, i))
        first.setdefault(u, t)
    after_first = start > np.array([first[u] for u in user.tolist()], dtype=np.int64)
    keys = pd.MultiIndex.from_arrays([user, start])
    query, uniques = pd.factorize(keys)
    cold = ~np.isin(user, np.fromiter(history_users, dtype=np.int64, count=len(history_users)))
    win = Window(
        cut=fold.cut,
        end=fold.stop - 1,
        names=np.asarray(sessions["streamer_name"].cat.categories, dtype=object),
        user=user,
        item=item,
        start=start,
        stop=stop,
        sid=np.arange(len(user), dtype=np.int64) + 1,
        is_new=is_new,
        in_history=in_history,
        after_first=after_first,
        query=np.asarray(query, dtype=np.int64),
        query_user=uniques.get_level_values(0).to_numpy(np.int64),
        query_step=uniques.get_level_values(1).to_numpy(np.int64),
        history_users=len(history_users),
        cold_sessions=int(cold.sum()),
    )
    return history, win, LiveIndex.from_sessions(sessions)


def write_history(history: pd.DataFrame, path: Path) -> Path:
    """The sessions before the cut as a 5-column CSV, rewritten only when its bytes change (so
    its fingerprint, and the model trained on it, survive a rerun)."""
    frame = pd.DataFrame(
        {
            "user_id": history["user_id"].to_numpy(),
            "stream_id": np.arange(len(history)) + 1,
            "streamer_name": history["streamer_name"].astype(str).to_numpy(),
            "time_start": history["time_start"].to_numpy(),
            "time_stop": history["time_stop"].to_numpy(),
        }
    )
    body = frame.to_csv(index=False, header=False).encode()
    if not path.is_file() or _digest(path.read_bytes()) != _digest(body):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
    return path


def _digest(body: bytes) -> str:
    return hashlib.blake2b(body, digest_size=16).hexdigest()


def ensure_model(root: Path, before: Path, model: Path, train_args: list[str]) -> bool:
    """Train ``model`` on ``before`` with ``python als_fit.py`` unless the model there was trained
    on the same file (fingerprint) with the same arguments and code; True when it trained."""
    stamp = model.with_suffix(".json")
    wanted = {"fingerprint": data.fingerprint(before), "args": train_args, "code": _code(root)}
    if model.is_file() and stamp.is_file() and json.loads(stamp.read_text()) == wanted:
        logger.info("reusing %s (same data fingerprint and arguments)", model)
        return False
    command = [sys.executable, "als_fit.py", "--data", str(before), "--model", str(model)]
    logger.info("training: %s", " ".join(command[1:] + ["--quiet", *train_args]))
    subprocess.run(command + ["--quiet", *train_args], cwd=root, check=True)
    stamp.write_text(json.dumps(wanted) + "\n")
    return True


def _code(root: Path) -> str | None:
    """The training code's version: the git tree of ``streamrec/`` at HEAD (None outside git),
    so that a model trained by older code is not reused."""
    found = subprocess.run(
        ["git", "rev-parse", "HEAD:streamrec"], cwd=root, capture_output=True, text=True
    )
    return found.stdout.strip() or None if found.returncode == 0 else None


def repeat_ranks(history: pd.DataFrame, win: Window, live: LiveIndex) -> np.ndarray:
    """The repeat baseline's rank of each window session's streamer: the viewer's most-watched live
    streamer first (watch steps over the history and the window's sessions started before the
    step, ties by the latest start), then the other live streamers by popularity (watch steps of
    everyone over the same sessions), then by name; misses are ``MISS``."""
    n_items = len(win.names)
    watch = data.watch_steps(history).astype(np.float64)
    codes = history["streamer_name"].cat.codes.to_numpy().astype(np.int64)
    base_pop = np.bincount(codes, weights=watch, minlength=n_items)
    per_user: dict[int, dict[int, list[float]]] = {}
    frame = pd.DataFrame(
        {
            "u": history["user_id"].to_numpy(np.int64),
            "i": codes,
            "w": watch,
            "s": history["time_start"].to_numpy(np.int64),
        }
    )
    for (u, i), w, s in zip(*_grouped(frame), strict=True):  # (user, item) -> [watch, latest start]
        per_user.setdefault(u, {})[i] = [w, s]
    session_ranks = np.empty(len(win), dtype=np.int64)
    started: dict[int, list[int]] = {}  # viewer -> window sessions started before the step
    order = np.argsort(win.query_step, kind="stable")
    done = 0  # window sessions (sorted by start) already added to `started`
    pop, pop_step = base_pop, None
    by_query: dict[int, list[int]] = {}
    for j, q in enumerate(win.query.tolist()):
        by_query.setdefault(q, []).append(j)
    for q in order.tolist():
        t, u = int(win.query_step[q]), int(win.query_user[q])
        while done < len(win) and win.start[done] < t:
            started.setdefault(int(win.user[done]), []).append(done)
            done += 1
        if pop_step != t:
            seen = np.arange(done)
            pop = base_pop + np.bincount(
                win.item[seen], weights=_watched(win, seen, t), minlength=n_items
            )
            pop_step = t
        items = live.live(t).astype(np.int64)
        w = np.zeros(len(items))
        r = np.full(len(items), -1.0)
        mine = {i: list(v) for i, v in per_user.get(u, {}).items()}
        own = np.array(started.get(u, []), dtype=np.int64)
        for i, ww, s in zip(
            win.item[own].tolist(),
            _watched(win, own, t).tolist(),
            win.start[own].tolist(),
            strict=True,
        ):
            entry = mine.setdefault(i, [0.0, -1.0])
            entry[0] += ww
            entry[1] = max(entry[1], s)
        if mine:
            at = {i: k for k, i in enumerate(items.tolist())}
            for i, (ww, s) in mine.items():
                if i in at:
                    w[at[i]], r[at[i]] = ww, s
        ranking = items[np.lexsort((items, -pop[items], -r, -w))]
        position = {i: k + 1 for k, i in enumerate(ranking[:K].tolist())}
        for j in by_query[q]:
            session_ranks[j] = position.get(int(win.item[j]), MISS)
    return session_ranks


def _grouped(frame: pd.DataFrame) -> tuple[list, list, list]:
    grouped = frame.groupby(["u", "i"], sort=False).agg(w=("w", "sum"), s=("s", "max"))
    return grouped.index.tolist(), grouped["w"].tolist(), grouped["s"].tolist()


def _watched(win: Window, index: np.ndarray, t: int) -> np.ndarray:
    """Watch steps of window sessions ``index`` by step ``t`` (at least one, as the server's
    open sessions)."""
    return np.maximum(np.minimum(win.stop[index], t) - win.start[index], 1).astype(np.float64)


def quality_rows(ranks: dict[str, np.ndarray], win: Window) -> list[str]:
    """Markdown rows: every setup on every session, then on the sessions after each viewer's
    first in the window; HR@1, HR@10, NDCG@10 on all / new / repeat targets."""
    rows = []
    for subset, mask in (
        ("every session", np.ones(len(win), bool)),
        ("after first", win.after_first),
    ):
        for setup, r in ranks.items():
            m = live_metrics(r[mask], ~win.is_new[mask], ks=(1, K))
            cells = [f"{int(m['all']['users']):,}"]
            for bucket in ("all", "new", "repeat"):
                b = m[bucket]
                cells += [
                    f"{b['hit_rate@1']:.4f}",
                    f"{b['hit_rate@10']:.4f}",
                    f"{b['ndcg@10']:.4f}",
                ]
            cells.insert(1, f"{int(m['new']['users']):,} / {int(m['repeat']['users']):,}")
            rows.append(f"| {setup} | {subset} | " + " | ".join(cells) + " |")
    return rows


QUALITY_HEADER = [
    "| setup | sessions | n | new / repeat | HR@1 | HR@10 | NDCG@10 | HR@1 new | HR@10 new | "
    "NDCG@10 new | HR@1 repeat | HR@10 repeat | NDCG@10 repeat |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
]

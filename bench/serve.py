"""Serving speed: the real server against FastAPI's own floor, at Twitch-100k scale.

One run generates (or reuses, under ``bench/out/``) a ``--preset`` sample and its model, starts
the real server (``python platform.py``, one uvicorn worker) and a "floor" app (FastAPI with the
same routes, parameters and uvicorn settings, answering a constant JSON body of the same shape
and size), and loads both with the same client: wrk when installed (else a bounded Python load
generator), random known user ids, k=10, ``--connections`` connections, ``--duration`` seconds,
the two apps alternating for ``--repeat`` rounds; the table shows medians. It also measures
``POST /recomendations/user/{id}`` with 1,000 ``available`` streamers, the server's CPU time
per request, start-up time and memory, and once each: the server without precomputed lists
(every request scores the catalogue) and the seed's design (re-read CSV and model per request)
as "before".

    python -m bench serve                          # what the README reports
    python -m bench serve -- --duration 5 --repeat 1 --skip-before   # a quick look
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench import _loadgen
from bench._loadgen import LoadResult
from bench._process import free_port, memory_kb

DEFAULT = True
ROOT = Path(__file__).resolve().parent.parent
logger = logging.getLogger("bench.serve")


@dataclass(frozen=True)
class Measured:
    """One load run and the server's CPU time per request during it (all its threads)."""

    load: LoadResult
    cpu_us: float

    @property
    def rps(self) -> float:
        return self.load.rps

    @property
    def p50_ms(self) -> float:
        return self.load.p50_ms

    @property
    def p99_ms(self) -> float:
        return self.load.p99_ms

    @property
    def errors(self) -> int:
        return self.load.errors


@dataclass(frozen=True)
class Workload:
    """Requests of one kind: a method, the paths to pick from at random, an optional body."""

    name: str
    method: str
    paths: list[str]
    body: bytes | None = None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench serve",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--preset", default="twitch-100k", help="streamrec.data.synth preset")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "out", help="data, models, logs")
    p.add_argument("--duration", type=float, default=15.0, help="seconds per load run")
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--repeat", type=int, default=3, help="rounds; the table shows medians")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--live", type=int, default=1000, help="names in the POST's `available`")
    p.add_argument("--skip-before", action="store_true", help="skip the seed-design row")
    p.add_argument(
        "--skip-scan", action="store_true", help="skip the row without precomputed lists"
    )
    p.add_argument("--before-requests", type=int, default=3, help="sequential 'before' requests")
    p.add_argument(
        "--loader", choices=["auto", "wrk", "python"], default="auto", help="load generator"
    )
    return p


def prepare(args: argparse.Namespace) -> tuple[Loader, Path, Path] | None:
    """A load benchmark's set-up: the load generator, the preset's data and model (made if
    missing) and ``args.load_average``; None (after saying why) when wrk is asked for but
    missing."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    loader = _pick_loader(args.loader)
    if loader is None:
        print("error: --loader wrk but wrk is not installed", file=sys.stderr)
        return None
    args.out.mkdir(parents=True, exist_ok=True)
    args.load_average = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return loader, *_ensure_model(args.preset, args.out)


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    prepared = prepare(args)
    if prepared is None:
        return 2
    loader, data_path, model_path = prepared

    from streamrec.model import artifact

    model = artifact.load(model_path)
    rng = np.random.default_rng(0)
    users = rng.choice(model.user_ids, size=min(10_000, len(model.user_ids)), replace=False)
    live = rng.choice(model.streamer_names, size=min(args.live, len(model.streamer_names)))
    counts = model.metadata.get("counts", {})
    get = Workload("GET", "GET", [f"/recomendations/user/{u}?k={args.k}" for u in users.tolist()])
    post = Workload(
        f"POST, {len(live):,} available",
        "POST",
        [f"/recomendations/user/{u}" for u in users.tolist()],
        json.dumps({"k": args.k, "available": live.tolist()}).encode(),
    )
    # The live-now list a platform shows: watched streamers kept, ordered by the live ranker
    # when the model has one (else by the repeat blend).
    live_list = Workload(
        f"POST, {len(live):,} available, watched kept",
        "POST",
        post.paths,
        json.dumps({"k": args.k, "available": live.tolist(), "exclude_watched": False}).encode(),
    )
    del model

    results: dict[str, list[Measured]] = {}
    with contextlib.ExitStack() as stack:
        started = time.perf_counter()
        server = stack.enter_context(
            _process(
                [sys.executable, "platform.py", "--model", str(model_path)],
                args.out / "server.log",
                "/health",
            )
        )
        get_body = _fetch(server.url + get.paths[0])
        startup = time.perf_counter() - started
        serving = _wait_for_lists(server)  # measure the served state, not the start-up
        lists_ready = time.perf_counter() - started
        post_body = _fetch(server.url + post.paths[0], post.body)
        (args.out / "floor-get.json").write_bytes(get_body)
        (args.out / "floor-post.json").write_bytes(post_body)
        floor = stack.enter_context(
            _process(
                [sys.executable, "-m", "bench._floor"]
                + ["--get-body", str(args.out / "floor-get.json")]
                + ["--post-body", str(args.out / "floor-post.json")],
                args.out / "floor.log",
                get.paths[0],
            )
        )
        targets = [
            ("floor", floor, get),
            ("streamrec", server, get),
            ("floor", floor, post),
            ("streamrec", server, post),
            ("floor", floor, live_list),
            ("streamrec", server, live_list),
        ]
        for _, process, workload in targets:  # warm-up: page in, fill caches
            loader(process.port, workload, args.connections, 2.0, args.out)
        for round_ in range(args.repeat):
            for target, process, workload in targets:
                result = _measure(loader, process, workload, args)
                results.setdefault(f"{target} {workload.name}", []).append(result)
                logger.info(
                    "round %d %s %s: %.0f req/s, p50 %.2f ms, p99 %.2f ms, %.0f us CPU, %d errors",
                    round_ + 1,
                    target,
                    workload.name,
                    result.rps,
                    result.p50_ms,
                    result.p99_ms,
                    result.cpu_us,
                    result.errors,
                )
        memory = _memory_mb(server.pid)

    if not args.skip_scan:
        # The core issue's design: every request scores the whole catalogue.
        with _process(
            [sys.executable, "platform.py", "--model", str(model_path)],
            args.out / "server-scan.log",
            "/health",
            env={"PRECOMPUTE_TOP_N": "0"},
        ) as scan:
            loader(scan.port, get, args.connections, 2.0, args.out)
            results["scan GET"] = [_measure(loader, scan, get, args)]

    before = None
    if not args.skip_before:
        with _process(
            [sys.executable, "-m", "bench._before", "--data", str(data_path)]
            + ["--model", str(model_path)],
            args.out / "before.log",
            "/docs",
        ) as app:
            before = _sequential(app.url + get.paths[0], args.before_requests)

    report = _report(
        args,
        loader_name=_loader_name(loader),
        counts=counts,
        results=results,
        before=before,
        startup=startup,
        lists_ready=lists_ready,
        serving=serving,
        memory=memory,
    )
    print(report)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    (args.out / f"serve-{stamp}.md").write_text(report + "\n")
    return 0


# -- data and model ------------------------------------------------------------------------


def _ensure_model(preset: str, out: Path) -> tuple[Path, Path]:
    """The preset's sessions and model under ``out``, generated and trained when missing."""
    data_path, model_path = out / f"{preset}.csv", out / f"{preset}.npz"
    if not data_path.exists():
        from streamrec.data.synth import PRESETS, write_sessions

        if preset not in PRESETS:
            raise SystemExit(f"error: unknown preset {preset!r}; choose from {sorted(PRESETS)}")
        logger.info("generating %s into %s", preset, data_path)
        write_sessions(PRESETS[preset], data_path)
    if not model_path.exists() or model_path.stat().st_mtime < data_path.stat().st_mtime:
        logger.info("training %s", model_path)
        subprocess.run(
            [sys.executable, "als_fit.py", "--data", str(data_path), "--model", str(model_path)]
            + ["--quiet"],
            cwd=ROOT,
            check=True,
        )
    return data_path, model_path


# -- processes -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Running:
    pid: int
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextlib.contextmanager
def _process(
    command: list[str], log: Path, ready_path: str, env: dict[str, str] | None = None
) -> Iterator[Running]:
    """Start an app on a free port, wait until ``ready_path`` answers 200, stop it at exit."""
    port = free_port()
    with log.open("w") as log_file:
        proc = subprocess.Popen(
            command + ["--port", str(port)],
            cwd=ROOT,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
        try:
            running = Running(proc.pid, port)
            deadline = time.monotonic() + 900
            while True:
                if proc.poll() is not None:
                    raise SystemExit(f"error: {command[1:3]} exited; see {log}")
                if time.monotonic() > deadline:
                    raise SystemExit(f"error: {command[1:3]} did not start; see {log}")
                with contextlib.suppress(OSError):
                    _fetch(running.url + ready_path)
                    break
                time.sleep(0.2)
            yield running
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_for_lists(server: Running) -> dict[str, Any]:
    """Poll ``/model`` until the server's precomputed lists are done; return its ``serving``."""
    while True:
        serving = json.loads(_fetch(server.url + "/model"))["serving"]
        if serving["precompute_state"] != "running":
            return serving
        time.sleep(0.2)


def _fetch(url: str, body: bytes | None = None) -> bytes:
    request = urllib.request.Request(url, data=body, method="POST" if body else "GET")
    if body:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=600) as response:
        return response.read()


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _measure(
    loader: Loader, process: Running, workload: Workload, args: argparse.Namespace
) -> Measured:
    """Load ``process`` once, also recording its CPU time per request.

    CPU per request is the steadier number on a shared machine: other processes lower the
    requests/s of both apps, but not much the CPU each request needs.
    """
    cpu = _cpu_seconds(process.pid)
    result = loader(process.port, workload, args.connections, args.duration, args.out)
    cpu = _cpu_seconds(process.pid) - cpu
    return Measured(result, cpu / max(result.requests, 1) * 1e6)


def _memory_mb(pid: int) -> dict[str, float]:
    """Resident memory now and at peak (Linux /proc), in MB."""
    return {key: kb / 1024 for key, kb in memory_kb(pid).items()}


def _sequential(url: str, n: int) -> LoadResult:
    """``n`` requests one after another (the seed's design takes seconds per request)."""
    latencies = []
    for _ in range(n):
        started = time.perf_counter()
        _fetch(url)
        latencies.append((time.perf_counter() - started) * 1e3)
    return LoadResult(
        n,
        sum(latencies) / 1e3,
        0,
        float(np.percentile(latencies, 50)),
        float(np.percentile(latencies, 99)),
    )


# -- load generators -----------------------------------------------------------------------

Loader = Callable[[int, Workload, int, float, Path], LoadResult]


def _pick_loader(choice: str) -> Loader | None:
    if choice in ("auto", "wrk") and shutil.which("wrk"):
        return _run_wrk
    if choice == "wrk":
        return None
    if choice == "auto":
        logger.warning(
            "wrk is not installed (apt-get install wrk); using the Python load generator, "
            "whose numbers are lower and noisier than wrk's"
        )
    return _run_python


def _loader_name(loader: Loader) -> str:
    if loader is _run_wrk:
        version = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout
        return (version.split("[")[0].strip() or "wrk") + ", 1 thread"
    return "Python load generator (bench/_loadgen.py)"


_WRK_SCRIPT = """\
local paths = {%(paths)s}
local body = %(body)s
local headers = {}
if body then headers["Content-Type"] = "application/json" end
math.randomseed(%(seed)d)
request = function()
  return wrk.format("%(method)s", paths[math.random(#paths)], headers, body)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %%d, "duration_us": %%d, "status": %%d, "socket": %%d, ' ..
    '"p50_us": %%.1f, "p99_us": %%.1f}\\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def _run_wrk(
    port: int, workload: Workload, connections: int, seconds: float, out: Path
) -> LoadResult:
    body = "nil"
    if workload.body is not None:
        text = workload.body.decode()
        level = "=" * next(n for n in range(1, 10) if f"]{'=' * n}]" not in text)
        body = f"[{level}[{text}]{level}]"
    script = out / f"wrk-{workload.method.lower()}.lua"
    script.write_text(
        _WRK_SCRIPT
        % {
            "paths": ",".join(json.dumps(p) for p in workload.paths),
            "body": body,
            "seed": 0,
            "method": workload.method,
        }
    )
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s"]
    command += ["-s", str(script), f"http://127.0.0.1:{port}"]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    line = next(line for line in output.splitlines() if line.startswith('{"requests"'))
    stats = json.loads(line)
    return LoadResult(
        stats["requests"],
        stats["duration_us"] / 1e6,
        stats["status"] + stats["socket"],
        stats["p50_us"] / 1e3,
        stats["p99_us"] / 1e3,
    )


def _run_python(
    port: int, workload: Workload, connections: int, seconds: float, out: Path
) -> LoadResult:
    host = f"127.0.0.1:{port}"
    requests = [
        _loadgen.request_bytes(host, workload.method, path, workload.body)
        for path in workload.paths[:2000]
    ]
    return _loadgen.run("127.0.0.1", port, requests, connections, seconds)


# -- the report ----------------------------------------------------------------------------

_LABELS = {
    "floor": "floor (constant FastAPI app)",
    "streamrec": "streamrec",
    "scan": "streamrec without precomputed lists (precompute_top_n=0)",
}


def _blas() -> str:
    from threadpoolctl import threadpool_info

    libs = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    if not libs:
        return "no BLAS found"
    lib = libs[0]
    env = ", ".join(
        f"{name}={os.environ[name]}"
        for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
        if name in os.environ
    )
    kernel = f"{lib['internal_api']} {lib.get('version')} kernel {lib.get('architecture')}"
    return kernel + (f" ({env})" if env else " (OPENBLAS_CORETYPE unset)")


def _report(
    args: argparse.Namespace,
    loader_name: str,
    counts: dict[str, int],
    results: dict[str, list[Measured]],
    before: LoadResult | None,
    startup: float,
    lists_ready: float,
    serving: dict[str, Any],
    memory: dict[str, float],
) -> str:
    def median(runs: list[Measured], attr: str) -> float:
        return statistics.median(getattr(r, attr) for r in runs)

    today = dt.date.today().isoformat()
    load = args.load_average
    lines = [
        f"Serving benchmark, {today}: preset {args.preset} "
        f"({counts.get('users', 0):,} users, {counts.get('streamers', 0):,} streamers, "
        f"{counts.get('factors', 0)} factors), {os.cpu_count()} cores.",
        f"Client: {loader_name}, {args.connections} connections, {args.duration:g} s per run, "
        f"median of {args.repeat} alternating runs (the row without precomputed lists: one "
        f"run); random known users, k={args.k}. Load average before the run: {load}.",
        "",
        "| server | requests/s | p50 ms | p99 ms | vs floor | server CPU/request | "
        "floor's CPU/request over this | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for workload in dict.fromkeys(name.split(" ", 1)[1] for name in results if "floor" in name):
        floor = results[f"floor {workload}"]
        for target, label in _LABELS.items():
            runs = results.get(f"{target} {workload}")
            if runs is None:
                continue
            ratio = median(runs, "rps") / median(floor, "rps")
            cpu_ratio = median(floor, "cpu_us") / median(runs, "cpu_us")
            lines.append(
                f"| {label}, {workload} | {median(runs, 'rps'):,.0f} | "
                f"{median(runs, 'p50_ms'):.2f} | {median(runs, 'p99_ms'):.2f} | "
                f"{ratio:.0%} | {median(runs, 'cpu_us'):,.0f} µs | {cpu_ratio:.0%} | "
                f"{sum(r.errors for r in runs)} |"
            )
    if before is not None:
        lines.append(
            f"| before: seed design (CSV + model re-read per request), GET, "
            f"{before.requests} sequential requests | {before.rps:.2f} | {before.p50_ms:,.0f} | "
            f"{before.p99_ms:,.0f} | {before.rps / median(results['floor GET'], 'rps'):.3%} | "
            f"– | – | {before.errors} |"
        )
    lines += [
        "",
        f"Server start-up to first answer: {startup:.1f} s; precomputed lists ready after "
        f"{lists_ready:.1f} s (the top {serving['precompute_top_n']} of "
        f"{serving['precomputed_users']:,} users, {serving['precompute_seconds']:.1f} s in the "
        f"background). Memory: {memory.get('VmRSS', 0):,.0f} MB "
        f"resident after the runs, {memory.get('VmHWM', 0):,.0f} MB peak. Lists that keep "
        f"watched streamers are ordered by the {serving.get('live_ranking', 'blend')}.",
        f"BLAS: {_blas()}; the server pins it to 1 thread.",
        "CPU/request is the server process's CPU time per request (all threads), which other "
        "load on the machine disturbs less than requests/s.",
        "Reproduce: `make bench` (or `python -m bench serve`; `-- --help` for the options).",
    ]
    return "\n".join(lines)

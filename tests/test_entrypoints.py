"""The promised top-level commands, run as users run them: from the repository root."""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.broken_models import BROKEN, write_broken_model
from tests.conftest import ROOT, free_port


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def one_line_error(result: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], lines


def test_root_modules_do_not_shadow_stdlib_platform() -> None:
    code = "import platform, metrics, cold_start; print(platform.system(), platform.__file__)"
    result = run("-c", code)
    assert result.returncode == 0, result.stderr
    system, path = result.stdout.split()
    assert system == os.uname().sysname
    assert Path(path).parent != ROOT
    assert hasattr(__import__("metrics"), "map_at_k")


def test_als_fit_help_lists_the_flags() -> None:
    result = run("als_fit.py", "--help")
    assert result.returncode == 0
    for flag in ("--data", "--model", "--factors", "--iterations", "--regularization"):
        assert flag in result.stdout
    assert "--alpha" in result.stdout and "--seed" in result.stdout


def test_als_fit_missing_data_is_one_line_error(tmp_path: Path) -> None:
    result = run("als_fit.py", "--data", str(tmp_path / "none.csv"), "--model", str(tmp_path / "m"))
    one_line_error(result, "data file not found")


def test_als_fit_bad_hyperparameter_is_one_line_error(tmp_path: Path) -> None:
    one_line_error(run("als_fit.py", "--factors", "0"), "factors must be >= 1, got 0")


def test_bad_setting_in_environment_is_one_line_error() -> None:
    one_line_error(run("platform.py", env={"PORT": "abc"}), "bad setting port='abc'")


def test_platform_missing_model_exits_at_once(tmp_path: Path) -> None:
    result = run("platform.py", "--model", str(tmp_path / "none.npz"))
    one_line_error(result, f"model file not found: {tmp_path / 'none.npz'}")
    assert "python als_fit.py" in result.stderr


def test_platform_refuses_pickled_model(tmp_path: Path) -> None:
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(["not", "a", "model"]))
    one_line_error(run("platform.py", "--model", str(path)), "is a pickle; refusing")


def test_als_fit_directory_as_data_says_so(tmp_path: Path) -> None:
    result = run("als_fit.py", "--data", str(tmp_path), "--model", str(tmp_path / "m.npz"))
    one_line_error(
        result,
        f"data path is a directory with no sessions file (*.csv, *.csv.gz, *.parquet): {tmp_path}",
    )


def test_als_fit_unreadable_data_says_it_cannot_read_it(tmp_path: Path) -> None:
    """Regression: it said "cannot write <model>: Permission denied: <data file>"."""
    data_path = tmp_path / "sessions.csv"
    data_path.write_text("1,1,a,1,2\n")
    data_path.chmod(0)
    command = ["als_fit.py", "--data", str(data_path), "--model", str(tmp_path / "m.npz")]
    if os.geteuid() == 0:  # root reads anything: drop the capabilities that allow it
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv")
        caps = "-dac_override,-dac_read_search"
        result = subprocess.run(
            ["setpriv", f"--bounding-set={caps}", f"--inh-caps={caps}", sys.executable, *command],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
    else:
        result = run(*command)
    one_line_error(result, f"cannot read data file {data_path}: Permission denied")


def test_platform_broken_models_are_one_line_errors(tmp_path: Path, checkerboard_artifact) -> None:
    """Regression: six kinds crashed start-up with a traceback and exit code 1."""
    kinds = ["format_version array", "popular as float", "non-monotonic indptr", "0 users"]
    kinds += ["header claiming 64 TiB", "plain .npy renamed", "random bytes"]
    kinds += ["open sessions of unequal lengths"]
    servers = {}
    for n, kind in enumerate(kinds):
        path = write_broken_model(kind, tmp_path / f"model{n}.npz", checkerboard_artifact)
        command = [sys.executable, "platform.py", "--model", str(path), "--port", str(free_port())]
        servers[kind] = (path, subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE))
    for kind, (path, proc) in servers.items():
        try:
            _, stderr = proc.communicate(timeout=60)
        finally:
            proc.kill()  # a server that accepted the file is still running
        result = subprocess.CompletedProcess(proc.args, proc.returncode, "", stderr.decode())
        one_line_error(result, BROKEN[kind])
        assert result.stderr.startswith(f"error: {path}"), (kind, result.stderr)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("e2e")
    data_path, model_path = folder / "sessions.csv", folder / "model.npz"
    made = run("-m", "streamrec.data.synth", "--preset", "tiny", "--out", str(data_path))
    assert made.returncode == 0, made.stderr
    fitted = run("als_fit.py", "--data", str(data_path), "--model", str(model_path), "--quiet")
    assert fitted.returncode == 0, fitted.stderr
    assert "artifact" in fitted.stdout and "dropped 0" in fitted.stdout
    return data_path, model_path


def test_cold_start_prints_the_popular_streamers(trained: tuple[Path, Path]) -> None:
    result = run("cold_start.py", "--data", str(trained[0]), "--k", "3")
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.strip().splitlines()
    assert header.split() == ["rank", "streamer", "viewers", "watch_steps"] and len(rows) == 3


@contextmanager
def platform_server(model_path: Path) -> Iterator[str]:
    port = free_port()
    with subprocess.Popen(
        [sys.executable, "platform.py", "--model", str(model_path), "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    ) as proc:
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    httpx.get(f"{url}/health", timeout=1).raise_for_status()
                    break
                except httpx.HTTPError:
                    assert proc.poll() is None, "server exited"
                    assert time.monotonic() < deadline, "server did not start"
                    time.sleep(0.1)
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def test_end_to_end_sample_train_serve(trained: tuple[Path, Path]) -> None:
    """Generate a sample, train with als_fit.py, serve with platform.py, ask over HTTP."""
    data_path, model_path = trained
    first_user = int(data_path.read_text().split(",", 1)[0])
    with platform_server(model_path) as url:
        # The lists came with the model (als_fit.py stored them): ready as soon as it serves.
        assert httpx.get(f"{url}/model").json()["serving"]["precompute_state"] == "ready"
        known = httpx.get(f"{url}/recomendations/user/{first_user}", params={"k": 5}).json()
        unknown = httpx.get(f"{url}/recomendations/user/999999999").json()
    assert known["user_id"] == first_user and known["source"] == "als"
    assert len(known["personal"]) == 5
    assert unknown["source"] == "popular" and len(unknown["personal"]) > 5


def test_platform_with_an_unusable_event_log_folder_says_so(
    checkerboard_model_path: Path, tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = run(
        "platform.py",
        "--model",
        str(checkerboard_model_path),
        env={"LIVE_TOKEN": "t", "EVENT_LOG_DIR": str(blocker / "events")},
    )
    one_line_error(result, f"cannot use the event log folder {blocker / 'events'}: Not a directory")

"""The project as a package: build the wheel, install it into a clean environment, run it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from streamrec.cli.main import COMMANDS, main
from tests.conftest import ROOT


def run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean virtual environment with the wheel installed; its ``bin`` folder.

    The wheel is built offline from a copy of the sources (so the work tree gets no build
    folders) and installed without its dependencies, which the environment takes from the
    test's own through a ``.pth`` file: fast, and no network.
    """
    folder = tmp_path_factory.mktemp("package")
    source = folder / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source)
    shutil.copytree(
        ROOT / "streamrec", source / "streamrec", ignore=shutil.ignore_patterns("__pycache__")
    )
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    built = run(
        *pip,
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "--no-index",
        "-w",
        "dist",
        "./source",
        cwd=folder,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = (folder / "dist").glob("streamrec-*.whl")

    env = folder / "env"
    venv.create(env, with_pip=False)
    python = env / "bin" / "python"
    site = run(
        python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=folder
    )
    (Path(site.stdout.strip()) / "dependencies.pth").write_text(
        sysconfig.get_paths()["purelib"] + "\n"
    )
    done = run(*pip, "--python", python, "install", "--no-deps", "--no-index", wheel, cwd=folder)
    assert done.returncode == 0, done.stderr
    return env / "bin"


def test_wheel_holds_only_the_library(installed: Path) -> None:
    where = run(
        installed / "python", "-c", "import streamrec; print(streamrec.__file__)", cwd=installed
    )
    assert Path(where.stdout.strip()).is_relative_to(installed.parent)
    for outside in ("bench", "tests", "als_fit", "cold_start"):
        found = run(installed / "python", "-c", f"import {outside}", cwd=installed)
        assert found.returncode != 0, outside


def test_streamrec_command_lists_its_subcommands(installed: Path) -> None:
    for command in ([installed / "streamrec"], [installed / "python", "-m", "streamrec"]):
        result = run(*command, "--help", cwd=installed)
        assert result.returncode == 0, result.stderr
        assert all(name in result.stdout for name in COMMANDS)


def test_installed_command_makes_data_and_ranks_it(installed: Path, tmp_path: Path) -> None:
    made = run(installed / "streamrec", "synth", "--preset", "tiny", "--out", "s.csv", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    popular = run(installed / "streamrec", "popular", "--data", "s.csv", "--k", "3", cwd=tmp_path)
    assert popular.returncode == 0, popular.stderr
    header, *rows = popular.stdout.strip().splitlines()
    assert header.split() == ["rank", "streamer", "viewers", "watch_steps"] and len(rows) == 3


@pytest.mark.parametrize(
    ("argv", "code"), [([], 2), (["--help"], 0), (["fly"], 2), (["popular", "--k"], 2)]
)
def test_main_exit_codes(argv: list[str], code: int, capsys: pytest.CaptureFixture[str]) -> None:
    try:
        result = main(argv)
    except SystemExit as exc:  # a subcommand's argparse exits itself
        result = exc.code
    assert result == code

"""`python metrics.py`: the evaluation command writes the report and prints the tables."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from streamrec.cli.evaluate import main
from streamrec.data.synth import PRESETS, write_sessions
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def tiny_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tiny") / "tiny.csv"
    write_sessions(PRESETS["tiny"], path)
    return path


def test_main_prints_tables_and_writes_the_report(
    tiny_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report"
    code = main(
        ["--data", str(tiny_csv), "--window", "60", "--k", "5", "--out", str(out), "--quiet"]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "NDCG@5 new excl." in printed and "| als+repeat |" in printed
    assert {p.name for p in out.iterdir()} == {
        "report.md",
        "results.json",
        "topk_curves.png",
        "live_bars.png",
    }


def test_main_model_subset(
    tiny_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--data", str(tiny_csv), "--window", "60", "--out", str(tmp_path), "--quiet"]
    assert main([*args, "--models", "repeat,popularity"]) == 0
    printed = capsys.readouterr().out
    assert "| popularity |" in printed and "| als |" not in printed


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--models", "als,svd"], "--models must name some of"),
        (["--k", "0"], "--k must be between 1 and 50, got 0"),
        (["--window", "400"], "window=400 leaves no training steps"),
        (["--max-users", "0"], "--max-users must be >= 1, got 0"),
    ],
)
def test_main_bad_arguments_are_one_line_errors(
    tiny_csv: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    code = main(["--data", str(tiny_csv), "--out", str(tmp_path), "--quiet", *extra])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]


def test_main_missing_data_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--data", str(tmp_path / "none.csv"), "--quiet"]) == 2
    assert "data file not found" in capsys.readouterr().err


def test_metrics_script_runs_from_the_repository_root(tiny_csv: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "metrics.py", "--data", str(tiny_csv), "--window", "60"]
        + ["--models", "popularity", "--out", str(tmp_path), "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "| popularity |" in result.stdout and (tmp_path / "topk_curves.png").is_file()

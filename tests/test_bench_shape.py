"""Smoke test of ``python -m bench shape`` (the benchmark itself is not a test)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import shape as bench_shape


def test_bench_shape_says_when_the_real_slice_is_absent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--real", str(tmp_path / "absent.csv"), "--presets", "tiny", "--window", "100"]
    assert bench_shape.main([*argv, "--factors", "8", "--iterations", "2"]) == 0
    out = capsys.readouterr().out
    assert "| statistic | real slice | tiny | tiny, sampled like the slice |" in out
    rows = [line for line in out.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) == 1 + len(bench_shape.ROWS)
    assert all(line.split(" | ")[1] == "absent" for line in rows[1:])
    assert "absent.csv not found" in out

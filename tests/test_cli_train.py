"""`python als_fit.py`: search by default, fixed parameters when given, the ranker in the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamrec.cli.train import main as als_fit
from streamrec.model import artifact
from streamrec.settings import get_settings


def _argv(csv: Path, model: Path, *extra: str) -> list[str]:
    return ["--data", str(csv), "--model", str(model), "--quiet", *extra]


def test_default_run_searches_and_stores_the_ranker(
    tiny_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "model.npz"
    assert als_fit(_argv(tiny_csv, model, "--tune-budget", "2")) == 0
    out = capsys.readouterr().out
    assert "validation window: the latest" in out and "| fixed defaults |" in out
    assert "| # | factors |" in out and "live lists live ranker" in out
    loaded = artifact.load(model)
    validation = loaded.metadata["evaluation"]["validation"]
    best = validation["trials"][validation["best_trial"]]["params"]
    assert loaded.metadata["params"] == best and validation["trials"][0]["number"] == 0
    assert loaded.ranker_model is not None and loaded.metadata["ranker"]["now"] > 0
    assert loaded.watch_sessions is not None and len(loaded.watch_sessions) == loaded.user_items.nnz


def test_given_hyperparameters_are_trained_exactly(
    tiny_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "model.npz"
    argv = _argv(tiny_csv, model, "--factors", "4", "--iterations", "3", "--no-ranker")
    assert als_fit(argv) == 0
    out = capsys.readouterr().out
    assert "| # | factors |" not in out and "live lists repeat blend" in out
    params = artifact.load(model).metadata["params"]
    assert (params["factors"], params["iterations"], params["regularization"]) == (4, 3, 30.0)
    assert artifact.load(model).ranker_model is None


def test_hyperparameters_from_the_environment_are_trained_exactly(
    tiny_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACTORS", "6")
    get_settings.cache_clear()
    try:
        model = tmp_path / "model.npz"
        assert als_fit(_argv(tiny_csv, model, "--iterations", "2", "--no-ranker")) == 0
        assert artifact.load(model).metadata["params"]["factors"] == 6
        assert "trials" not in artifact.load(model).metadata["evaluation"]["validation"]
    finally:
        get_settings.cache_clear()


def test_no_tune_trains_the_fixed_defaults(tiny_csv: Path, tmp_path: Path) -> None:
    model = tmp_path / "model.npz"
    assert als_fit(_argv(tiny_csv, model, "--no-tune", "--no-ranker")) == 0
    params = artifact.load(model).metadata["params"]
    assert (params["factors"], params["regularization"], params["alpha"]) == (64, 30.0, 4.0)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--tune", "--factors", "4"], "--tune searches the hyperparameters"),
        (["--tune-budget", "0"], "tune budget must be > 0 plain fits, got 0.0"),
        (["--window", "0"], "window must be >= 1 step, got 0"),
    ],
)
def test_contradictory_or_bad_flags_are_one_line_errors(
    tiny_csv: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    model = tmp_path / "model.npz"
    assert als_fit(_argv(tiny_csv, model, *extra)) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not model.exists()


def test_several_inputs_are_read_together_and_sealed_segments_recorded(
    tiny_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "events"
    events.mkdir()
    sealed = events / "events-0000000001.csv"
    sealed.write_text("".join(f"{10**9 + k},{k},evented,{k},{k + 2}\n" for k in range(5)))
    (events / "events-0000000002.csv").write_text("")  # sealed and empty: read, costs nothing
    (events / "events-0000000003.csv.open").write_text("7,7,only_open,1,2\n")  # not read
    model = tmp_path / "model.npz"
    argv = ["--data", str(tiny_csv), "--data", str(events), "--model", str(model), "--quiet"]
    assert als_fit([*argv, "--factors", "4", "--iterations", "2", "--no-ranker"]) == 0
    loaded = artifact.load(model)
    meta = loaded.metadata["data"]
    tiny_rows = sum(1 for line in tiny_csv.read_text().splitlines() if line.strip())
    assert meta["path"] == str(tiny_csv) and meta["paths"] == [str(tiny_csv), str(events)]
    assert meta["rows_read"] in (tiny_rows + 5, tiny_rows + 4)  # a header is not a row
    assert meta["event_segments"] == {
        "events-0000000001.csv": sealed.stat().st_size,
        "events-0000000002.csv": 0,
    }
    names = set(loaded.streamer_names)
    assert "evented" in names and "only_open" not in names
    alone = tmp_path / "alone.npz"
    assert als_fit([*_argv(tiny_csv, alone), "--factors", "4", "--iterations", "2"]) == 0
    alone_meta = artifact.load(alone).metadata["data"]
    assert alone_meta["paths"] == [str(tiny_csv)] and alone_meta["event_segments"] == {}
    assert alone_meta["fingerprint"] != meta["fingerprint"]


def test_a_bad_one_of_several_inputs_is_named(
    tiny_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "model.npz"
    empty_folder = tmp_path / "empty"
    empty_folder.mkdir()
    for bad, message in (
        (tmp_path / "none.csv", f"data file not found: {tmp_path / 'none.csv'}"),
        (
            empty_folder,
            f"data path is a directory with no sessions file (*.csv, *.csv.gz, "
            f"*.parquet): {empty_folder}",
        ),
    ):
        assert als_fit(["--data", str(tiny_csv), *_argv(bad, model)]) == 2
        err = capsys.readouterr().err.strip()
        assert err == f"error: {message}"
        assert not model.exists()


def test_spark_refuses_several_inputs_in_one_line(
    tiny_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--engine", "spark", "--data", str(tiny_csv), *_argv(tiny_csv, tmp_path / "m.npz")]
    assert als_fit(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: --engine spark reads one --data input, got 2: {tiny_csv}, {tiny_csv}"


def test_an_event_log_with_no_sealed_segment_yet_is_skipped(
    tiny_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "events"
    events.mkdir()
    (events / "events-0000000001.csv.open").write_text("7,7,only_open,1,2\n")
    model = tmp_path / "model.npz"
    argv = ["--data", str(tiny_csv), "--data", str(events), "--model", str(model)]
    assert als_fit([*argv, "--factors", "4", "--iterations", "2", "--no-ranker"]) == 0
    assert f"data       {events}: no sealed event segment yet, skipped" in capsys.readouterr().out
    meta = artifact.load(model).metadata["data"]
    assert meta["paths"] == [str(tiny_csv), str(events)] and meta["event_segments"] == {}
    assert artifact.load(model).open_sessions is None  # no segment read: none recorded


def test_the_sessions_still_open_in_the_segments_read_are_in_the_artifact(
    tiny_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "events"
    events.mkdir()
    (events / "events-0000000001.csv").write_text(
        "7,1,only_here,1,\n"  # closed in the next segment
        "7,2,only_here,4,\n"  # still open
        '8,3,"a,b",5,\n'  # still open
    )
    (events / "events-0000000002.csv").write_text("7,1,only_here,1,3\n9,4,c,6,\n7,2,only_here,4,\n")
    (events / "events-0000000003.csv.open").write_text("9,4,c,6,8\n")  # not read: still open
    model = tmp_path / "model.npz"
    argv = ["--data", str(tiny_csv), "--data", str(events), "--model", str(model), "--quiet"]
    assert als_fit([*argv, "--factors", "4", "--iterations", "2", "--no-ranker"]) == 0
    assert "events     3 sessions still open in 2 segments" in capsys.readouterr().out
    loaded = artifact.load(model)
    sessions = loaded.open_sessions
    assert sessions is not None
    assert sessions.user_ids.tolist() == [7, 8, 9]
    assert sessions.streamer_names.tolist() == ["only_here", "a,b", "c"]
    assert sessions.stream_keys.tolist() == [2, 3, 4]
    assert sessions.time_starts.tolist() == [4, 5, 6] and sessions.segments.tolist() == [1, 1, 2]
    assert set(loaded.metadata["data"]["event_segments"]) == {
        "events-0000000001.csv",
        "events-0000000002.csv",
    }
    assert "only_here" in loaded.streamer_names.tolist()  # the closed session was trained on

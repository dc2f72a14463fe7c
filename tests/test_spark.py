"""The Spark engine end to end in local mode: the same artifact as implicit's, and a useful one.

One Spark training run for the module (a JVM start costs seconds), with the project's default
settings: a synthetic ``tiny`` sample is split in time, its past (with a header, one bad row per
drop reason and a disjoint checkerboard community added) is trained on with
``als_fit.py --engine spark``, and the artifact is checked against the pandas pipeline on the
same file, against popularity on the held-out window and on the checkerboard's held-out
streamers.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest

from streamrec import data
from streamrec.cli.train import build_parser, main
from streamrec.data import synth
from streamrec.evaluation.metrics import mean_hit_rate_at_k, mean_ndcg_at_k
from streamrec.model import artifact
from streamrec.model.popularity import PopularityRanker
from streamrec.model.spark import DEFAULT_REG_PARAM, spark_reg_param
from streamrec.serving.api import create_app
from streamrec.serving.recommender import Recommender
from streamrec.settings import Settings
from tests.conftest import checkerboard_rows, held_out, serving

HAVE_SPARK = shutil.which("java") is not None or bool(os.environ.get("JAVA_HOME"))
try:
    import pyspark  # noqa: F401
except ImportError:
    HAVE_SPARK = False
needs_spark = pytest.mark.skipif(not HAVE_SPARK, reason="needs pyspark and Java")

WINDOW = 100  # held-out steps at the end of the tiny sample (its 432 steps are three days)
K = 10
BAD_ROWS = [
    "1,2,3",  # wrong_field_count
    "5,6,,1,2",  # empty_field
    "abc,1,someone,1,2",  # bad_user_id
    "7,1,someone,3,",  # open_session
    "7,1,someone,a,2",  # bad_time
    "7,1,someone,5,2",  # stop_before_start
]
# A community of its own (ids and names unlike the synthetic sample's): even users watch even
# streamers, odd users odd ones, each but one; a model that learned it ranks that one first.
CHECKER_USERS, CHECKER_STREAMERS, CHECKER_ID = 40, 20, 9_000_000


def checker_lines() -> list[str]:
    """The checkerboard's sessions; its user ``u`` (0-based) is ``CHECKER_ID + u``."""
    rows = checkerboard_rows(CHECKER_USERS, CHECKER_STREAMERS)
    first = min(user for user, _, _, _ in rows)
    return [
        f"{CHECKER_ID + user - first},1,cb-{name},{start},{stop}"
        for user, name, start, stop in rows
    ]


@dataclass(frozen=True)
class Trained:
    train_path: Path
    model: artifact.Artifact
    summary: str
    heldout_users: list[int]
    heldout_relevant: list[set[str]]


def split_in_time(source: Path, train_path: Path) -> tuple[list[int], list[set[str]]]:
    """Write the sessions before the last ``WINDOW`` steps to ``train_path``, plus bad rows.

    Returns the users seen in training with, per user, the streamers first watched afterwards.
    """
    sessions, _ = data.read_sessions(source)
    cut = int(sessions["time_stop"].max()) - WINDOW
    lines = source.read_text().splitlines()
    past = [line for line in lines if int(line.split(",")[3]) < cut]
    header = ",".join(data.COLUMNS)
    lines = [header, *past, past[0], *checker_lines(), *BAD_ROWS]
    train_path.write_text("\n".join(lines) + "\n")

    start = sessions["time_start"].to_numpy()
    names = sessions["streamer_name"].astype(str).to_numpy()
    users = sessions["user_id"].to_numpy()
    seen = set(zip(users[start < cut].tolist(), names[start < cut], strict=True))
    known = {user for user, _ in seen}
    new: dict[int, set[str]] = {}
    for user, name in zip(users[start >= cut].tolist(), names[start >= cut], strict=True):
        if user in known and (user, name) not in seen:
            new.setdefault(user, set()).add(name)
    return sorted(new), [new[user] for user in sorted(new)]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    if not HAVE_SPARK:
        pytest.skip("needs pyspark and Java")
    folder = tmp_path_factory.mktemp("spark")
    source, train_path, model_path = (folder / n for n in ("all.csv", "train.csv", "model.npz"))
    synth.write_sessions(synth.PRESETS["tiny"], source)
    users, relevant = split_in_time(source, train_path)
    argv = ["--engine", "spark", "--spark-master", "local[2]", "--quiet"]
    argv += ["--data", str(train_path), "--model", str(model_path)]
    # The project's defaults, given explicitly so that a developer's .env does not change them.
    defaults = Settings(_env_file=None)
    for name in ("factors", "iterations", "regularization", "alpha", "confidence", "eps"):
        argv += [f"--{name}", str(getattr(defaults, name))]
    argv += ["--seed", str(defaults.seed), "--spark-reg-param", str(defaults.spark_reg_param)]
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(out):
        # A JVM that lives for seconds on tiny data spends most of its CPU compiling: the
        # client compiler alone and the serial collector halve the test's time on two cores.
        java_options = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
        patch.setenv("PYSPARK_SUBMIT_ARGS", f"--driver-java-options '{java_options}' pyspark-shell")
        code = main(argv)
    assert code == 0
    return Trained(train_path, artifact.load(model_path), out.getvalue(), users, relevant)


@needs_spark
def test_summary_names_the_engine_and_keeps_its_shape(trained: Trained) -> None:
    lines = trained.summary.strip().splitlines()
    heads = ["data", "matrix", "params", "live", "time", "artifact"]
    assert [line.split()[0] for line in lines] == heads
    assert lines[2].startswith("params     spark 4.")
    assert f"on local[2] (regParam {DEFAULT_REG_PARAM:.4g}):" in lines[2]


@needs_spark
def test_artifact_matches_the_pandas_pipeline(trained: Trained) -> None:
    sessions, report = data.read_sessions(trained.train_path)
    expected = data.build_interactions(sessions)
    model = trained.model

    assert model.metadata["engine"] == "spark"
    assert model.metadata["spark_version"].startswith("4.")
    assert model.metadata["data"]["rows_read"] == report.rows_read
    assert model.metadata["data"]["rows_dropped"] == report.dropped
    # Every reason the Spark engine checks was exercised (not the loader's byte-level ones).
    byte_level = ("row_too_long", "bad_encoding", "bad_quote")
    assert all(v for k, v in report.dropped.items() if k not in byte_level), report.dropped
    np.testing.assert_array_equal(model.user_ids, expected.user_ids)
    assert model.streamer_names.tolist() == expected.streamer_names.tolist()
    assert (model.user_items != expected.user_items).nnz == 0
    factors = Settings(_env_file=None).factors
    assert model.user_factors.shape == (len(expected.user_ids), factors)
    assert model.item_factors.shape == (len(expected.streamer_names), factors)
    assert np.abs(model.user_factors).sum(axis=1).min() > 0  # every user got a factor row
    assert model.metadata["spark_reg_param"] == DEFAULT_REG_PARAM
    assert model.metadata["params"]["regularization"] == Settings(_env_file=None).regularization


@needs_spark
def test_recommendations_beat_popularity_on_the_heldout_window(trained: Trained) -> None:
    model = trained.model
    assert len(trained.heldout_users) >= 50
    recommender = Recommender(model)
    als = [recommender.recommend(user, K).items for user in trained.heldout_users]
    ranker = PopularityRanker.from_order(model.popular)
    rows = np.searchsorted(model.user_ids, trained.heldout_users)
    popular = [
        model.streamer_names[ranker.top(K, exclude=model.user_items[row].indices)].tolist()
        for row in rows
    ]
    als_hits = mean_hit_rate_at_k(trained.heldout_relevant, als, K)
    popular_hits = mean_hit_rate_at_k(trained.heldout_relevant, popular, K)
    als_ndcg = mean_ndcg_at_k(trained.heldout_relevant, als, K)
    popular_ndcg = mean_ndcg_at_k(trained.heldout_relevant, popular, K)
    # Measured with the defaults: HR@10 0.76 vs 0.65, NDCG@10 0.40 vs 0.27 (the mapped regParam
    # of regularization=70 collapsed to below popularity).
    assert als_hits > popular_hits + 0.05, (als_hits, popular_hits)
    assert als_ndcg > 1.25 * popular_ndcg, (als_ndcg, popular_ndcg)


@needs_spark
def test_checkerboard_heldout_streamer_ranks_first(trained: Trained) -> None:
    recommender = Recommender(trained.model)
    for user in range(CHECKER_USERS):
        first = recommender.recommend(CHECKER_ID + user, 1).items
        assert first == [f"cb-s{held_out(user, CHECKER_STREAMERS):02d}"], user


@needs_spark
def test_server_serves_the_spark_artifact(trained: Trained) -> None:
    user = int(trained.model.user_ids[0])
    app = create_app(Settings(), Recommender(trained.model))
    with serving(app) as url:
        response = httpx.get(f"{url}/recommendations/user/{user}", params={"k": 5})
    assert response.status_code == 200
    body = response.json()
    assert len(body["personal"]) == 5 and body["source"] == "als"


def test_missing_pyspark_is_one_line_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "pyspark", None)  # makes `import pyspark` fail
    data_path = tmp_path / "s.csv"
    data_path.write_text("1,1,a,0,2\n")
    code = main(["--engine", "spark", "--data", str(data_path), "--model", str(tmp_path / "m")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "pip install -r requirements-spark.txt" in err[0]


@needs_spark
def test_missing_java_is_one_line_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    data_path = tmp_path / "s.csv"
    data_path.write_text("1,1,a,0,2\n")
    code = main(["--engine", "spark", "--data", str(data_path), "--model", str(tmp_path / "m")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "Java 17" in err[0]


def test_missing_data_is_one_line_error_before_spark_starts(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = tmp_path / "none.csv"
    code = main(["--engine", "spark", "--data", str(missing), "--model", str(tmp_path / "m")])
    if not HAVE_SPARK:
        assert code == 2
        return
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err == [f"error: data file not found: {missing}"]


def test_spark_reg_param_defaults_to_the_measured_value_and_can_be_mapped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings(_env_file=None).spark_reg_param == DEFAULT_REG_PARAM
    assert build_parser().parse_args([]).spark_reg_param == DEFAULT_REG_PARAM
    assert build_parser().parse_args(["--spark-reg-param", "0.1"]).spark_reg_param == 0.1
    assert build_parser().parse_args(["--spark-reg-param", "mapped"]).spark_reg_param is None
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--spark-reg-param", "-1"])
    monkeypatch.setenv("SPARK_REG_PARAM", "")
    assert Settings(_env_file=None).spark_reg_param is None  # empty = mapped
    assert spark_reg_param(70.0, n_users=1000, nnz=14000) == pytest.approx(5.0)

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from streamrec.evaluation.baselines import Popularity, Repeat
from streamrec.evaluation.evaluate import Evaluation, evaluate
from streamrec.evaluation.report import markdown, plot_live_bars, write_report
from tests.conftest import sessions_frame
from tests.hand_made import HAND_MADE

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def evaluation() -> Evaluation:
    sessions: pd.DataFrame = sessions_frame(HAND_MADE)
    return evaluate(sessions, [Popularity(), Repeat()], window=10, max_k=4)


def test_markdown_has_one_row_per_model_in_both_tables(evaluation: Evaluation) -> None:
    text = markdown(evaluation, k=2, title="hand-made")
    assert text.startswith("## hand-made\n")
    assert "NDCG@2 new excl." in text and "| HR@1 | HR@5 | HR@10 |" in text
    rows = [line for line in text.splitlines() if line.startswith("| repeat |")]
    assert len(rows) == 2 + 3  # protocol 1, protocol 2, protocol 2 per target set
    # Protocol 2, repeat: every target at rank 1.
    assert rows[1].split(" | ")[1] == "1.0000"
    assert rows[2].startswith("| repeat | all | 3 | 1.0000 | 1.0000 | 1.0000 | 1.0000 |")
    assert "3 users with history are evaluated (2 without history" in text
    # Repeat hits all three targets at rank 1, popularity two of them.
    assert "HR@1 paired with the best model, repeat, on the same targets" in text
    assert "| popularity | 0 | 1 | 1 |" in text


def test_markdown_k_beyond_the_evaluated_cut_offs(evaluation: Evaluation) -> None:
    with pytest.raises(ValueError, match="k must be between 1 and the evaluated max_k=4, got 5"):
        markdown(evaluation, k=5)


def test_write_report_writes_markdown_json_and_pngs(evaluation: Evaluation, tmp_path: Path) -> None:
    paths = write_report(evaluation, tmp_path / "out", k=3)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "live_bars.png",
        "report.md",
        "results.json",
        "topk_curves.png",
    ]
    assert paths["markdown"].read_text() == markdown(evaluation, k=3)
    results = json.loads(paths["json"].read_text())
    assert [m["name"] for m in results["models"]] == ["popularity", "repeat"]
    assert len(results["models"][0]["topk"]["exclude"]["new"]["ndcg"]) == 4
    assert results["paired_hr1"] == {
        "reference": "repeat",
        "models": {"popularity": {"gained": 0, "lost": 1, "p_value": 1.0}},
    }
    for name in ("topk_curves", "live_bars"):
        assert paths[name].read_bytes().startswith(PNG_MAGIC)


def test_live_bars_only_for_reported_cut_offs(evaluation: Evaluation, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"ks must be among \(1, 5, 10\), got \(3,\)"):
        plot_live_bars(evaluation, tmp_path / "x.png", ks=(3,))

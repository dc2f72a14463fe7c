from __future__ import annotations

from pathlib import Path

import numpy as np

from streamrec import data
from streamrec.evaluation.baselines import Repeat
from streamrec.evaluation.evaluate import evaluate
from streamrec.model.als import ALSParams
from streamrec.training.pipeline import TrainingPlan
from streamrec.training.served import Served

PLAN = TrainingPlan(params=ALSParams(factors=8, iterations=6), budget_fits=2)


def test_served_trains_on_the_history_only_and_ranks_live_lists(tiny_csv: Path) -> None:
    sessions, _ = data.read_sessions(tiny_csv)
    served = Served(PLAN)
    result = evaluate(sessions, [Repeat(), served], window=60)
    run = served.run_
    # Its own validation window lies inside the evaluation's history.
    assert run.validation["end"] <= result.fold.cut
    assert run.ranker_model is not None and served.ranker_ is not None
    live = result.model("served").live
    assert live["all"]["users"] == result.model("repeat").live["all"]["users"] > 0
    assert 0 <= live["all"]["hit_rate@1"] <= live["all"]["hit_rate@10"] <= 1
    # A live list's scores order it exactly as the ranker does.
    user = int(np.flatnonzero(served.row_of_ >= 0)[0])
    items = np.arange(0, served.item_factors_.shape[0], 2)
    scores = served.live_scores(user, items)
    als = served.item_factors_[items] @ served.user_factors_[user]
    ranked = served.ranker_.rank(int(served.row_of_[user]), items, als, len(items))
    assert items[np.lexsort((items, -scores))].tolist() == ranked.tolist()

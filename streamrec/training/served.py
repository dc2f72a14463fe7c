"""The served configuration as an evaluation model: trained exactly as ``als_fit.py`` trains.

:class:`Served` runs the whole training pipeline
(:func:`streamrec.training.pipeline.train_pipeline`: its own validation window inside the history,
the search, the live ranker, the refit) on the sessions before an evaluation cut, then answers as
the service does:

* protocol 1 (top-K over all streamers, watched excluded) with the ALS scores, as the default
  lists are served;
* protocol 2 (next session among the live streamers, watched kept) with the live ranker, or
  the repeat blend when the run trained none, as lists with ``exclude_watched=false`` are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from streamrec.evaluation.baselines import Estimator
from streamrec.ranking.blend import DEFAULT_WEIGHT, bonus
from streamrec.ranking.ranker import LiveRanker
from streamrec.ranking.trees import TreeEnsemble
from streamrec.training.pipeline import TrainingPlan, TrainingRun, popularity_ranks, train_pipeline


@dataclass(eq=False)
class Served(Estimator):
    """The service's model and lists, fitted on sessions with :meth:`fit_sessions`."""

    name: ClassVar[str] = "served"
    plan: TrainingPlan = field(default_factory=TrainingPlan)

    def fit_sessions(
        self, sessions: pd.DataFrame, user_items: sp.csr_matrix, user_ids: np.ndarray
    ) -> Served:
        """Train on ``sessions``. ``user_items`` is the evaluation's matrix of the same
        sessions, whose rows are the users ``user_ids`` (every user of the data set, a superset
        of the sessions' users)."""
        self._sessions = sessions
        try:
            self.fit(user_items)
        finally:
            del self._sessions
        run_ids = self.run_.interactions.user_ids
        rows = np.minimum(np.searchsorted(run_ids, user_ids), len(run_ids) - 1)
        known = run_ids[rows] == user_ids
        self.row_of_ = np.where(known, rows, -1)
        self.user_factors_ = np.where(known[:, None], self.run_.user_factors[rows], 0)
        self.user_factors_ = self.user_factors_.astype(np.float32)
        return self

    def _fit(self, user_items: sp.csr_matrix) -> None:
        sessions = getattr(self, "_sessions", None)
        if sessions is None:
            raise TypeError("Served is fitted on sessions: call fit_sessions()")
        run: TrainingRun = train_pipeline(sessions, self.plan)
        self.run_ = run
        self.item_factors_ = run.item_factors
        self.ranker_ = None
        if run.ranker_model is not None:
            self.ranker_ = LiveRanker(
                TreeEnsemble.from_model_string(run.ranker_model),
                run.history,
                popularity_ranks(run.interactions.user_items),
            )

    def _score(self, users: np.ndarray, items: np.ndarray | None) -> np.ndarray:
        items_factors = self.item_factors_ if items is None else self.item_factors_[items]
        return self.user_factors_[users] @ items_factors.T

    def live_scores(self, user: int, items: np.ndarray) -> np.ndarray:
        """Scores of the sorted ``items`` for evaluation row ``user``, ordered as served."""
        als = self._score(np.array([user]), items)[0]
        row = int(self.row_of_[user])
        if self.ranker_ is not None:
            return self.ranker_.scores(None if row < 0 else row, items, als)
        if row < 0:
            return als
        watch = self.run_.interactions.user_items[row, items].toarray().ravel()
        return als + bonus(watch, DEFAULT_WEIGHT)

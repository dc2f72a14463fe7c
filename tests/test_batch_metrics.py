from __future__ import annotations

import doctest

import numpy as np
import pytest
import scipy.sparse as sp

from streamrec.evaluation import batch_metrics
from streamrec.evaluation.batch_metrics import METRICS, hit_matrix, metrics_at_ks
from streamrec.evaluation.metrics import ranking_report


def test_every_metric_at_every_k_equals_the_reference_definitions() -> None:
    rng = np.random.default_rng(0)
    n_users, n_items, max_k = 300, 40, 15
    relevant = sp.random(n_users, n_items, density=0.06, format="csr", random_state=1)
    recommended = np.stack([rng.permutation(n_items)[:max_k] for _ in range(n_users)])
    recommended[rng.random(recommended.shape) < 0.05] = -1  # padding is never a hit
    ours = metrics_at_ks(hit_matrix(recommended, relevant), np.diff(relevant.indptr))
    relevant_lists = [set(relevant[u].indices.tolist()) for u in range(n_users)]
    reference = ranking_report(relevant_lists, recommended.tolist(), ks=range(1, max_k + 1))
    assert int(ours["users"]) == reference["users"] > 0
    for k in range(1, max_k + 1):
        for name in METRICS:
            assert ours[name][k - 1] == pytest.approx(reference[f"{name}@{k}"], abs=1e-12)


def test_hit_matrix_marks_relevant_items_and_ignores_padding() -> None:
    relevant = sp.csr_matrix(np.array([[0, 1, 1], [0, 0, 0]], dtype=np.float32))
    hits = hit_matrix(np.array([[2, 0, -1], [1, 2, 0]]), relevant)
    assert hits.tolist() == [[True, False, False], [False, False, False]]


def test_hit_matrix_with_no_relevant_item_at_all() -> None:
    hits = hit_matrix(np.array([[0, 1]]), sp.csr_matrix((1, 3), dtype=np.float32))
    assert not hits.any()


def test_hit_matrix_rows_must_match() -> None:
    with pytest.raises(ValueError, match="recommended has 2 rows but relevant has 1"):
        hit_matrix(np.zeros((2, 2), dtype=int), sp.csr_matrix((1, 3)))


def test_users_without_relevant_items_are_left_out() -> None:
    result = metrics_at_ks(np.array([[True], [False]]), np.array([1, 0]))
    assert result["hit_rate"].tolist() == [1.0] and int(result["users"]) == 1
    empty = metrics_at_ks(np.zeros((1, 2), dtype=bool), np.array([0]))
    assert empty["ndcg"].tolist() == [0.0, 0.0] and int(empty["users"]) == 0


def test_doctests() -> None:
    assert doctest.testmod(batch_metrics).failed == 0

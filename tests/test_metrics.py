"""streamrec.evaluation.metrics: hand-computed cases, input handling, implicit's definitions."""

from __future__ import annotations

import doctest
import inspect
import math
from collections.abc import Callable, Collection, Hashable, Iterable

import numpy as np
import pytest
import scipy.sparse as sp
from implicit.als import AlternatingLeastSquares
from implicit.evaluation import ranking_metrics_at_k
from threadpoolctl import threadpool_limits

from streamrec.evaluation import metrics
from streamrec.evaluation.metrics import (
    average_precision_at_k,
    hit_rate_at_k,
    map_at_k,
    mean_hit_rate_at_k,
    mean_mrr_at_k,
    mean_ndcg_at_k,
    mean_precision_at_k,
    mean_recall_at_k,
    mrr_at_k,
    ndcg_at_k,
    precision_at_k,
    ranking_report,
    recall_at_k,
)

UserMetric = Callable[[Iterable[Hashable], Iterable[Hashable], int], float]
MeanMetric = Callable[[Collection[Iterable[Hashable]], Collection[Iterable[Hashable]], int], float]


def discount(rank: int) -> float:
    """1 / log2(rank + 1), written out here so expected values do not reuse the module."""
    return 1.0 / math.log2(rank + 1)


PER_USER: list[UserMetric] = [
    average_precision_at_k,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
    hit_rate_at_k,
    mrr_at_k,
]
MEAN: list[MeanMetric] = [
    map_at_k,
    mean_ndcg_at_k,
    mean_precision_at_k,
    mean_recall_at_k,
    mean_hit_rate_at_k,
    mean_mrr_at_k,
]
MEAN_OF = dict(zip(MEAN, PER_USER, strict=True))


# --- shared behaviour of every per-user metric ---------------------------------------------------


@pytest.mark.parametrize("metric", PER_USER)
def test_score_perfect_ranking_is_one(metric: UserMetric) -> None:
    # Both relevant items in the top 2 and k = |relevant|: every metric is at its maximum.
    assert metric({"a", "b"}, ["a", "b"], 2) == 1.0


@pytest.mark.parametrize("metric", PER_USER)
def test_score_no_hit_is_zero(metric: UserMetric) -> None:
    assert metric({"a", "b"}, ["c", "d", "e"], 3) == 0.0


@pytest.mark.parametrize("metric", PER_USER)
def test_score_empty_relevant_is_zero(metric: UserMetric) -> None:
    assert metric(set(), ["a", "b"], 2) == 0.0
    assert metric([], [], 2) == 0.0


@pytest.mark.parametrize("metric", PER_USER)
def test_score_ignores_items_after_k(metric: UserMetric) -> None:
    # The only relevant item sits at rank 3, outside k = 2.
    assert metric({"c"}, ["a", "b", "c"], 2) == 0.0


# --- average_precision_at_k / map_at_k -----------------------------------------------------------


def test_average_precision_scores_hand_computed_case() -> None:
    # Hits at ranks 1 and 3: (1/1 + 2/3) / min(3, 2) = (5/3) / 2 = 5/6.
    assert average_precision_at_k({1, 2}, [1, 9, 2], 3) == pytest.approx(5 / 6)


def test_average_precision_relevant_larger_than_k_divides_by_k() -> None:
    # 5 relevant, k = 3, hits at ranks 1 and 3: (1/1 + 2/3) / min(3, 5) = (5/3) / 3 = 5/9.
    assert average_precision_at_k({1, 2, 3, 4, 5}, [1, 9, 2], 3) == pytest.approx(5 / 9)
    # All three positions hit: (1 + 2/2 + 3/3) / 3 = 1.0, though 2 relevant items are unseen.
    assert average_precision_at_k({1, 2, 3, 4, 5}, [1, 2, 3], 3) == 1.0


def test_average_precision_duplicate_recommendation_counts_once() -> None:
    # [1, 1, 2]: the second 1 is a non-relevant position, so hits at ranks 1 and 3:
    # (1/1 + 2/3) / 2 = 5/6 (counting the repeat would give (1 + 2/2 + 3/3) / 2 = 1.5).
    assert average_precision_at_k({1, 2}, [1, 1, 2], 3) == pytest.approx(5 / 6)


def test_map_skips_users_without_relevant_items() -> None:
    # User 1: AP = 1.0. User 2: no relevant item, skipped. User 3: hit at rank 2,
    # (1/2) / min(2, 1) = 0.5. MAP = (1.0 + 0.5) / 2 = 0.75 (0.5 if user 2 counted as 0).
    assert map_at_k([{1}, set(), {2}], [[1, 2], [1, 2], [3, 2]], 2) == pytest.approx(0.75)


# --- ndcg_at_k / mean_ndcg_at_k ------------------------------------------------------------------


def test_ndcg_scores_hand_computed_case() -> None:
    # Hits at ranks 2 and 3: DCG = 1/log2(3) + 1/log2(4) = 0.63093 + 0.5 = 1.13093.
    # Ideal for min(3, 2) = 2 items: 1/log2(2) + 1/log2(3) = 1.63093. NDCG = 0.69343.
    expected = (discount(2) + discount(3)) / (discount(1) + discount(2))
    assert ndcg_at_k({"a", "b"}, ["x", "a", "b"], 3) == pytest.approx(expected)
    assert expected == pytest.approx(0.69343, abs=1e-5)


def test_ndcg_relevant_larger_than_k_uses_k_ideal_items() -> None:
    # 5 relevant, k = 3, all 3 positions hit: the ideal also has only 3 items, so 1.0.
    assert ndcg_at_k({1, 2, 3, 4, 5}, [3, 1, 2], 3) == pytest.approx(1.0)
    # Hit at rank 3 only: (1/log2(4)) / (1 + 1/log2(3) + 1/log2(4)) = 0.5 / 2.13093 = 0.23464.
    expected = discount(3) / (discount(1) + discount(2) + discount(3))
    assert ndcg_at_k({1, 2, 3, 4, 5}, [8, 9, 5], 3) == pytest.approx(expected)
    assert expected == pytest.approx(0.23464, abs=1e-5)


def test_ndcg_duplicate_recommendation_counts_once() -> None:
    # [1, 1, 2]: DCG = 1/log2(2) + 0 + 1/log2(4) = 1.5; ideal = 1 + 1/log2(3) = 1.63093;
    # NDCG = 0.91972 (counting the repeat would give 2.13093 / 1.63093 > 1).
    expected = (discount(1) + discount(3)) / (discount(1) + discount(2))
    assert ndcg_at_k({1, 2}, [1, 1, 2], 3) == pytest.approx(expected)
    assert expected == pytest.approx(0.91972, abs=1e-5)


def test_ndcg_graded_gains_scores_hand_computed_case() -> None:
    # Gains a=3, b=2, c=1; ranking [c, a, x], k = 2 (x has no gain: not relevant).
    # DCG = 1/log2(2) + 3/log2(3) = 1 + 1.89279 = 2.89279.
    # Ideal: top min(2, 3) = 2 gains sorted descending, [3, 2]: 3/1 + 2/log2(3) = 4.26186.
    # NDCG = 2.89279 / 4.26186 = 0.67876.
    gains = {"a": 3.0, "b": 2.0, "c": 1.0, "x": 100.0}
    expected = (1 * discount(1) + 3 * discount(2)) / (3 * discount(1) + 2 * discount(2))
    assert ndcg_at_k({"a", "b", "c"}, ["c", "a", "x"], 2, gains=gains) == pytest.approx(expected)
    assert expected == pytest.approx(0.67876, abs=1e-5)


def test_ndcg_graded_gains_ideal_order_is_one() -> None:
    gains = {"a": 0.5, "b": 7.0, "c": 2.0}
    assert ndcg_at_k(gains.keys(), ["b", "c", "a"], 3, gains=gains) == pytest.approx(1.0)


def test_ndcg_equal_graded_gains_match_binary() -> None:
    gains = {"a": 4.0, "b": 4.0}
    ranking = ["x", "b", "y", "a"]
    assert ndcg_at_k({"a", "b"}, ranking, 4, gains=gains) == pytest.approx(
        ndcg_at_k({"a", "b"}, ranking, 4)
    )


def test_ndcg_all_zero_gains_is_zero() -> None:
    assert ndcg_at_k({"a"}, ["a"], 1, gains={"a": 0.0}) == 0.0


def test_ndcg_missing_gain_raises_value_error() -> None:
    with pytest.raises(ValueError, match="no entry for relevant item 'b'"):
        ndcg_at_k({"a", "b"}, ["a"], 2, gains={"a": 1.0})


@pytest.mark.parametrize("bad_gain", [-1.0, math.nan, math.inf])
def test_ndcg_invalid_gain_raises_value_error(bad_gain: float) -> None:
    with pytest.raises(ValueError, match=f"got {bad_gain!r} for item 'a'"):
        ndcg_at_k({"a"}, ["a"], 1, gains={"a": bad_gain})


def test_mean_ndcg_skips_users_without_relevant_items() -> None:
    # User 1: perfect, 1.0. User 2: skipped. User 3: hit at rank 2, 1/log2(3) = 0.63093.
    # Mean = (1 + 0.63093) / 2 = 0.81546.
    expected = (1.0 + discount(2)) / 2
    result = mean_ndcg_at_k([{"a"}, set(), {"b"}], [["a"], ["a"], ["a", "b"]], 2)
    assert result == pytest.approx(expected)
    assert expected == pytest.approx(0.81546, abs=1e-5)


def test_mean_ndcg_graded_gains_per_user() -> None:
    # User 1 graded as in the doctest: (1 + 3/log2(3)) / (3 + 1/log2(3)) = 0.79670.
    # User 2 binary (None): hit at rank 1 of 1 relevant, 1.0. User 3 skipped.
    user_1 = (1 * discount(1) + 3 * discount(2)) / (3 * discount(1) + 1 * discount(2))
    result = mean_ndcg_at_k(
        [{"a", "b"}, {"c"}, set()],
        [["a", "b"], ["c"], ["a"]],
        2,
        gains_list=[{"a": 1.0, "b": 3.0}, None, {}],
    )
    assert result == pytest.approx((user_1 + 1.0) / 2)
    assert user_1 == pytest.approx(0.79670, abs=1e-5)


def test_mean_ndcg_mismatched_gains_list_raises_value_error() -> None:
    with pytest.raises(ValueError, match=r"len\(gains_list\)=1 and len\(relevant_lists\)=2"):
        mean_ndcg_at_k([{1}, {2}], [[1], [2]], 1, gains_list=[None])


# --- precision, recall, hit rate, mrr ------------------------------------------------------------


def test_precision_scores_hand_computed_cases() -> None:
    # 1 hit in the first 4: 1/4. The denominator is k even with 1 relevant item: 1/5.
    assert precision_at_k([1, 2], [2, 5, 6, 7, 1], 4) == 0.25
    assert precision_at_k({1}, [1, 2, 3, 4, 5], 5) == 0.2
    # Fewer recommendations than k still divide by k: 1 hit / 5.
    assert precision_at_k({1}, [1], 5) == 0.2
    # 5 relevant, k = 2, both positions hit: 2/2.
    assert precision_at_k({1, 2, 3, 4, 5}, [4, 5], 2) == 1.0


def test_precision_duplicate_recommendation_counts_once() -> None:
    # [1, 1, 3]: one scoring hit in 3 positions: 1/3 (not 2/3).
    assert precision_at_k({1, 2}, [1, 1, 3], 3) == pytest.approx(1 / 3)


def test_mean_precision_skips_users_without_relevant_items() -> None:
    # User 1: 2/2 = 1.0. User 2: skipped. User 3: 0/2 = 0.0. Mean = 0.5.
    assert mean_precision_at_k([[1, 2], [], [3]], [[1, 2], [1, 2], [4, 5]], 2) == 0.5


def test_recall_scores_hand_computed_cases() -> None:
    # 1 of 4 relevant in the first 2: 1/4.
    assert recall_at_k({1, 2, 3, 4}, [9, 3, 1], 2) == 0.25
    # Relevant larger than k: both positions hit, still only 2 of 4 found: 2/4.
    assert recall_at_k({1, 2, 3, 4}, [1, 2], 2) == 0.5


def test_recall_duplicate_recommendation_counts_once() -> None:
    # [1, 1]: 1 of 2 relevant found: 1/2 (not 2/2).
    assert recall_at_k({1, 2}, [1, 1], 2) == 0.5


def test_mean_recall_skips_users_without_relevant_items() -> None:
    # User 1: 1 of 2 = 0.5. User 2: skipped. User 3: 1 of 1 = 1.0. Mean = 0.75.
    assert mean_recall_at_k([[1, 2], [], [3]], [[1, 9], [1], [3, 9]], 2) == 0.75


def test_hit_rate_scores_hand_computed_cases() -> None:
    # A hit at rank 2 counts for k = 2, not for k = 1.
    assert hit_rate_at_k({"a"}, ["b", "a"], 2) == 1.0
    assert hit_rate_at_k({"a"}, ["b", "a"], 1) == 0.0
    # Several hits still give 1.0.
    assert hit_rate_at_k({"a", "b"}, ["a", "b", "a"], 3) == 1.0


def test_mean_hit_rate_skips_users_without_relevant_items() -> None:
    # Users 1 and 4 hit, user 2 misses, user 3 skipped: 2 / 3.
    result = mean_hit_rate_at_k([{1}, {2}, set(), {3}], [[1], [9], [1], [3]], 1)
    assert result == pytest.approx(2 / 3)


def test_mrr_scores_hand_computed_cases() -> None:
    # First hit at rank 4: 1/4; later hits do not matter.
    assert mrr_at_k({7, 8}, [1, 2, 3, 7, 8], 5) == 0.25
    # Relevant larger than k, first hit at rank 2: 1/2.
    assert mrr_at_k({1, 2, 3, 4, 5}, [9, 5, 4], 3) == 0.5


def test_mrr_duplicate_recommendation_counts_once() -> None:
    # [1, 1, 2] with relevant {2}: the repeated 1 still takes rank 2, so the hit is at 3: 1/3.
    assert mrr_at_k({2}, [1, 1, 2], 3) == pytest.approx(1 / 3)


def test_mean_mrr_skips_users_without_relevant_items() -> None:
    # User 1: 1/1. User 2: skipped. User 3: 1/2. Mean = 0.75.
    assert mean_mrr_at_k([{"a"}, set(), {"b"}], [["a", "b"], ["a"], ["a", "b"]], 2) == 0.75


# --- mean forms in general -----------------------------------------------------------------------


@pytest.mark.parametrize("mean_metric", MEAN)
def test_mean_averages_per_user_over_users_with_relevant_items(mean_metric: MeanMetric) -> None:
    relevant = [{1, 2, 3}, set(), {4}, {5, 6}, set()]
    recommended = [[3, 9, 1, 2], [1, 2], [8, 4, 4, 7], [9, 8, 7, 6], [5]]
    per_user = MEAN_OF[mean_metric]
    scores = [per_user(rel, rec, 3) for rel, rec in zip(relevant, recommended, strict=True) if rel]
    assert mean_metric(relevant, recommended, 3) == pytest.approx(sum(scores) / len(scores))


@pytest.mark.parametrize("mean_metric", MEAN)
def test_mean_without_relevant_items_is_zero(mean_metric: MeanMetric) -> None:
    assert mean_metric([set(), set()], [[1], [2]], 1) == 0.0
    assert mean_metric([], [], 1) == 0.0


# --- input validation and input types ------------------------------------------------------------


@pytest.mark.parametrize("metric", PER_USER + MEAN)
@pytest.mark.parametrize(
    ("bad_k", "shown"), [(0, "k=0"), (-3, "k=-3"), (2.5, "k=2.5"), (True, "k=True"), ("3", "k='3'")]
)
def test_score_invalid_k_raises_value_error(
    metric: Callable[..., float], bad_k: object, shown: str
) -> None:
    args = ({1}, [1]) if metric in PER_USER else ([{1}], [[1]])
    with pytest.raises(ValueError, match=shown):
        metric(*args, bad_k)


def test_score_numpy_integer_k_is_accepted() -> None:
    assert precision_at_k({1}, [1, 2], np.int64(2)) == 0.5


@pytest.mark.parametrize("mean_metric", [*MEAN, ranking_report])
def test_mean_mismatched_lengths_raise_value_error(mean_metric: Callable[..., object]) -> None:
    with pytest.raises(ValueError, match=r"len\(relevant_lists\)=3 and len\(recommended_lists\)=2"):
        # ranking_report takes a tuple of cut-offs where the others take one k.
        mean_metric([{1}, {2}, {3}], [[1], [2]], (1,) if mean_metric is ranking_report else 1)


@pytest.mark.parametrize("metric", PER_USER)
def test_score_bare_string_raises_type_error(metric: UserMetric) -> None:
    # A string would otherwise be scored character by character.
    with pytest.raises(TypeError, match="not a single str"):
        metric("abc", ["abc"], 1)
    with pytest.raises(TypeError, match="not a single str"):
        metric({"abc"}, "abc", 1)


def test_score_accepts_numpy_arrays_tuples_and_generators() -> None:
    # Hits at ranks 1 and 3 in every form: AP = (1/1 + 2/3) / 2 = 5/6.
    expected = 5 / 6
    assert average_precision_at_k(np.array([10, 20]), np.array([20, 30, 10]), 3) == pytest.approx(
        expected
    )
    # numpy scalars hash and compare equal to Python ints, so mixed inputs match.
    relevant_np = np.array([10, 20], dtype=np.int32)
    assert average_precision_at_k(relevant_np, [20, 30, 10], 3) == pytest.approx(expected)
    assert average_precision_at_k((10, 20), (20, 30, 10), 3) == pytest.approx(expected)
    assert average_precision_at_k(frozenset({10, 20}), iter([20, 30, 10, 99]), 3) == pytest.approx(
        expected
    )
    assert average_precision_at_k(np.array(["a", "b"]), ["b", "c", "a"], 3) == pytest.approx(
        expected
    )
    # Repeats in relevant count once: |relevant| = 2.
    assert average_precision_at_k([10, 20, 20], [20, 30, 10], 3) == pytest.approx(expected)


def test_mean_accepts_two_dimensional_array_of_recommendations() -> None:
    # Rows are users: user 1 AP = 1.0, user 2 AP = (1/2) / 1 = 0.5; MAP = 0.75.
    recommended = np.array([[1, 2], [3, 4]])
    assert map_at_k([np.array([1]), np.array([4])], recommended, 2) == 0.75


# --- ranking_report ------------------------------------------------------------------------------


def test_ranking_report_matches_individual_functions() -> None:
    relevant = [{1, 2, 3}, set(), {4}, {5, 6}, {7}]
    recommended = [[3, 9, 1, 2, 8], [1, 2], [8, 4, 4, 7], [9, 8, 7, 6, 5], [1, 2, 3]]
    report = ranking_report(relevant, recommended, ks=(1, 3))
    names = ["map", "ndcg", "precision", "recall", "hit_rate", "mrr"]
    expected_keys = [f"{name}@{k}" for k in (1, 3) for name in names] + ["users"]
    assert list(report) == expected_keys
    assert report["users"] == 4
    for k in (1, 3):
        for name, mean_metric in zip(names, MEAN, strict=True):
            # Same users, same order of summation: equal exactly, not just approximately.
            assert report[f"{name}@{k}"] == mean_metric(relevant, recommended, k)


def test_ranking_report_scores_hand_computed_case() -> None:
    # User 1: {1}, [1, 3]: hit at rank 1. User 2: {2}, [3, 2]: hit at rank 2. User 3 skipped.
    # map@1 = (1 + 0) / 2 = 0.5; map@2 = (1 + 1/2) / 2 = 0.75; hit_rate@2 = 1.0;
    # precision@2 = (1/2 + 1/2) / 2 = 0.5; mrr@2 = (1 + 1/2) / 2 = 0.75.
    report = ranking_report([{1}, {2}, set()], [[1, 3], [3, 2], [1, 2]], ks=(1, 2))
    assert report["map@1"] == 0.5
    assert report["map@2"] == 0.75
    assert report["hit_rate@2"] == 1.0
    assert report["precision@2"] == 0.5
    assert report["mrr@2"] == 0.75
    assert report["users"] == 2


def test_ranking_report_default_ks_and_repeats() -> None:
    report = ranking_report([{1}], [[1]])
    assert [key for key in report if key.startswith("map@")] == ["map@1", "map@5", "map@10"]
    assert list(ranking_report([{1}], [[1]], ks=[5, 1, 5])) == list(
        ranking_report([{1}], [[1]], ks=[5, 1])
    )


def test_ranking_report_without_relevant_items_is_zero() -> None:
    report = ranking_report([set()], [[1]], ks=(1,))
    assert report["users"] == 0
    assert all(value == 0.0 for key, value in report.items() if key != "users")


def test_ranking_report_invalid_ks_raise_value_error() -> None:
    with pytest.raises(ValueError, match="k=0"):
        ranking_report([{1}], [[1]], ks=(1, 0))
    with pytest.raises(ValueError, match="at least one cut-off"):
        ranking_report([{1}], [[1]], ks=())


def test_docstring_examples_pass() -> None:
    # The docstrings state each formula with a worked example; keep those examples true.
    result = doctest.testmod(metrics, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 13
    assert result.failed == 0


@pytest.mark.parametrize("metric", [*PER_USER, *MEAN, ranking_report], ids=lambda m: m.__name__)
def test_help_documents_every_parameter(metric: Callable[..., object]) -> None:
    # The parameter docs the metrics share are filled in: help() lists each parameter.
    doc = inspect.getdoc(metric)
    assert doc is not None and "%(" not in doc
    section = doc.split("Parameters\n----------\n")[1].split("\n\n")[0]
    documented = [line.split(" : ")[0] for line in section.splitlines() if " : " in line]
    assert documented == list(inspect.signature(metric).parameters)


# --- cross-check against implicit's ranking_metrics_at_k -----------------------------------------

N_USERS, N_ITEMS, N_GROUPS = 200, 80, 4
K = 10


def _taste_group_split() -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Users in 4 taste groups, each mostly watching its own 20 items; per-user train/test."""
    rng = np.random.default_rng(0)
    items_per_group = N_ITEMS // N_GROUPS
    train_rows: list[int] = []
    train_cols: list[int] = []
    test_rows: list[int] = []
    test_cols: list[int] = []
    for user in range(N_USERS):
        start = (user % N_GROUPS) * items_per_group
        home = rng.choice(np.arange(start, start + items_per_group), size=10, replace=False)
        # A few items from anywhere, so recommendations are not trivially the home group.
        stray = rng.choice(N_ITEMS, size=rng.integers(0, 4), replace=False)
        items = rng.permutation(np.union1d(home, stray))
        # Every 10th user keeps everything in train: implicit must skip them like we do.
        n_test = 0 if user % 10 == 0 else rng.integers(1, 5)
        test_rows += [user] * n_test
        test_cols += items[:n_test].tolist()
        train_rows += [user] * (len(items) - n_test)
        train_cols += items[n_test:].tolist()

    def csr(rows: list[int], cols: list[int]) -> sp.csr_matrix:
        # Watch-hour-like confidences; all positive, so no explicit zeros end up stored.
        data = rng.integers(1, 6, size=len(rows)).astype(np.float32)
        return sp.csr_matrix((data, (rows, cols)), shape=(N_USERS, N_ITEMS), dtype=np.float32)

    return csr(train_rows, train_cols), csr(test_rows, test_cols)


@pytest.fixture(scope="module")
def implicit_run() -> tuple[dict[str, float], list[np.ndarray], np.ndarray, np.ndarray]:
    """implicit's metrics, the per-user test items, and the users with test items with recs."""
    train, test = _taste_group_split()
    # implicit warns about multi-threaded BLAS when the model is constructed, and warnings
    # are errors here, so construct as well as fit inside the limit.
    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(factors=8, iterations=10, random_state=0, use_gpu=False)
        model.fit(train, show_progress=False)
        reference = ranking_metrics_at_k(model, train, test, K=K, show_progress=False)
        # implicit only asks for recommendations for users with at least one test item.
        userids = np.flatnonzero(np.diff(test.indptr)).astype(np.int32)
        ids, _ = model.recommend(userids, train[userids], N=K, filter_already_liked_items=True)
    relevant = [test.indices[test.indptr[u] : test.indptr[u + 1]] for u in range(N_USERS)]
    return reference, relevant, userids, ids


def test_map_and_ndcg_match_implicit(
    implicit_run: tuple[dict[str, float], list[np.ndarray], np.ndarray, np.ndarray],
) -> None:
    reference, relevant, userids, ids = implicit_run
    relevant_lists = [relevant[u] for u in userids]
    # Guard against a vacuous 0 == 0 comparison: the groups make ALS clearly better than chance.
    assert reference["map"] > 0.1
    assert map_at_k(relevant_lists, ids, K) == pytest.approx(reference["map"], abs=1e-6)
    assert mean_ndcg_at_k(relevant_lists, ids, K) == pytest.approx(reference["ndcg"], abs=1e-6)
    report = ranking_report(relevant_lists, ids, ks=(K,))
    assert report[f"map@{K}"] == pytest.approx(reference["map"], abs=1e-6)
    assert report[f"ndcg@{K}"] == pytest.approx(reference["ndcg"], abs=1e-6)


def test_map_and_ndcg_match_implicit_with_users_without_test_items(
    implicit_run: tuple[dict[str, float], list[np.ndarray], np.ndarray, np.ndarray],
) -> None:
    # Passing every user, with empty relevant sets (and any recommendations) for those without
    # test items, gives the same values: both sides skip those users rather than scoring 0.
    reference, relevant, userids, ids = implicit_run
    assert len(userids) < N_USERS
    recs_by_user = dict(zip(userids.tolist(), ids, strict=True))
    recommended = [recs_by_user.get(u, np.arange(K)) for u in range(N_USERS)]
    assert ranking_report(relevant, recommended, ks=(K,))["users"] == len(userids)
    assert map_at_k(relevant, recommended, K) == pytest.approx(reference["map"], abs=1e-6)
    assert mean_ndcg_at_k(relevant, recommended, K) == pytest.approx(reference["ndcg"], abs=1e-6)


def test_precision_differs_from_implicit_as_documented(
    implicit_run: tuple[dict[str, float], list[np.ndarray], np.ndarray, np.ndarray],
) -> None:
    # implicit's "precision" is sum(hits) / sum(min(K, |relevant|)) over users, as noted in
    # mean_precision_at_k; ours is the mean of hits / K.
    reference, relevant, userids, ids = implicit_run
    relevant_lists = [relevant[u] for u in userids]
    hits = [
        len(set(rel.tolist()) & set(rec.tolist()))
        for rel, rec in zip(relevant_lists, ids, strict=True)
    ]
    denominators = [min(K, len(rel)) for rel in relevant_lists]
    assert reference["precision"] == pytest.approx(sum(hits) / sum(denominators), abs=1e-6)
    ours = mean_precision_at_k(relevant_lists, ids, K)
    assert ours == pytest.approx(sum(hits) / (K * len(hits)))
    assert ours != pytest.approx(reference["precision"], abs=1e-3)

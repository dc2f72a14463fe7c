"""Ranking metrics for top-k recommendations, on plain Python and numpy inputs.

Every metric scores one user's ranked ``recommended`` items against the items that user
actually went on to watch (``relevant``), looking only at the first ``k`` positions.
Libraries disagree on the details, so each function states its exact formula. Shared rules:

* Ranks are 1-based: ``recommended[0]`` has rank 1.
* A recommended item listed more than once scores at most once. Its first occurrence is
  scored; later occurrences still take up their position but count as non-relevant.
* Items can be any hashable: ints, strings, numpy scalars (these compare and hash equal to
  the matching Python values, so ``np.int32(7)`` matches ``7``). ``relevant`` can be a set,
  list, tuple or numpy array, and repeated items in it count once. ``recommended`` can be a
  list, tuple, numpy array or any other ordered iterable.
* A user with no relevant item scores 0.0 in the per-user functions. The ``mean_*`` functions,
  :func:`map_at_k` and :func:`ranking_report` leave such users out and average over the users
  with at least one relevant item (0.0 when there are none). implicit's
  ``ranking_metrics_at_k`` skips users with no test items in the same way.
* ``k`` must be an integer >= 1, otherwise ValueError. Per-user lists of different lengths
  raise ValueError.

:func:`map_at_k` and :func:`mean_ndcg_at_k` give the same values as the ``"map"`` and
``"ndcg"`` entries of ``implicit.evaluation.ranking_metrics_at_k`` for the same
recommendations. implicit's ``"precision"`` is a different quantity: see
:func:`mean_precision_at_k`.

The functions are in :mod:`~streamrec.evaluation.user_metrics` (one user) and
:mod:`~streamrec.evaluation.mean_metrics` (means over users and :func:`ranking_report`), built on
:mod:`~streamrec.evaluation.metric_inputs` (the input rules) and
:mod:`~streamrec.evaluation.scorers` (the formulas). Every public name is importable from here.
"""

from streamrec.evaluation.mean_metrics import (
    map_at_k,
    mean_hit_rate_at_k,
    mean_mrr_at_k,
    mean_ndcg_at_k,
    mean_precision_at_k,
    mean_recall_at_k,
    ranking_report,
)
from streamrec.evaluation.user_metrics import (
    average_precision_at_k,
    hit_rate_at_k,
    mrr_at_k,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
)

__all__ = [
    "average_precision_at_k",
    "hit_rate_at_k",
    "map_at_k",
    "mean_hit_rate_at_k",
    "mean_mrr_at_k",
    "mean_ndcg_at_k",
    "mean_precision_at_k",
    "mean_recall_at_k",
    "mrr_at_k",
    "ndcg_at_k",
    "precision_at_k",
    "ranking_report",
    "recall_at_k",
]

# doctest.testmod(metrics) runs the examples of the functions re-exported here.
__test__ = {name: globals()[name] for name in __all__}

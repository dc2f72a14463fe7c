"""Ranking metrics for notebooks: ``from metrics import map_at_k, ndcg_at_k``.

The definitions (and how they compare with implicit's) are in :mod:`streamrec.metrics`.
"""

from streamrec.metrics import *  # noqa: F403
from streamrec.metrics import __all__  # noqa: F401

"""Ranking metrics for notebooks, ``from metrics import map_at_k, ndcg_at_k``, and the
evaluation: ``python metrics.py --data FILE [--k 10] [--out report/]``.

The definitions (and how they compare with implicit's) are in :mod:`streamrec.evaluation.metrics`;
the evaluation (time split, protocols, baselines) in :mod:`streamrec.evaluation.evaluate`.
"""

from streamrec.evaluation.metrics import *  # noqa: F403
from streamrec.evaluation.metrics import __all__  # noqa: F401

if __name__ == "__main__":
    from streamrec.cli.evaluate import main

    raise SystemExit(main())

"""The ranking layer: turning a model's scores into lists.

Top-N selection (:mod:`~streamrec.ranking.topn`), the repeat blend
(:mod:`~streamrec.ranking.blend`), new-viewer fold-in (:mod:`~streamrec.ranking.foldin`), the
precomputed top lists (:mod:`~streamrec.ranking.precompute`) and the learned live ranker
(:mod:`~streamrec.ranking.ranker`, its features :mod:`~streamrec.ranking.features` and trees
:mod:`~streamrec.ranking.trees`). Shared by serving, evaluation and training; builds on
:mod:`streamrec.data` and :mod:`streamrec.model`.
"""

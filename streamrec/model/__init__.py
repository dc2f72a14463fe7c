"""The model layer: ALS fitting (implicit, or Spark MLlib), the popularity ranker, the artifact.

:mod:`~streamrec.model.als` fits implicit ALS and :mod:`~streamrec.model.spark` the Spark MLlib
engine; :mod:`~streamrec.model.popularity` is the cold-start ranker;
:mod:`~streamrec.model.artifact` is the one model file format, read safely
(:mod:`~streamrec.model.safenpz`) and written atomically (:mod:`~streamrec.model.atomicfile`).
Builds on :mod:`streamrec.data` only.
"""

"""User factors for a watch history the model has never seen ("fold-in").

With the item factors ``Y`` fixed, a user's factors are the closed-form least-squares solution
of implicit-feedback ALS (Hu, Koren and Volinsky, ICDM 2008, eq. 4)::

    x_u = (YᵀY + Yᵀ(Cᵘ − I)Y + λI)⁻¹ YᵀCᵘ p(u)

where ``p(u)`` is 1 on the watched streamers and ``Cᵘ`` holds their confidences. ``YᵀY + λI``
does not depend on the user, so it is computed once; a request then costs
``O(len(history) * factors²)`` plus one ``factors x factors`` solve.

The confidence follows implicit's solver, which trained the model: it takes the confidence to
be ``alpha * f(w)`` itself (no ``1 +``), where ``f`` is the training transform of watch time
(:func:`streamrec.model.als.confidence_weights`). This is what implicit's
``recommend(..., recalculate_user=True)`` computes; the tests check the two agree.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from streamrec.model.als import ALSParams, confidence_of

logger = logging.getLogger(__name__)


def params_from_metadata(metadata: dict[str, Any]) -> ALSParams:
    """The training hyperparameters recorded in an artifact's metadata.

    Raises
    ------
    ValueError
        The recorded parameters are invalid (e.g. a negative ``alpha``).
    """
    recorded = metadata.get("params") or {}
    if not isinstance(recorded, dict):
        raise ValueError(f"metadata 'params' must be an object, got {recorded!r}")
    if not recorded:
        logger.warning("the model records no training params; fold-in uses the defaults")
    known = {k: v for k, v in recorded.items() if k in ALSParams.__dataclass_fields__}
    try:
        return ALSParams(**known)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"metadata 'params' are invalid: {exc}") from exc


class FoldIn:
    """Solve for the factors of a new user from their watch history.

    Parameters
    ----------
    item_factors : numpy.ndarray
        ``(n_items, factors)`` float32 item factors of the trained model.
    params : ALSParams
        The training hyperparameters (``regularization``, ``alpha``, ``confidence``, ``eps``).

    Examples
    --------
    >>> y = np.eye(3, dtype=np.float32)
    >>> fold = FoldIn(y, ALSParams(factors=3, regularization=0.1, alpha=2.0, confidence="linear"))
    >>> fold.user_factors(np.array([1]), np.array([1.0])).round(3)
    array([0.   , 0.952, 0.   ], dtype=float32)
    """

    def __init__(self, item_factors: np.ndarray, params: ALSParams) -> None:
        self._items = item_factors
        self._params = params
        y = item_factors.astype(np.float64)
        self._gram = y.T @ y + params.regularization * np.eye(y.shape[1])

    def refine(
        self, items: np.ndarray, watch_time: np.ndarray, start: np.ndarray, steps: int = 3
    ) -> np.ndarray:
        """:meth:`user_factors` approached from ``start`` by ``steps`` conjugate-gradient steps.

        The same system, solved as implicit's training solves it (a few CG steps from the
        current factors, ``use_cg``): each step costs ``O(len(items) * factors + factors²)``
        instead of the exact solve's ``O(len(items) * factors² + factors³)``. From factors
        near the solution (the viewer's before a few more events) three steps cut the distance to
        it to a few percent (tested); from anywhere, each step brings it closer.
        """
        y, c = self._system(items, watch_time)
        x = start.astype(np.float64)
        # A x = gram x + yᵀ((c - 1) * (y x));  b = yᵀ c
        r = y.T @ c - (self._gram @ x + y.T @ ((c - 1.0) * (y @ x)))
        p, rs = r.copy(), float(r @ r)
        for _ in range(steps):
            if rs < 1e-20:
                break
            ap = self._gram @ p + y.T @ ((c - 1.0) * (y @ p))
            alpha = rs / float(p @ ap)
            x += alpha * p
            r -= alpha * ap
            rs, previous = float(r @ r), rs
            p = r + (rs / previous) * p
        return x.astype(np.float32)

    def _system(self, items: np.ndarray, watch_time: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The watched items' factors and confidences (float64), repeated items summed."""
        if len(items) != len(watch_time):
            raise ValueError(f"{len(items)} items but {len(watch_time)} watch times")
        # Summed per item, as a sparse row would sum repeated items (in float32, as training).
        items, position = np.unique(np.asarray(items, dtype=np.int64), return_inverse=True)
        watch = np.bincount(position, weights=np.asarray(watch_time, dtype=np.float32))
        confidence = self._params.alpha * confidence_of(watch.astype(np.float32), self._params)
        return self._items[items].astype(np.float64), confidence.astype(np.float64)

    def user_factors(self, items: np.ndarray, watch_time: np.ndarray) -> np.ndarray:
        """Factors (float32) of a user who watched ``items`` for ``watch_time`` steps each.

        Parameters
        ----------
        items : numpy.ndarray
            Distinct item indices.
        watch_time : numpy.ndarray
            Positive watch time per item, in the training data's unit (10-minute steps).
        """
        y, c = self._system(items, watch_time)
        a = self._gram + (y.T * (c - 1.0)) @ y
        b = y.T @ c
        try:
            x = np.linalg.solve(a, b)
        except np.linalg.LinAlgError:
            # Only reachable with regularization 0 and a degenerate history.
            x = np.linalg.lstsq(a, b, rcond=None)[0]
        return x.astype(np.float32)

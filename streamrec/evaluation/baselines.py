"""The models the evaluation compares, behind one estimator contract.

Every model follows scikit-learn's contract: ``__init__`` only stores hyperparameters,
``fit(user_items)`` returns ``self``, learned state ends in ``_``, and using a model before
``fit`` raises :class:`~streamrec.model.popularity.NotFittedError`. Users and items are row and
column indices of the users x streamers watch-time matrix given to ``fit``.

* :class:`Popularity`: the cold-start ranker, the same list for everyone.
* :class:`Repeat`: the user's own streamers by watch time, then popularity.
* :class:`GradientMF`: the first version's model, ``A ~ U V^T`` by gradient steps on the MSE.
* :class:`ALS`: implicit ALS exactly as ``als_fit.py`` trains it.
* :class:`BPR`: implicit's Bayesian personalised ranking.
* :class:`Blend`: ALS plus a watch-time bonus on the user's own streamers (:mod:`blend`).
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Self

import numpy as np
import scipy.sparse as sp

from streamrec.model.als import (
    ALSParams,
    TrainingError,
    check_hyperparameters,
    fit_als,
    fit_implicit,
)
from streamrec.model.popularity import NotFittedError, PopularityRanker
from streamrec.ranking.blend import DEFAULT_WEIGHT, blend_scores
from streamrec.ranking.topn import PAD, mask_stored, select_padded

logger = logging.getLogger(__name__)


class Estimator(ABC):
    """Fit on a users x items matrix, then score or rank items for users.

    Subclasses implement ``_fit`` and ``_score``; this class validates inputs, times the fit
    (``fit_seconds_``), keeps the fitted matrix (``user_items_``, used by
    ``exclude_watched``) and turns scores into ranked lists.
    """

    name: ClassVar[str]

    def fit(self, user_items: sp.csr_matrix) -> Self:
        """Learn from ``user_items`` (users x items, watch steps; zero = not watched)."""
        if not sp.issparse(user_items) or user_items.ndim != 2:
            raise ValueError(f"user_items must be a 2-D sparse matrix, got {type(user_items)}")
        if not (isinstance(user_items, sp.csr_matrix) and user_items.dtype == np.float32):
            user_items = sp.csr_matrix(user_items, dtype=np.float32)
        if min(user_items.shape) == 0 or user_items.nnz == 0:
            raise ValueError(
                f"user_items must have users, items and interactions, got shape "
                f"{user_items.shape} with {user_items.nnz} non-zeros"
            )
        if (user_items.data < 0).any() or not np.isfinite(user_items.data).all():
            raise ValueError("user_items must hold finite watch times >= 0")
        started = time.perf_counter()
        self._fit(user_items)
        self.user_items_ = user_items
        self.fit_seconds_ = time.perf_counter() - started
        logger.info("fitted %s in %.1fs", self.name, self.fit_seconds_)
        return self

    def score(self, users: np.ndarray, items: np.ndarray | None = None) -> np.ndarray:
        """Scores of ``items`` (all when None) for ``users``; higher is better.

        Parameters
        ----------
        users : array-like of int
            Row indices of the fitted matrix.
        items : array-like of int, optional
            Sorted, unique column indices: the candidates. All items when None.

        Returns
        -------
        numpy.ndarray
            Float ``(len(users), len(items))``, a new writable array.
        """
        user_items = self._fitted_matrix()
        users = _check_indices(users, user_items.shape[0], "users")
        if items is not None:
            items = _check_indices(items, user_items.shape[1], "items")
            if len(items) > 1 and not (np.diff(items) > 0).all():
                raise ValueError("items must be sorted and unique")
        return self._score(users, items)

    def recommend(
        self,
        users: np.ndarray,
        N: int = 10,
        *,
        exclude_watched: bool = True,
        items: np.ndarray | None = None,
    ) -> np.ndarray:
        """Top ``N`` item indices per user, best first.

        Parameters
        ----------
        users : array-like of int
            Row indices of the fitted matrix.
        N : int
            List length; a row is padded with ``-1`` when fewer items remain.
        exclude_watched : bool
            Leave out the items each user has in the fitted matrix.
        items : array-like of int, optional
            Sorted, unique candidate items (e.g. the streamers live now); all when None.

        Returns
        -------
        numpy.ndarray
            ``(len(users), N)`` int32 item indices.
        """
        scores = self.score(users, items)
        columns = None if items is None else np.asarray(items, dtype=np.int64)
        if exclude_watched:
            mask_stored(scores, self.user_items_[np.asarray(users)], columns)
        top = select_padded(scores, N)
        if columns is not None:
            top = np.where(top == PAD, PAD, columns[top]).astype(np.int32)
        return top

    def get_params(self) -> dict[str, Any]:
        """The hyperparameters given to ``__init__``."""
        return {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]

    def _fitted_matrix(self) -> sp.csr_matrix:
        user_items = getattr(self, "user_items_", None)
        if user_items is None:
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit(user_items) first")
        return user_items

    @abstractmethod
    def _fit(self, user_items: sp.csr_matrix) -> None: ...

    @abstractmethod
    def _score(self, users: np.ndarray, items: np.ndarray | None) -> np.ndarray: ...


def _check_indices(values: Any, size: int, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1 or (array.size and not np.issubdtype(array.dtype, np.integer)):
        raise ValueError(f"{name} must be a 1-D array of integer indices, got {array!r:.80}")
    array = array.astype(np.int64)
    if array.size and (array.min() < 0 or array.max() >= size):
        raise ValueError(
            f"{name} must be indices in [0, {size}), got values from {array.min()} to {array.max()}"
        )
    return array


def _columns(matrix: np.ndarray, items: np.ndarray | None) -> np.ndarray:
    return matrix if items is None else matrix[items]


@dataclass(eq=False)
class Popularity(Estimator):
    """Everyone gets the cold-start ranking: distinct viewers, then watch time.

    ``score(u, i) = n_items - rank(i)``, rank 0 being the most popular (float32: exact up to
    16.7M items).
    """

    name: ClassVar[str] = "popularity"

    def _fit(self, user_items: sp.csr_matrix) -> None:
        self.ranker_ = PopularityRanker().fit(user_items)
        n_items = user_items.shape[1]
        self.item_scores_ = np.empty(n_items, dtype=np.float32)
        self.item_scores_[self.ranker_.order_] = np.arange(n_items, 0, -1)

    def _score(self, users: np.ndarray, items: np.ndarray | None) -> np.ndarray:
        return np.tile(_columns(self.item_scores_, items), (len(users), 1))


@dataclass(eq=False)
class Repeat(Estimator):
    """The user's own streamers by watch time, most watched first; popularity after.

    ``score(u, i) = w_ui + (n_items - 1 - rank(i)) / n_items``, with ``w_ui`` the watch steps
    (0 if never watched) and ``rank`` the popularity rank (0 = most popular). Watch time is in
    whole steps and the popularity term is below 1, so watch time decides and popularity only
    breaks ties (exactly among unwatched streamers; to float32 precision among watched ones).
    """

    name: ClassVar[str] = "repeat"

    def _fit(self, user_items: sp.csr_matrix) -> None:
        n_items = user_items.shape[1]
        order = PopularityRanker().fit(user_items).order_
        self.item_scores_ = np.empty(n_items, dtype=np.float32)
        self.item_scores_[order] = np.arange(n_items - 1, -1, -1) / n_items

    def _score(self, users: np.ndarray, items: np.ndarray | None) -> np.ndarray:
        watch = self.user_items_[users]
        if items is not None:
            watch = watch[:, items]
        scores = watch.toarray()
        scores += _columns(self.item_scores_, items)
        return scores


class _FactorModel(Estimator):
    """``score(u, i) = user_factors_[u] . item_factors_[i]``."""

    def _score(self, users: np.ndarray, items: np.ndarray | None) -> np.ndarray:
        return self.user_factors_[users] @ _columns(self.item_factors_, items).T


@dataclass(eq=False)
class GradientMF(_FactorModel):
    """The first version's matrix factorisation: ``A ~ U V^T`` fitted by gradient steps.

    Minimises the mean squared error over every cell of the users x streamers matrix ``A``
    (unwatched cells are 0), plus L2 regularisation::

        L(U, V) = 1/2 ||A - U V^T||_F^2 + reg/2 (||U||_F^2 + ||V||_F^2)

    with ``A = log(1 + watch steps)`` (``target="log"``) or the watch steps themselves
    (``"linear"``). Each epoch takes one gradient step on ``U``, then one on ``V``:
    ``grad_U = U (V^T V) - A V + reg U``, computed without forming the dense ``A`` or
    ``U V^T``, and the step is ``1 / L`` with ``L = ||V^T V||_2 + reg`` the Lipschitz
    constant of ``grad_U``, so every step lowers the loss without a learning rate to tune.
    """

    name: ClassVar[str] = "mf-gd"
    factors: int = 64
    epochs: int = 40
    regularization: float = 0.1
    target: str = "log"
    seed: int = 0

    def __post_init__(self) -> None:
        check_hyperparameters(
            self,
            counts=("factors", "epochs"),
            non_negative=("regularization",),
            choices={"target": ("log", "linear")},
        )

    def _fit(self, user_items: sp.csr_matrix) -> None:
        a = user_items.copy()
        if self.target == "log":
            a.data = np.log1p(a.data)
        a_t = a.T.tocsr()
        rng = np.random.default_rng(self.seed)
        n_users, n_items = a.shape
        scale = 0.1 / np.sqrt(self.factors)
        u = (rng.standard_normal((n_users, self.factors)) * scale).astype(np.float32)
        v = (rng.standard_normal((n_items, self.factors)) * scale).astype(np.float32)
        reg = np.float32(self.regularization)
        for _ in range(self.epochs):
            u = _gradient_step(u, v, a, reg)
            v = _gradient_step(v, u, a_t, reg)
        if not (np.isfinite(u).all() and np.isfinite(v).all()):
            raise TrainingError("gradient MF produced non-finite factors")
        self.user_factors_, self.item_factors_ = u, v


def _gradient_step(x: np.ndarray, y: np.ndarray, a: sp.csr_matrix, reg: np.float32) -> np.ndarray:
    """One ``1/L`` step on ``x`` of ``1/2 ||a - x y^T||^2 + reg/2 ||x||^2``, ``y`` fixed."""
    gram = y.T @ y
    lipschitz = np.float32(np.linalg.eigvalsh(gram.astype(np.float64))[-1]) + reg
    grad = x @ gram - a @ y + reg * x
    return x - grad / lipschitz


@dataclass(eq=False)
class ALS(_FactorModel):
    """Implicit ALS as ``als_fit.py`` trains it (:func:`streamrec.model.als.fit_als`)."""

    name: ClassVar[str] = "als"
    params: ALSParams = field(default_factory=ALSParams)

    def _fit(self, user_items: sp.csr_matrix) -> None:
        self.user_factors_, self.item_factors_ = fit_als(user_items, self.params)


@dataclass(eq=False)
class BPR(_FactorModel):
    """implicit's Bayesian personalised ranking (Rendle et al., UAI 2009) on watched/not.

    The item factors carry a bias column (implicit adds it), so the dot product includes it.
    implicit runs its SGD on ``num_threads`` threads (0 = all cores) without locks, so only
    ``num_threads=1`` gives the same factors on every run.
    """

    name: ClassVar[str] = "bpr"
    factors: int = 64
    learning_rate: float = 0.01
    regularization: float = 0.01
    iterations: int = 100
    seed: int = 0
    num_threads: int = 0

    def _fit(self, user_items: sp.csr_matrix) -> None:
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        self.user_factors_, self.item_factors_ = fit_implicit(
            lambda: BayesianPersonalizedRanking(
                factors=self.factors,
                learning_rate=self.learning_rate,
                regularization=self.regularization,
                iterations=self.iterations,
                random_state=self.seed,
                num_threads=self.num_threads,
            ),
            user_items,
        )


@dataclass(eq=False)
class Blend(Estimator):
    """ALS scores plus ``weight * log(1 + w_ui)`` (:func:`streamrec.ranking.blend.blend_scores`).

    ``als`` is fitted by ``fit``, unless it is already fitted on the very same matrix object
    (then it is shared, and ``fit_seconds_`` reports the ALS fit).
    """

    name: ClassVar[str] = "als+repeat"
    als: ALS = field(default_factory=ALS)
    weight: float = DEFAULT_WEIGHT

    def _fit(self, user_items: sp.csr_matrix) -> None:
        if getattr(self.als, "user_items_", None) is not user_items:
            self.als.fit(user_items)

    def fit(self, user_items: sp.csr_matrix) -> Self:
        """Fit (or reuse) the wrapped ALS on ``user_items``; see the class docstring."""
        super().fit(user_items)
        self.fit_seconds_ = max(self.fit_seconds_, self.als.fit_seconds_)
        return self

    def _score(self, users: np.ndarray, items: np.ndarray | None) -> np.ndarray:
        watch = self.user_items_[users]
        if items is not None:
            watch = watch[:, items]
        return blend_scores(self.als._score(users, items), watch, self.weight)

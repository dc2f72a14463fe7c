"""Evaluate a LightGBM model in NumPy, for the few hundred rows of one request.

LightGBM's own ``Booster.predict`` costs milliseconds of CPU per call whatever the number of
rows (its OpenMP set-up), measured at 0.5-8 ms for 20 rows on these two cores, more than a
whole recommendation request may take. The trees are small, so this module flattens them into
arrays once, at load, and walks all trees for all rows level by level with vectorised gathers:
about 0.1 ms for 100 rows of 200 trees. The model stays LightGBM's text format (the artifact
stores that, and LightGBM parses it here); the result equals ``Booster.predict`` (tested).

Only numerical splits are supported (the ranker's features are all numerical); LightGBM's
three missing-value modes are honoured: ``None`` (NaN compares as 0), ``Zero`` (0 and NaN go
the default way) and ``NaN`` (NaN goes the default way).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

_MISSING = {"None": 0, "Zero": 1, "NaN": 2}
_ZERO = 1e-35  # LightGBM's kZeroThreshold


class ModelFormatError(ValueError):
    """A LightGBM model text that cannot be evaluated here."""


@dataclass(frozen=True)
class TreeEnsemble:
    """A LightGBM model's trees as flat arrays; ``predict`` sums the leaves' values.

    Nodes of all trees share one numbering. A leaf is a node whose two children are itself
    (and whose threshold is +inf), so every row can take ``depth`` steps down every tree with
    no test for having arrived: a step from a leaf stays there.
    """

    n_features: int
    depth: int
    roots: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    default_left: np.ndarray
    missing: np.ndarray
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray

    @classmethod
    def from_model_string(cls, text: str) -> TreeEnsemble:
        """Parse LightGBM's text model format (``Booster.model_to_string()``).

        Raises
        ------
        ModelFormatError
            The text is not a LightGBM model, or it uses categorical splits.
        """
        import lightgbm

        try:
            dump = lightgbm.Booster(model_str=text).dump_model()
        except (lightgbm.basic.LightGBMError, ValueError, TypeError) as exc:
            raise ModelFormatError(f"not a LightGBM model: {exc}") from exc
        return cls.from_dump(dump)

    @classmethod
    def from_dump(cls, dump: dict[str, Any]) -> TreeEnsemble:
        """From ``Booster.dump_model()``'s dictionary."""
        columns = ("feature", "threshold", "default_left", "missing", "left", "right", "value")
        nodes: dict[str, list[Any]] = {name: [] for name in columns}
        depth = 0

        def add(feature: int, threshold: float, default_left: bool, missing: int) -> int:
            index = len(nodes["feature"])
            for name, value in zip(
                columns, (feature, threshold, default_left, missing, index, index, 0.0), strict=True
            ):
                nodes[name].append(value)
            return index

        def walk(node: dict[str, Any], level: int) -> int:
            nonlocal depth
            if "leaf_value" in node:
                depth = max(depth, level)
                index = add(0, np.inf, True, 0)
                nodes["value"][index] = float(node["leaf_value"])
                return index
            if node.get("decision_type", "<=") != "<=":
                raise ModelFormatError(
                    f"split of type {node.get('decision_type')!r} is not supported"
                )
            index = add(
                int(node["split_feature"]),
                float(node["threshold"]),
                bool(node.get("default_left", True)),
                _MISSING.get(str(node.get("missing_type", "None")), 0),
            )
            nodes["left"][index] = walk(node["left_child"], level + 1)
            nodes["right"][index] = walk(node["right_child"], level + 1)
            return index

        try:
            roots = [walk(tree["tree_structure"], 0) for tree in dump["tree_info"]]
            n_features = int(dump["max_feature_idx"]) + 1
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFormatError(f"unexpected LightGBM model layout: {exc!r}") from exc
        return cls(
            n_features=n_features,
            depth=depth,
            roots=np.asarray(roots, dtype=np.intp),
            feature=np.asarray(nodes["feature"], dtype=np.intp),
            threshold=np.asarray(nodes["threshold"], dtype=np.float64),
            default_left=np.asarray(nodes["default_left"], dtype=bool),
            missing=np.asarray(nodes["missing"], dtype=np.int8),
            left=np.asarray(nodes["left"], dtype=np.intp),
            right=np.asarray(nodes["right"], dtype=np.intp),
            value=np.asarray(nodes["value"], dtype=np.float64),
        )

    @property
    def n_trees(self) -> int:
        return len(self.roots)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Raw scores (the sum over trees) of the rows of ``x``, float64."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(f"x must have shape (rows, {self.n_features}), got {x.shape}")
        if len(x) == 0 or self.n_trees == 0:
            return np.zeros(len(x))
        nan = np.isnan(x)
        exact = not nan.any() or not (self.missing > 0).any()
        # Missing mode "None": NaN compares as 0, which replacing it up front does exactly.
        flat = np.where(nan, 0.0, x).ravel() if nan.any() else x.ravel()
        offset = (np.arange(len(x), dtype=np.intp) * self.n_features)[:, None]
        node = np.broadcast_to(self.roots, (len(x), self.n_trees))
        for _ in range(self.depth):
            at = offset + self.feature[node]
            go_right = flat[at] > self.threshold[node]
            if not exact:
                missing = self.missing[node]
                value = x.ravel()[at]
                default = (np.isnan(value) & (missing > 0)) | (
                    (missing == 1) & (np.abs(np.nan_to_num(value)) <= _ZERO)
                )
                go_right = np.where(default, ~self.default_left[node], go_right)
            node = self.children[2 * node + go_right]
        return self.value[node].sum(axis=1)

    @functools.cached_property
    def children(self) -> np.ndarray:
        """``children[2 n]`` and ``children[2 n + 1]``: node ``n``'s left and right child."""
        return np.stack((self.left, self.right), axis=1).ravel()

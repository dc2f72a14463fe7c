"""Streamers whose audiences are alike: the cosine of item factors.

Built once per model with the item norms, not a normalised copy of the factors, which would
hold another catalogue-sized matrix in memory for one rarely called route
(``GET /streamers/<name>/similar``). Pure numpy; no HTTP.
"""

from __future__ import annotations

import numpy as np

from streamrec.ranking import topn


class UnknownStreamerError(LookupError):
    """A streamer name the loaded model does not know."""

    def __init__(self, name: str) -> None:
        super().__init__(f"streamer {name!r} is not in the model")
        self.name = name


class SimilarStreamers:
    """The streamers nearest a streamer, by the cosine of their item factors.

    Parameters
    ----------
    names : numpy.ndarray
        The model's streamer names, by item index.
    index : dict of str to int
        Name -> item index.
    item_factors : numpy.ndarray
        ``(n_items, factors)`` float32.
    """

    def __init__(self, names: np.ndarray, index: dict[str, int], item_factors: np.ndarray) -> None:
        self._names = names
        self._index = index
        self._item_factors = item_factors
        norms = np.linalg.norm(item_factors, axis=1)
        self._item_norms = np.where(norms > 0, norms, 1).astype(np.float32)

    def similar(self, name: str, k: int) -> list[str]:
        """The ``k`` streamers most like ``name`` (never ``name`` itself), most alike first.

        Raises
        ------
        UnknownStreamerError
            ``name`` is not in the model.
        """
        item = self._index.get(name)
        if item is None:
            raise UnknownStreamerError(name)
        scores = self._item_factors @ self._item_factors[item]
        scores /= self._item_norms * self._item_norms[item]
        scores[item] = -np.inf
        return self._names[topn.top_k(scores, k)].tolist()

"""The loaded model: its users' rows, and the options it is built with."""

from __future__ import annotations

import threading

import pytest

from streamrec.serving.recommender import Recommender


def test_user_index_known_and_unknown(recommender: Recommender) -> None:
    assert recommender.user_index(1000) == 0
    assert recommender.user_index(1039) == 39
    assert recommender.user_index(999) is None and recommender.user_index(10**18) is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"threads": 0}, "threads must be >= 1, got 0"),
        ({"precompute_gate": threading.Event()}, "precompute_gate needs precompute_now=False"),
    ],
)
def test_invalid_precompute_options_raise_naming_them(
    checkerboard_artifact, kwargs: dict, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Recommender(checkerboard_artifact, **kwargs)

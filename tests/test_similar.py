"""Similar streamers: the cosine of item factors, never the streamer itself."""

from __future__ import annotations

import pytest

from streamrec.serving.recommender import Recommender
from streamrec.serving.similar import UnknownStreamerError


def test_similar_streamers_share_the_audience_and_exclude_themselves(
    recommender: Recommender,
) -> None:
    similar = recommender.similar("s04", k=5)
    assert "s04" not in similar and len(similar) == 5
    assert all(int(name[1:]) % 2 == 0 for name in similar)


def test_similar_unknown_streamer_raises(recommender: Recommender) -> None:
    with pytest.raises(UnknownStreamerError, match="streamer 'nobody' is not in the model"):
        recommender.similar("nobody", k=3)

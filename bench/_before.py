"""The "before" app of ``bench/serve.py``: the seed's design, which re-read the sessions CSV
and the model file on every request and then scored the whole catalogue.

    python -m bench._before --port 8002 --data sessions.csv --model model.npz
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from fastapi import FastAPI
from fastapi import Path as PathParam

from bench import _app
from streamrec import data
from streamrec.model import artifact
from streamrec.model.popularity import PopularityRanker


def create_before_app(data_path: Path, model_path: Path) -> FastAPI:
    """An app that loads everything per request, as the seed did."""
    app = FastAPI(title="before")

    @app.get(_app.USER_ROUTE)
    def get_user(user_id: Annotated[int, PathParam(ge=0)], k: int = 10) -> dict[str, Any]:
        sessions, _ = data.read_sessions(data_path)
        interactions = data.build_interactions(sessions)
        model = artifact.load(model_path)
        rows = np.flatnonzero(interactions.user_ids == user_id)
        if len(rows) == 0:
            top = PopularityRanker().fit(interactions.user_items).top(k)
            return {"user_id": user_id, "personal": model.streamer_names[top].tolist()}
        scores = model.item_factors @ model.user_factors[rows[0]]
        scores[interactions.user_items[rows[0]].indices] = -np.inf
        top = np.argsort(-scores)[:k]
        return {"user_id": user_id, "personal": model.streamer_names[top].tolist()}

    return app


def main(argv: Sequence[str] | None = None) -> int:
    parser = _app.parser("python -m bench._before", __doc__)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--model", type=Path, required=True)
    args = parser.parse_args(argv)
    _app.serve(create_before_app(args.data, args.model), args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

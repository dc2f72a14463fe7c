"""The "floor" app of ``bench/serve.py``: FastAPI returning a constant response.

It declares the server's two benchmarked routes with the same parameters and request body
model, and answers each with a fixed JSON body of the same shape and size as the server's, so
the difference to the real server is the cost of recommending. Run it like the server::

    python -m bench._floor --port 8001 --get-body get.json --post-body post.json
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, Query, Response
from fastapi import Path as PathParam

from bench import _app
from streamrec.serving.recommender import MAX_K
from streamrec.serving.schemas import MAX_REPEAT_WEIGHT, MAX_USER_ID, UserRequest


def create_floor_app(get_body: bytes, post_body: bytes) -> FastAPI:
    """An app with the server's benchmarked routes that return ``get_body``/``post_body``."""
    app = FastAPI(title="floor")

    @app.get(_app.USER_ROUTE)
    async def get_user(
        user_id: Annotated[int, PathParam(ge=0, le=MAX_USER_ID)],
        k: Annotated[int | None, Query(ge=1, le=MAX_K)] = None,
        exclude_watched: bool = True,
        repeat_weight: Annotated[
            float | None, Query(ge=0, le=MAX_REPEAT_WEIGHT, allow_inf_nan=False)
        ] = None,
    ) -> Response:
        return Response(get_body, media_type="application/json")

    @app.post(_app.USER_ROUTE)
    async def post_user(
        user_id: Annotated[int, PathParam(ge=0, le=MAX_USER_ID)], body: UserRequest
    ) -> Response:
        return Response(post_body, media_type="application/json")

    return app


def main(argv: Sequence[str] | None = None) -> int:
    parser = _app.parser("python -m bench._floor", __doc__)
    parser.add_argument("--get-body", type=Path, required=True)
    parser.add_argument("--post-body", type=Path, required=True)
    args = parser.parse_args(argv)
    _app.serve(create_floor_app(args.get_body.read_bytes(), args.post_body.read_bytes()), args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

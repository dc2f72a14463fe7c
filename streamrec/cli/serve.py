"""`python platform.py`: load the model once and serve the API with uvicorn."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

import uvicorn

from streamrec.cli import fail, load_settings
from streamrec.serving.api import create_app
from streamrec.serving.reload import load_recommender
from streamrec.serving.server import uvicorn_config


def main(argv: Sequence[str] | None = None) -> int:
    settings = load_settings()
    parser = argparse.ArgumentParser(
        prog="platform.py",
        description="Serve streamer recommendations over HTTP.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--host", default=settings.host)
    parser.add_argument("--port", type=int, default=settings.port)
    parser.add_argument("--model", type=Path, default=settings.model_path, help="artifact path")
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        return fail(f"--port must be between 0 and 65535, got {args.port}")
    settings = settings.model_copy(
        update={"host": args.host, "port": args.port, "model_path": args.model}
    )

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # Load before binding the port, so a bad model stops the server at once with one line.
    try:
        recommender = load_recommender(settings.model_path, settings)
    except ValueError as exc:  # artifact.ArtifactError is a ValueError
        return fail(str(exc))
    app = create_app(settings, recommender)
    uvicorn.Server(uvicorn_config(app, settings, log_level="info")).run()
    return 0

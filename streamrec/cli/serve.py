"""`python platform.py`: load the model once and serve the API with uvicorn."""

from __future__ import annotations

import argparse
import logging
import os
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
    if settings.live_token.get_secret_value():  # POST /events is on: it needs its log
        problem = _unusable_folder(settings.event_log_dir)
        if problem:
            return fail(f"cannot use the event log folder {settings.event_log_dir}: {problem}")
    app = create_app(settings, recommender)
    uvicorn.Server(uvicorn_config(app, settings, log_level="info")).run()
    return 0


def _unusable_folder(folder: Path) -> str | None:
    """Why ``folder`` cannot hold the event log, or None when it can."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return exc.strerror or str(exc)
    if not os.access(folder, os.W_OK | os.X_OK):
        return "not writable"
    return None

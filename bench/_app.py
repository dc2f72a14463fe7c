"""What the stand-in apps of ``bench/serve.py`` (``_before``, ``_floor``) share.

Their command line (``--host``, and the ``--port`` that ``bench/serve.py`` appends) and the
uvicorn settings of ``python platform.py``, so an app differs from the real server only in
how it answers.
"""

from __future__ import annotations

import argparse

import uvicorn
from fastapi import FastAPI

from streamrec.serving.server import uvicorn_config
from streamrec.settings import Settings

# The benchmarked route, spelled as the API spells it.
USER_ROUTE = "/recomendations/user/{user_id}"


def parser(prog: str, description: str | None) -> argparse.ArgumentParser:
    """An argument parser with ``--host`` and a required ``--port``; add the app's own."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    return parser


def serve(app: FastAPI, args: argparse.Namespace) -> None:
    """Run ``app`` on ``args.host``:``args.port`` with the same uvicorn settings as the server."""
    settings = Settings(host=args.host, port=args.port, access_log=False)
    uvicorn.Server(uvicorn_config(app, settings, log_level="info")).run()

"""`streamrec COMMAND ...`: one command for the project's command-line entry points.

Each subcommand hands the rest of the command line to the ``main`` of the module behind it,
the same that the repository's root scripts run, so options and messages are the same:

    streamrec serve     = python platform.py
    streamrec train     = python als_fit.py
    streamrec evaluate  = python metrics.py
    streamrec popular   = python cold_start.py
    streamrec synth     = python -m streamrec.data.synth

Also ``python -m streamrec``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

COMMANDS = {
    "serve": ("streamrec.cli.serve", "serve recommendations over HTTP (python platform.py)"),
    "train": ("streamrec.cli.train", "fit ALS and write the model artifact (python als_fit.py)"),
    "evaluate": (
        "streamrec.cli.evaluate",
        "evaluate the models on a time split and write a report (python metrics.py)",
    ),
    "popular": ("streamrec.cli.popular", "print the most popular streamers (python cold_start.py)"),
    "synth": ("streamrec.data.synth", "write a Twitch-like sample of watch sessions"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="streamrec",
        description="Streamer recommendations for live-streaming platforms.",
        epilog="Run 'streamrec COMMAND --help' for a command's options.",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for name, (_, summary) in COMMANDS.items():
        commands.add_parser(name, help=summary, add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the subcommand named first in ``argv`` (``sys.argv[1:]`` if None); its exit code.

    Examples
    --------
    >>> main(["popular", "--data", "data/sessions.csv", "--k", "3"])  # doctest: +SKIP
    0
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in COMMANDS:
        module = importlib.import_module(COMMANDS[args[0]][0])
        return int(module.main(args[1:]) or 0)
    try:
        build_parser().parse_args(args)  # prints the help, or says what is wrong
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    return 2  # not reached: with a known command the branch above ran

"""Command line: ``python -m streamrec.data.synth --preset small --out data/sessions.csv``."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import fields, replace
from pathlib import Path
from typing import NoReturn

from streamrec.data.synth.config import PRESETS, SynthConfig
from streamrec.data.synth.writer import write_sessions


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (no usage block), exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m streamrec.data.synth",
        description="Write synthetic Twitch-like watch sessions in the Twitch dataset's CSV "
        "format (no header: user_id,stream_id,streamer_name,time_start,time_stop).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--preset", choices=sorted(PRESETS), default="small", help="base config")
    parser.add_argument(
        "--out", required=True, type=Path, default=argparse.SUPPRESS, help="CSV file to write"
    )
    # SUPPRESS: a flag that is not given leaves the preset's value alone.
    overrides = {
        "users": (_positive_int, "users"),
        "streamers": (_positive_int, "streamers in the catalogue"),
        "rows": (_positive_int, "target number of rows (approximate)"),
        "steps": (_positive_int, "10-minute steps in the period"),
        "communities": (_positive_int, "communities of taste"),
        "seed": (_non_negative_int, "random seed"),
    }
    for name, (kind, text) in overrides.items():
        values = ", ".join(f"{p} {getattr(c, name)}" for p, c in PRESETS.items())
        parser.add_argument(
            f"--{name}",
            type=kind,
            default=argparse.SUPPRESS,
            help=f"{text}; overrides the preset's ({values})",
        )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: write a synthetic sessions file and print a one-line summary.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name; ``sys.argv[1:]`` if None.

    Returns
    -------
    int
        0 on success, 2 on bad arguments (with a one-line error on stderr).
    """
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help (0) and on bad arguments (2)
        return exc.code if isinstance(exc.code, int) else 2
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    names = {f.name for f in fields(SynthConfig)}
    given = {k: v for k, v in vars(args).items() if k in names}
    try:
        config = replace(PRESETS[args.preset], **given)
    except ValueError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    stats = write_sessions(config, args.out)
    seconds = time.perf_counter() - started
    print(f"wrote {args.out} in {seconds:.1f} s: {stats.summary()}")
    return 0

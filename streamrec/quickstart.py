"""`make serve` set-up: a sample data file and a model, each only if missing.

``python -m streamrec.quickstart`` writes a small Twitch-like sample to ``data_path`` when that
file does not exist, then trains ``model_path`` when that file does not exist. Existing files
are never touched, so real data and a real model are safe.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from streamrec.cli import fail, load_settings
from streamrec.cli import train as train_cli
from streamrec.data import synth


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m streamrec.quickstart",
        description="Create sample data and a model if they are missing.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--preset", choices=sorted(synth.PRESETS), default="small")
    parser.add_argument("--no-train", action="store_true", help="only make the sample data")
    args = parser.parse_args(argv)
    settings = load_settings()

    if settings.data_path.exists():
        print(f"data       {settings.data_path} exists, kept")
    else:
        stats = synth.write_sessions(synth.PRESETS[args.preset], settings.data_path)
        print(f"data       wrote {args.preset} sample to {settings.data_path}: {stats.rows:,} rows")
    if args.no_train:
        return 0
    if settings.model_path.exists():
        print(f"model      {settings.model_path} exists, kept (retrain: make train)")
        return 0
    code = train_cli.main(["--data", str(settings.data_path), "--model", str(settings.model_path)])
    return code if code == 0 else fail(f"training {settings.model_path} failed", code)


if __name__ == "__main__":
    raise SystemExit(main())

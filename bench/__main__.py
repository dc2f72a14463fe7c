"""Run the benchmarks under ``bench/``: ``python -m bench [NAME ...] [-- ARGS]``.

Every ``bench/NAME.py`` with a ``main(argv) -> int`` is a benchmark (modules starting with
``_`` are helpers). Without names, the ones that set ``DEFAULT = True`` run (``make bench``);
others, such as hour-long full-scale runs, run only when named. ``ARGS`` after ``--`` go to
each named benchmark. Benchmarks print tables and assert nothing; they are not tests.

Examples::

    python -m bench                           # the default set
    python -m bench --list                    # what there is
    python -m bench serve -- --duration 5     # one benchmark, with its own flags
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

_HERE = Path(__file__).resolve().parent


def discover() -> dict[str, ModuleType]:
    """Every benchmark module under ``bench/``, by name."""
    found = {}
    for info in sorted(pkgutil.iter_modules([str(_HERE)]), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"bench.{info.name}")
        if callable(getattr(module, "main", None)):
            found[info.name] = module
    return found


def summary(module: ModuleType) -> str:
    return (module.__doc__ or "").strip().splitlines()[0] if module.__doc__ else ""


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    passed: list[str] = []
    if "--" in argv:
        argv, passed = argv[: argv.index("--")], argv[argv.index("--") + 1 :]
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: the DEFAULT set)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)
    benchmarks = discover()
    if args.list:
        for name, module in benchmarks.items():
            flag = "*" if getattr(module, "DEFAULT", False) else " "
            print(f"{flag} {name:12s} {summary(module)}")
        print("(* runs by default)")
        return 0
    unknown = [name for name in args.names if name not in benchmarks]
    if unknown:
        parser.error(f"unknown benchmark {unknown[0]!r}; choose from {', '.join(benchmarks)}")
    names = args.names or [n for n, m in benchmarks.items() if getattr(m, "DEFAULT", False)]
    status = 0
    for name in names:
        print(f"== bench {name}: {summary(benchmarks[name])}", flush=True)
        status = max(status, int(benchmarks[name].main(passed) or 0))
    return status


if __name__ == "__main__":
    raise SystemExit(main())

"""Rows as the event log holds them, and the files of a log's folder."""

from __future__ import annotations

from pathlib import Path


def row(i: int, stop: int | None = None) -> bytes:
    end = b"" if stop is None else b"%d" % stop
    return b"%d,%d,s%d,%d,%s\n" % (i, i, i % 7, i, end)


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())

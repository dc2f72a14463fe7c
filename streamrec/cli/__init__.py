"""Command-line entry points behind the repository's top-level scripts."""

from __future__ import annotations

import sys

from pydantic import ValidationError

from streamrec.settings import Settings, get_settings


def fail(message: str, code: int = 2) -> int:
    """Print a one-line error for a command-line user and return the exit code."""
    print(f"error: {message}", file=sys.stderr)
    return code


def load_settings() -> Settings:
    """The process settings; a bad environment value raises SystemExit with a one-line error."""
    try:
        return get_settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(part) for part in first["loc"])
        raise SystemExit(
            fail(f"bad setting {name}={first.get('input')!r}: {first['msg']}")
        ) from None

"""Argument types and the error format shared by every ``awmkit`` sub-command.

This module sits below every ``_cli.py`` (they import it; it imports none of them), so sub-commands never
import each other or ``awmkit.cli``. A sub-command reports bad input by raising ``ValueError`` (or
[`CLIError`][awmkit._cli_common.CLIError]) with a one-line message; ``awmkit.cli.main`` prints it as
``awmkit <cmd>: error: <message>`` and exits with status 2.
"""

import argparse
from collections.abc import Sequence


class CLIError(ValueError):
    """Bad command-line input, reported as one line ``awmkit <cmd>: error: <message>`` (exit status 2)."""


def positive_int(text: str) -> int:
    """``argparse`` type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def env_name(text: str) -> str:
    """``argparse`` type: the name of a registered environment."""
    from .envs import registered

    if text not in registered():
        raise argparse.ArgumentTypeError(
            f"unknown environment {text!r}; valid names are: {', '.join(registered())}"
        )
    return text


def table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> str:
    """A plain-text table with aligned columns."""
    cells = [[str(h) for h in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)

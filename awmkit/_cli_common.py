"""Argument types and the error format shared by every ``awmkit`` sub-command.

This module sits below every ``_cli.py`` (they import it; it imports none of them), so sub-commands never
import each other or ``awmkit.cli``. A sub-command reports bad input by raising ``ValueError`` (or
[`CLIError`][awmkit._cli_common.CLIError]) with a one-line message; ``awmkit.cli.main`` prints it as
``awmkit <cmd>: error: <message> (see `awmkit <cmd> --help`)`` and exits with status 2. Errors found by
``argparse`` itself (an unknown flag, a bad value, a missing argument) have the same one-line form:
the top parser is an [`ArgumentParser`][awmkit._cli_common.ArgumentParser], and every sub-parser made
from it by ``add_subparsers().add_parser`` is one too.
"""

import argparse
import errno
import os
import pathlib
import re
import sys
import tempfile
from collections.abc import Sequence

from .envs._registry import check_name
from .runs import logger_names


class CLIError(ValueError):
    """Bad command-line input, reported as one line ``awmkit <cmd>: error: <message>`` (exit status 2)."""


def error_line(prog: str, message: object) -> str:
    """``<prog>: error: <message> (see `<prog> --help`)``; a message of several lines (a resume
    mismatch listing its fields) keeps them, without the pointer."""
    text = str(message).strip()
    if "\n" in text:
        return f"{prog}: error: {text}"
    return f"{prog}: error: {text} (see `{prog} --help`)"


class ArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose errors are one line on stderr, without the usage block, and exit
    with status 2. ``add_subparsers`` makes sub-parsers of this class too, so a sub-command added by
    any module gets the same format without doing anything."""

    # Negative numbers in every spelling ("-1", "-.5", "-1e-3", "-inf") are values, not flags, so that
    # `--policy-lr -1e-3` reaches the flag's own check ("must be positive"). No awmkit flag looks like one.
    _NEGATIVE = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^-(inf|nan)$", re.IGNORECASE)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = self._NEGATIVE

    def error(self, message: str):  # pyright: ignore[reportIncompatibleMethodOverride]
        for action in self._actions:  # a missing sub-command: name the valid ones
            if isinstance(action, argparse._SubParsersAction) and action.choices:
                name = action.metavar or action.dest
                if name and "required" in message and str(name) in message:
                    message += f"; one of: {', '.join(action.choices)}"
        sys.stderr.write(error_line(self.prog, message) + "\n")
        sys.exit(2)

    def parse_args(self, args=None, namespace=None):  # pyright: ignore[reportIncompatibleMethodOverride]
        # Unknown flags are found by the top parser; report them as the chosen sub-command's error.
        namespace, extras = self.parse_known_args(args, namespace)
        if extras:
            parser: argparse.ArgumentParser = self
            while True:
                sub = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
                chosen = None if sub is None else getattr(namespace, sub.dest, None)
                if sub is None or chosen not in sub.choices:
                    break
                parser = sub.choices[chosen]
            parser.error(f"unrecognized arguments: {' '.join(extras)}")
        return namespace


def _nearest_existing(path: pathlib.Path) -> pathlib.Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _check_can_create_in(directory: pathlib.Path, text: str) -> None:
    if not directory.is_dir():
        raise argparse.ArgumentTypeError(f"cannot create {text}: {directory} is not a directory")
    try:  # the only reliable test (permissions, read-only mounts, /proc): create something and remove it
        tempfile.TemporaryDirectory(dir=directory, prefix=".awmkit-probe-").cleanup()
    except OSError as e:
        why = "" if e.errno == errno.ENOENT else f" ({e.strerror})"  # ENOENT: e.g. /proc
        raise argparse.ArgumentTypeError(
            f"cannot create {text}: {directory} is not writable{why}; choose a writable directory"
        ) from None


def output_dir(text: str) -> pathlib.Path:
    """``argparse`` type: a directory that exists or can be created, and can be written to. Checked when
    the arguments are parsed, so an unwritable ``--out`` fails before anything is compiled."""
    path = pathlib.Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} exists and is not a directory; pass a directory")
    if not path.exists():
        _check_can_create_in(_nearest_existing(path), text)
    elif not os.access(path, os.W_OK | os.X_OK) or _read_only(path):
        # (no probe here: an existing run directory is left exactly as it is)
        raise argparse.ArgumentTypeError(
            f"cannot write to {text}: permission denied; choose a writable directory"
        )
    return path


def _read_only(path: pathlib.Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):
        return False


def output_file(text: str) -> pathlib.Path:
    """``argparse`` type: a file that can be written (its directory may not exist yet)."""
    path = pathlib.Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a directory; pass a file name")
    if path.exists():
        if not os.access(path, os.W_OK):
            raise argparse.ArgumentTypeError(f"cannot write to {text}: permission denied")
        return path
    _check_can_create_in(_nearest_existing(path.parent), text)
    return path


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
    """``argparse`` type: the name of a registered environment, or an import path ``package.module:Class``
    of a user's control problem (see [`awmkit.envs.make`][])."""
    try:
        return check_name(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_logger_argument(parser: argparse.ArgumentParser, what: str = "the metric rows") -> None:
    """``--logger NAME`` (repeatable) over the registered loggers, into ``args.logger`` (a list)."""
    parser.add_argument(
        "--logger",
        action="append",
        default=[],
        choices=logger_names(),
        metavar="NAME",
        help=f"also send {what} to this logger (repeatable; one of: "
        f"{', '.join(logger_names()) or 'none installed'}); metrics.jsonl is always written",
    )


def table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> str:
    """A plain-text table with aligned columns."""
    cells = [[str(h) for h in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)

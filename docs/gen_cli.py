"""Markdown reference of the ``awmkit`` command line, generated from its argparse parser.

Used by ``docs/hooks.py`` at ``mkdocs build`` time so that the Command line page lists every
sub-command with its current ``--help``; run ``python docs/gen_cli.py`` to print it.
"""

import argparse
import os
import pathlib
import sys

# This checkout's awmkit, not an installed copy.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def render() -> str:
    """``awmkit --help`` and each sub-command's ``--help`` as Markdown sections."""
    os.environ["COLUMNS"] = "100"  # argparse wraps to the terminal width: make the page reproducible
    from awmkit.cli import build_parser

    parser = build_parser()
    out = ["## `awmkit`", "", "```text", parser.format_help().rstrip(), "```", ""]
    for name, sub in _subparsers(parser).items():
        out += [f"## `awmkit {name}`", "", "```text", sub.format_help().rstrip(), "```", ""]
    return "\n".join(out)


if __name__ == "__main__":
    sys.stdout.write(render())

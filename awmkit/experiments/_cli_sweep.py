"""``awmkit sweep SPEC.toml --out DIR``: the command-line front end of
[`awmkit.experiments.run_sweep`][] over a TOML grid ([`awmkit.experiments.load_sweep_spec`][])."""

import argparse
import json
import math
import pathlib

from .._cli_common import add_logger_argument, table
from ..evaluation import MissingReferenceError, normalised_return
from ._spec_file import load_sweep_spec
from ._sweep import run_sweep


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {value}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declares the arguments of ``awmkit sweep``."""
    parser.add_argument("spec", type=pathlib.Path, metavar="SPEC.toml", help="the grid (see docs: Sweeps)")
    parser.add_argument(
        "--out", type=pathlib.Path, required=True, help="sweep directory (cells/<name>/ inside)"
    )
    parser.add_argument(
        "--backend",
        choices=("local", "ray"),
        default="local",
        help="local: cells one after another in this process; ray: one Ray task per cell (default local)",
    )
    parser.add_argument(
        "--address", default=None, help="join the Ray cluster at this address (default: start a local one)"
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the sweep in --out: skip finished cells, resume the others",
    )
    parser.add_argument(
        "--max-retries",
        type=_non_negative_int,
        default=2,
        help="retries of a cell whose Ray worker died, each resuming from its checkpoint (default 2)",
    )
    add_logger_argument(parser, "each cell's metric rows (one logger run per cell)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--no-progress", action="store_true", help="no line per finished cell on stderr")


def _normalised(outcome) -> float | None:
    """The mean normalised return of a done cell where a reference is shipped, else ``None``."""
    if outcome.status != "done":
        return None
    try:
        scores = normalised_return(outcome.result["final_return"], outcome.cell.env, outcome.cell.horizon)
    except MissingReferenceError:
        return None
    return float(sum(float(x) for x in scores) / len(scores))


def _mean(values) -> float:
    values = [float(v) for v in values]
    return sum(values) / len(values) if values else math.nan


def summarise(result) -> list[dict]:
    """One JSON-ready row per cell: status, final returns, normalised return, wall time, attempts."""
    rows = []
    for o in result.outcomes:
        final = None if o.result is None else [float(x) for x in o.result["final_return"]]
        rows.append(
            {
                "name": o.cell.name,
                "kind": o.cell.kind,
                "method": o.cell.method,
                "env": o.cell.env,
                "horizon": o.cell.horizon,
                "seeds": o.cell.seeds,
                "status": o.status,
                "final_return": final,
                "final_return_mean": None if final is None else _mean(final),
                "normalised_return_mean": _normalised(o),
                "wall_time_s": None if o.result is None else o.result.get("wall_time_s"),
                "attempts": o.attempts,
                "error": o.error,
                "run_dir": str(o.run_dir),
            }
        )
    return rows


def run(args) -> int:
    """Runs ``awmkit sweep``; the spec and every cell are checked before anything runs. Exit status 1
    when a cell failed (the others still ran)."""
    cells = load_sweep_spec(args.spec)
    result = run_sweep(
        cells,
        args.out,
        backend=args.backend,
        address=args.address,
        resume=args.resume,
        max_retries=args.max_retries,
        progress=not args.no_progress,
        loggers=args.logger,
    )
    rows = summarise(result)
    status = 1 if result.failed else 0
    if args.json:
        print(
            json.dumps(
                {
                    "out": str(result.out),
                    "backend": result.backend,
                    "wall_time_s": result.wall_time_s,
                    "cells": rows,
                },
                indent=2,
            )
        )
        return status

    def fmt(x, spec):
        return "-" if x is None else format(x, spec)

    print(
        table(
            [
                (
                    r["name"],
                    r["status"],
                    fmt(r["final_return_mean"], ".6g"),
                    fmt(r["normalised_return_mean"], ".3f"),
                    fmt(r["wall_time_s"], ".1f"),
                    r["attempts"],
                )
                for r in rows
            ],
            ["cell", "status", "final return (mean)", "normalised", "wall s", "attempts"],
        )
    )
    for r in rows:
        if r["error"] is not None:
            print(f"{r['name']}: {r['error'].splitlines()[0]} (details in {r['run_dir']}/error.json)")
    print(
        f"{len(result.done)} of {len(rows)} cells done in {result.wall_time_s:.1f} s; sweep directory: {result.out}"
    )
    return status

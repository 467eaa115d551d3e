"""``awmkit reproduce``: one figure of the paper from one command."""

import argparse
import json
import sys

from .._cli_common import CLIError, add_logger_argument, output_dir, table


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.description = (
        "Runs the grid of one of the paper's figures through the sweep runner (a run directory per cell "
        "under OUT/cells/), then writes OUT/report.md, OUT/report.json (every claim with the paper's quote, "
        "our numbers and whether it holds) and the figure as PNG. `--list` names the figures."
    )
    p.add_argument("name", nargs="?", metavar="NAME", help="the figure, e.g. figure5a (see --list)")
    p.add_argument("--list", action="store_true", help="list the figures, their budgets and claims")
    p.add_argument(
        "--results",
        default=None,
        metavar="DIR",
        help="with --list: tally the reports under DIR (FIGURE/BUDGET/report.json as in docs/results, "
        "FIGURE/report.json, or one report.json): PASS / FAIL / N/A per figure and per budget",
    )
    p.add_argument("--budget", default="small", help="smoke, small (default) or paper")
    p.add_argument(
        "--profile",
        choices=("awmkit", "authors"),
        default="awmkit",
        help="settings profile: awmkit's defaults, or as the authors ran it (their per-model BPO settings "
        "and their double pendulum; docs: Fidelity, settings profiles)",
    )
    p.add_argument(
        "--seeds",
        type=int,
        default=None,
        metavar="N",
        help="seeds per cell (runs, or trained models of an offline figure) in place of the budget's; "
        "the budget's other settings are kept and the report records N",
    )
    p.add_argument(
        "--out",
        type=output_dir,  # checked when parsed: an unwritable folder fails before any cell runs
        default=None,
        help="output directory (required to run a figure; created, must be writable)",
    )
    p.add_argument("--backend", default="local", help="local (default: cells one after another) or ray")
    p.add_argument("--address", default=None, help="address of a running Ray cluster (--backend ray)")
    p.add_argument("--resume", action="store_true", help="keep finished cells, continue the others")
    add_logger_argument(p, "each cell's metric rows (one logger run per cell)")
    p.add_argument("--json", action="store_true", help="print report.json (with --list: the figures as JSON)")
    p.add_argument(
        "--estimate",
        action="store_true",
        help="predict the grid's wall time on this machine from a few timed updates, and run nothing",
    )


def _listing() -> list[dict]:
    from ._figures import BUDGETS, figures

    return [
        {
            "name": spec.name,
            "title": spec.title,
            "paper": spec.paper,
            "cells": {b: len(spec.cells(b)) for b in BUDGETS},
            "claims": [c.id for c in spec.claims],
            "shares_cells_with": list(spec.shares),
        }
        for spec in figures().values()
    ]


def run(args) -> int:
    from ._figures import BUDGETS, figures

    if args.results is not None and not args.list:
        raise CLIError("--results DIR tallies finished reports: it goes with --list")
    if args.list and args.results is not None:
        return _results(args.results, as_json=args.json)
    if args.list:
        items = _listing()
        if args.json:
            print(json.dumps(items, indent=2))
        else:
            rows = [
                (i["name"], i["paper"], " / ".join(str(i["cells"][b]) for b in BUDGETS), len(i["claims"]))
                for i in items
            ]
            print(table(rows, ["figure", "paper", f"cells {' / '.join(BUDGETS)}", "claims"]))
        return 0
    names = list(figures())
    if args.name is None:
        raise CLIError(f"NAME is required (or --list); valid figures are: {', '.join(names)}")
    if args.name not in names:
        raise CLIError(f"unknown figure {args.name!r}; valid figures are: {', '.join(names)}")
    if args.budget not in BUDGETS:
        raise CLIError(f"--budget must be one of {', '.join(BUDGETS)}, got {args.budget!r}")
    if args.backend not in ("local", "ray"):
        raise CLIError(f"--backend must be local or ray, got {args.backend!r}")
    if args.address is not None and args.backend != "ray":
        raise CLIError("--address joins a Ray cluster: it needs --backend ray")
    if args.seeds is not None and args.seeds < 1:
        raise CLIError(f"--seeds must be a positive integer, got {args.seeds}")
    if args.estimate:
        return _estimate(args)
    if args.out is None:
        raise CLIError("--out DIR is required: the run directories and the report go there")
    from ._report import reproduce

    report = reproduce(
        args.name,
        budget=args.budget,
        out=args.out,
        backend=args.backend,
        address=args.address,
        resume=args.resume,
        progress=not args.json,
        profile=args.profile,
        loggers=args.logger,
        seeds=args.seeds,
    )
    if args.json:
        print(json.dumps(report.data, indent=2))
        return 0
    from ._glance import plain_text

    rows = [(c.status, c.id, plain_text(c.why)) for c in report.claims]
    print(table(rows, ["", "claim", "ours"]))
    print(f"report: {report.out / 'report.md'}")
    return 0


def _results(root: str, *, as_json: bool) -> int:
    import dataclasses

    from ._glance import collect_reports, fmt_minutes, tally

    try:
        summaries = collect_reports(root)
    except ValueError as e:
        raise CLIError(str(e)) from None
    totals = tally(summaries)
    if as_json:
        rows = [{**dataclasses.asdict(s), "path": str(s.path)} for s in summaries]
        print(json.dumps({"tally": totals, "reports": rows}, indent=2))
        return 0
    rows = [
        (
            s.figure,
            s.budget,
            s.passed,
            s.failed,
            s.not_evaluable,
            f"{s.cells_done}/{s.cells_total}",
            fmt_minutes(s.wall_time_s),
            fmt_minutes(s.cells_time_s),
            " ".join(f"{st}:{cid}" for st, cid in s.claims),
        )
        for s in summaries
    ]
    header = ["figure", "budget", "PASS", "FAIL", "N/A", "cells", "wall time", "cells' time", "claims"]
    print(table(rows, header))
    for budget, t in totals.items():
        print(f"{budget}: {t['PASS']} PASS / {t['FAIL']} FAIL / {t['N/A']} N/A over {t['figures']} figures")
    return 0


def _estimate(args) -> int:
    from .._progress import fmt_time
    from ._estimate import estimate_grid
    from ._figures import get_figure

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    cells = get_figure(args.name).cells(args.budget, args.profile, args.seeds)
    grid = estimate_grid(cells, progress=None if args.json else progress)
    if args.json:
        print(json.dumps({"figure": args.name, "budget": args.budget, **grid.to_dict()}, indent=2))
        return 0
    rows = [
        (
            c["name"],
            c["kind"],
            "-" if c["seconds"] is None else fmt_time(c["seconds"]),
            "-" if c["compile_s"] is None else fmt_time(c["compile_s"]),
            c["estimated_from"] or "-",
            "-" if not c.get("packed") else f"{c['program']} x {c['packed']}",
        )
        for c in grid.cells
    ]
    print(table(rows, ["cell", "kind", "time (share)", "compile (pieces)", "timed as", "packed program"]))
    note = f"; {len(grid.not_estimated)} cells of other kinds not estimated" if grid.not_estimated else ""
    print(
        f"{args.name} at budget {args.budget}: {fmt_time(grid.seconds)} of BPO training, "
        f"{len(grid.cells) - len(grid.not_estimated)} BPO cells packed into {grid.programs} programs (cells "
        f"differing only in per-run values, e.g. an entropy sweep, share one) run one "
        f"after another on this machine, plus compilation (~{fmt_time(grid.compile_s)} for the timed pieces; "
        f"each program compiles a few times its pieces'); {grid.timed} distinct programs timed{note}"
    )
    return 0

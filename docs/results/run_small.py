"""Runs the figures of the paper at a budget one after another and commits-ready copies their reports
into ``docs/results/<figure>/<budget>/`` (``report.md``, ``report.json``, the PNGs; never the run
directories).

    nice -n 5 python docs/results/run_small.py [FIGURE ...] [--budget small] [--work /tmp/awmkit-small]
        [--profile authors] [--seeds N]

With ``--profile authors`` (the authors' settings and double pendulum) the reports go to
``docs/results/<figure>/<budget>-authors/``.

Each figure runs with ``--resume`` into ``WORK/<figure>/``, so a cut run continues where it stopped.
Before a figure runs, the finished cells it shares with a figure already run (equal cells: same kind,
system, horizon, method, seeds, key and config) are copied from that figure's directory instead of being
run again; the report counts them as reused and its wall time covers only what this figure ran.

``--seeds N`` gives every cell N seeds in place of the budget's (e.g. three trained models per cell of
an offline figure at the ``paper`` budget, whose other settings keep their meaning); the report records
it, and ``--report-only`` must be given the same ``--seeds``.

``--report-only`` rewrites the reports of figures from their finished cells (same claims, same numbers:
the bootstrap is seeded), keeping the wall time and load average recorded when they ran; use it after
changing a spec's notes, claims' wording or plots, or to report on a figure whose run was cut (its
unfinished cells are listed as such and the claims that need them are not evaluable).
"""

import argparse
import json
import os
import pathlib
import shutil
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _finished_cells(work: pathlib.Path, budget_dirs: list[pathlib.Path]):
    from awmkit.experiments import Cell, read_result

    found = {}
    for d in budget_dirs:
        sweep = d / "sweep.json"
        if not sweep.exists():
            continue
        data = json.loads(sweep.read_text())
        for entry in data["cells"] if isinstance(data, dict) else data:
            cell = Cell.from_dict(entry)
            run_dir = d / "cells" / cell.name
            if read_result(run_dir) is not None:
                found.setdefault(cell, run_dir)
    return found


def _dest(budget: str, profile: str) -> str:
    return budget if profile == "awmkit" else f"{budget}-{profile}"


def _rewrite(spec, budget: str, out: pathlib.Path, profile: str = "awmkit", seeds: int | None = None) -> None:
    from awmkit.experiments import CellRecord, read_result, write_report

    path = out / "report.json"
    # A figure cut before its report was written: timings unknown, unfinished cells listed as such.
    old = (
        json.loads(path.read_text())
        if path.exists()
        else {
            "wall_time_s": None,
            "load_average": _logged_load(out.parent) or {"at_report": list(os.getloadavg())},
            "cells": {"reused": 0},
        }
    )
    records, copied = [], 0
    for cell in spec.cells(budget, profile, seeds):
        run_dir = out / "cells" / cell.name
        if read_result(run_dir) is None:  # the same cell finished for a figure sharing it?
            for other in sorted(out.parent.glob(f"*/cells/{cell.name}")):
                if read_result(other) is not None and _same_cell(other, cell):
                    shutil.rmtree(run_dir, ignore_errors=True)
                    shutil.copytree(other, run_dir)
                    copied += 1
                    break
        result = read_result(run_dir)
        error = None if result is not None else "not finished when the run was cut (time ran out)"
        records.append(
            CellRecord.from_outcome(_Outcome(cell, "done" if result else "failed", result, error, run_dir))
        )
    report = write_report(
        spec,
        budget,
        records,
        out,
        wall_time_s=old["wall_time_s"],
        load_average=old["load_average"],
        reused_cells=old["cells"]["reused"] + copied,
        profile=profile,
        seeds_override=seeds,
    )
    _copy(report, spec.name, _dest(budget, profile))
    print(f"== {spec.name}: report rewritten", flush=True)


def _logged_load(work: pathlib.Path) -> dict | None:
    """The first and last 1/5/15-minute load averages of ``WORK/load.log`` (lines ``HH:MM:SS l1 l5
    l15 ...``, one a minute, written beside a run made outside this script, e.g. two cells at a time)."""
    path = work / "load.log"
    if not path.exists():
        return None
    rows = [line.split()[1:4] for line in path.read_text().splitlines() if len(line.split()) >= 4]
    if not rows:
        return None
    return {"start": [float(x) for x in rows[0]], "end": [float(x) for x in rows[-1]]}


def _same_cell(run_dir: pathlib.Path, cell) -> bool:
    """Whether the run directory was run with the cell's kind, system, horizon, seeds, key and config."""
    config = json.loads((run_dir / "config.json").read_text())
    same = config.get("env") == cell.env and config.get("horizon") == cell.horizon
    same = same and config.get("seeds") == cell.seeds and config.get("key") == cell.key
    return same and all(config.get(k) == v for k, v in cell.config.items())


class _Outcome:
    def __init__(self, cell, status, result, error, run_dir):
        self.cell, self.status, self.result, self.error, self.run_dir = cell, status, result, error, run_dir


def _copy(report, name: str, budget: str) -> None:
    dest = ROOT / "docs" / "results" / name / budget
    dest.mkdir(parents=True, exist_ok=True)
    for path in report.paths:
        shutil.copy2(path, dest / path.name)


def main(argv=None) -> int:
    sys.path.insert(0, str(ROOT))
    from awmkit.experiments import figures, reproduce

    specs = figures()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("figures", nargs="*", default=list(specs), help="figures to run (default: all, in order)")
    p.add_argument("--budget", default="small")
    p.add_argument("--work", default="/tmp/awmkit-small", help="where the run directories go")
    p.add_argument("--report-only", action="store_true", help="rewrite the reports from finished cells")
    p.add_argument("--profile", default="awmkit", choices=("awmkit", "authors"), help="settings profile")
    p.add_argument("--seeds", type=int, default=None, help="seeds per cell in place of the budget's")
    args = p.parse_args(argv)
    work = pathlib.Path(args.work)
    for name in args.figures:
        spec = specs[name]
        out = work / name
        if args.report_only:
            _rewrite(spec, args.budget, out, args.profile, args.seeds)
            continue
        finished = _finished_cells(work, [work / other for other in specs if other != name])
        for cell in spec.cells(args.budget, args.profile, args.seeds):
            target = out / "cells" / cell.name
            if cell in finished and not (target / "result.json").exists():
                shutil.rmtree(target, ignore_errors=True)
                shutil.copytree(finished[cell], target)
        print(f"== {name}", flush=True)
        report = reproduce(
            name, budget=args.budget, out=out, resume=True, profile=args.profile, seeds=args.seeds
        )
        _copy(report, name, _dest(args.budget, args.profile))
        summary = ", ".join(f"{c.id} {c.status}" for c in report.claims)
        print(f"== {name}: {summary}; wall {report.data['wall_time_s']:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

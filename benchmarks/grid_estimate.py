"""How long would a figure's whole grid take on this machine? ``awmkit reproduce NAME --budget B
--estimate`` as a benchmark: one row per distinct timed cell, the totals, and the load average.

Every BPO cell of the figure's grid is predicted by ``awmkit.experiments._estimate.estimate_grid``
(``awmkit.bpo.estimate_run``: one group of seeds' model update, policy update, episode and evaluation
compiled and timed, times the counts of the authors' schedule). Cells that differ only in cost-neutral
fields (the paper's entropy-coefficient sweep) or in the system share one timed estimate, so the paper
budget of Figure 5a (480 cells: 8 systems x 5 horizons x 4 models x 3 entropy coefficients, 10 seeds)
times 20 cells. The report gives:

- ``results``: per timed cell, its model and horizon, ``hours_per_cell`` (training, compilation
  excluded), the breakdown's model-update share, the compile seconds of its timed pieces, and how many
  grid cells it stands for;
- ``summary``: ``hours`` for the whole grid run one cell after another; ``hours_one_setting`` for the
  grid without the hyper-parameter sweep (one setting per system, horizon and model: the
  ``8 x 5 x 4 x 10 seeds`` grid); ``compile_hours`` (the timed pieces' compilation, summed over the
  cells: a cell's own program compiles in a few times that); ``cells_per_device`` and
  ``hours_packed`` when ``--pack-speedup`` and ``--pack-cells`` give the throughput of several cells
  sharing a device over one cell alone, or ``--pack-from`` reads them from the JSON of
  ``benchmarks/gpu_paper_cell.py`` (its ``sharing`` section: the best number of processes).

Run (CPU, ~8 minutes for Figure 5a at the paper budget)::

    python benchmarks/grid_estimate.py --out benchmarks/results/figure5a_paper_estimate_cpu.json

GPU (after ``pip install -e '.[cuda]'`` and ``benchmarks/gpu_paper_cell.py``; compilation dominates
there: 20 cells x 4 pieces)::

    python benchmarks/grid_estimate.py --pack-from benchmarks/results/gpu_paper_cell_h200.json \\
        --out "$OUT/figure5a_paper_estimate_h200.json"
"""

import argparse
import collections
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from policy_gradient import _machine, write_report  # noqa: E402


def packing(path: str) -> tuple[int, float]:
    """(cells per device, throughput over one cell) of the best sharing in a gpu_paper_cell.py report."""
    with open(path) as f:
        summary = json.load(f).get("summary", {})
    shared = summary.get("seed_steps_per_s_shared") or {}
    one = summary.get("seed_steps_per_s_one_cell")
    if not one:
        raise SystemExit(f"--pack-from {path}: no paper_cell measurement in its summary")
    best = max(shared, key=shared.get, default=None)
    if best is None or shared[best] <= one:
        return 1, 1.0
    return int(best), shared[best] / one


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--figure", default="figure5a")
    parser.add_argument("--budget", default="paper")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per piece")
    parser.add_argument(
        "--pack-speedup",
        type=float,
        default=None,
        help="aggregate throughput of the best number of cells sharing one device over one cell alone",
    )
    parser.add_argument("--pack-cells", type=int, default=None, help="the cells per device that speed-up is for")
    parser.add_argument("--pack-from", default=None, help="a gpu_paper_cell.py JSON to read the packing from")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    if args.pack_from is not None:
        args.pack_cells, args.pack_speedup = packing(args.pack_from)
    if (args.pack_speedup is None) != (args.pack_cells is None):
        parser.error("--pack-speedup and --pack-cells go together")

    from awmkit.experiments import get_figure
    from awmkit.experiments._estimate import _signature, estimate_grid

    cells = get_figure(args.figure).cells(args.budget)
    bpo = [c for c in cells if c.kind == "bpo"]
    load_before, start = os.getloadavg(), time.perf_counter()
    grid = estimate_grid(cells, repeats=args.repeats, progress=lambda line: print(line, file=sys.stderr, flush=True))
    wall = time.perf_counter() - start
    by_name = {c.name: c for c in bpo}
    shares = collections.Counter(row["estimated_from"] for row in grid.cells if row["estimated_from"])
    # One setting per (system, horizon, model): cells of one signature on one system are the sweep.
    settings = collections.Counter((c.env, _signature(c)) for c in bpo)
    per_setting = {sig: n for (_, sig), n in settings.items()}
    rows, one_setting = [], 0.0
    for row in grid.cells:
        if row["estimated_from"] != row["name"]:
            continue
        cell = by_name[row["name"]]
        sweep = per_setting[_signature(cell)]
        rows.append({
            "cell": row["name"], "model": cell.model, "horizon": cell.horizon, "seeds": cell.seeds,
            "hours_per_cell": row["seconds"] / 3600, "compile_s": row["compile_s"],
            "grid_cells": shares[row["name"]], "sweep_settings": sweep,
        })  # fmt: skip
        one_setting += row["seconds"] * shares[row["name"]] / sweep
    summary = {
        "cells": len(cells),
        "bpo_cells": len(bpo),
        "timed_cells": grid.timed,
        "programs": grid.programs,  # packed programs (an entropy sweep of one system, horizon and model is one)
        "not_estimated": len(grid.not_estimated),
        "hours": grid.seconds / 3600,
        "hours_one_setting": one_setting / 3600,
        "compile_hours": grid.compile_s / 3600,
        "estimate_wall_s": wall,
    }
    if args.pack_speedup is not None:
        summary.update(
            cells_per_device=args.pack_cells,
            pack_speedup=args.pack_speedup,
            hours_packed=summary["hours"] / args.pack_speedup,
            hours_one_setting_packed=summary["hours_one_setting"] / args.pack_speedup,
        )
    report = {
        "benchmark": f"grid estimate: {args.figure} at budget {args.budget}",
        "machine": {**_machine(), "load_average_before": load_before, "load_average_after": os.getloadavg()},
        "config": {"figure": args.figure, "budget": args.budget, "repeats": args.repeats},
        "summary": summary,
        "results": rows,
    }
    write_report(report, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""How long would a figure's grid take on one H200? ``grid_estimate.py``'s question for a GPU, answered
from the committed GPU measurements, not from a GPU: run it on any machine.

    python benchmarks/grid_estimate_gpu.py --figure figure2 --budget medium \\
        --out benchmarks/results/figure2_medium_estimate_h200.json

**What is measured** (``benchmarks/results/gpu_h200_2026-12-04/``, one H200, JAX 0.11.2, the library at
commit 5a47384): whole BPO cells of 10 seeds on the authors' schedule, each trained twice in one process
(the second run without compilation): awm-transformer at H = 100 (6 500 steps) and H = 500 (4 500
steps), markovian at H = 100 (6 500 steps).

**The scaling.** A cell's GPU time is ``steps x c(model, H)`` plus its compilation, where ``c`` is the
measured time per environment step (the second run's wall time over its steps, warm-up included):

- a measured model at a measured horizon: its own ``c``;
- between and beyond a model's measured horizons: a power law in ``H`` through its points (the
  awm-transformer's: ``c ~ H^1.22``); a model measured at one horizon takes the awm-transformer's
  exponent; below the smallest measured horizon (H = 100) ``c`` is held at its value there;
- a model without a GPU measurement (hwm-transformer, awm-rnn, simulator): the awm-transformer's ``c``
  times the two models' ratio on the CPU (``figure5a_paper_estimate_cpu.json``, same horizon: the GPU
  assumed to speed them up alike), but never below the markovian's ``c`` (the smallest model measured:
  the GPU's per-step floor of launching a step's pieces). The simulator is not in the CPU estimate: it
  gets the floor.

Why per environment step and not a GPU/CPU ratio of the same cell: the GPU runs these cells far below its
peak (``pg_100.json``: 0.03% of its matmul peak), so its time follows the sequential steps, not the seeds:
a 5-seed cell costs about what a 10-seed one does, which a ratio applied to a CPU estimate (where seeds
cost) would miss.

**Every rule errs high** (an upper bound): the warm-up is counted as training, seeds below 10 cost as 10
(seeds above 10 scale linearly), horizons below 100 cost per step as H = 100, and the double pendulum's
steps are costed as HIV treatment's (its environment step is an ODE step where HIV's is Euler: not
measured on the GPU). Compilation: per cell, the measured first-run minus second-run time of the nearest
measured horizon (the awm-transformer's for an unmeasured model). Non-BPO cells (SAC, the Online DT)
are not estimated, as on the CPU.
"""

import argparse
import json
import math
import os
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent
MEASUREMENTS = {"h200": ROOT / "results" / "gpu_h200_2026-12-04"}
CPU_REFERENCE = ROOT / "results" / "figure5a_paper_estimate_cpu.json"
REFERENCE_SEEDS = 10


def load_cells(directory: pathlib.Path) -> dict[str, dict[int, dict]]:
    """``model -> horizon -> {"per_step_s", "compile_s", "seeds"}`` from the ``paper_cell*.json`` files."""
    out: dict[str, dict[int, dict]] = {}
    files = sorted(pathlib.Path(directory).glob("paper_cell*.json"))
    if not files:
        raise SystemExit(f"no paper_cell*.json measurements in {directory}")
    for path in files:
        for c in json.loads(path.read_text())["cells"]:
            out.setdefault(c["model"], {})[int(c["horizon"])] = {
                "per_step_s": c["second_wall_s"] / c["steps"],
                "compile_s": max(c["first_wall_s"] - c["second_wall_s"], 0.0),
                "seeds": int(c["seeds"]),
            }
    return out


def load_cpu_hours(path: pathlib.Path) -> dict[tuple[str, int], float]:
    """``(model, horizon) -> hours per cell`` of a ``grid_estimate.py`` report (the CPU's model ratios)."""
    rows = json.loads(pathlib.Path(path).read_text())["results"]
    return {(r["model"], int(r["horizon"])): float(r["hours_per_cell"]) for r in rows}


def _power_law(points: dict[int, float], horizon: int, exponent: float) -> float:
    hs = sorted(points)
    if horizon <= hs[0]:
        return points[hs[0]]  # held below the smallest measured horizon: errs high
    if len(hs) >= 2:
        lo = max((h for h in hs if h <= horizon), default=hs[0])
        hi = min((h for h in hs if h > horizon), default=None)
        if hi is None:  # beyond the largest: the last segment's exponent
            lo, hi = hs[-2], hs[-1]
        exponent = math.log(points[hi] / points[lo]) / math.log(hi / lo)
        return points[lo] * (horizon / lo) ** exponent
    return points[hs[0]] * (horizon / hs[0]) ** exponent


def per_step(model: str, horizon: int, cells: dict, cpu_hours: dict, anchor: str = "awm-transformer") -> dict:
    """The GPU seconds per environment step of ``model`` at ``horizon`` and the rule that gave it."""
    if anchor not in cells or len(cells[anchor]) < 2:
        raise SystemExit(
            f"the scaling needs {anchor} measured at two horizons, got {sorted(cells.get(anchor, {}))}"
        )
    pts = {h: v["per_step_s"] for h, v in cells[anchor].items()}
    (h0, c0), (h1, c1) = sorted(pts.items())[:2]
    exponent = math.log(c1 / c0) / math.log(h1 / h0)

    def measured(m: str) -> float:
        return _power_law({h: v["per_step_s"] for h, v in cells[m].items()}, horizon, exponent)

    def compile_s(m: str) -> float:
        nearest = min(cells[m], key=lambda h: abs(math.log(h / horizon)))
        return cells[m][nearest]["compile_s"]

    if model in cells:
        exact = horizon in cells[model]
        hs = sorted(cells[model])
        rule = "measured" if exact else f"power law in H through the measured H = {hs}"
        if not exact and len(hs) == 1:
            rule += f" with the {anchor}'s exponent {exponent:.3g}"
        if not exact and horizon < min(cells[model]):
            rule = f"held at the measured H = {min(cells[model])} (errs high)"
        return {"per_step_s": measured(model), "compile_s": compile_s(model), "rule": rule}
    floor = measured("markovian") if "markovian" in cells else 0.0
    ratio = None
    if (model, horizon) in cpu_hours and (anchor, horizon) in cpu_hours:
        ratio = cpu_hours[(model, horizon)] / cpu_hours[(anchor, horizon)]
    scaled = measured(anchor) * ratio if ratio is not None else 0.0
    if scaled >= floor and ratio is not None:
        rule = f"{anchor} x the CPU ratio {ratio:.3g}"
    else:
        rule = "the markovian floor" + ("" if ratio is None else f" (the CPU ratio {ratio:.3g} gives less)")
    return {"per_step_s": max(scaled, floor), "compile_s": compile_s(anchor), "rule": rule}


def _by_signature(rows: list[dict]) -> list[dict]:
    """One row per distinct (model, horizon, seeds, steps), as ``grid_estimate.py`` gives per timed cell:
    its hours per cell, its compile seconds and how many grid cells it stands for."""
    out: dict[tuple, dict] = {}
    for r in rows:
        key = (r["model"], r["horizon"], r["seeds"], r["steps"])
        if key not in out:
            out[key] = {
                "cell": r["name"], "model": r["model"], "horizon": r["horizon"], "seeds": r["seeds"],
                "steps": r["steps"], "hours_per_cell": r["seconds"] / 3600, "compile_s": r["compile_s"],
                "grid_cells": 0, "per_step_ms": r["per_step_ms"], "rule": r["rule"],
            }  # fmt: skip
        out[key]["grid_cells"] += 1
    return sorted(out.values(), key=lambda r: (r["horizon"], r["model"]))


def estimate(cells_of_grid, measured: dict, cpu_hours: dict) -> dict:
    """Per BPO cell its GPU seconds (training, compilation), and the totals run one cell after another."""
    from awmkit.bpo import BPOConfig

    default_steps = BPOConfig().steps
    rows, missing = [], []
    for cell in cells_of_grid:
        if cell.kind != "bpo":
            missing.append(cell.name)
            continue
        steps = int(cell.config.get("steps", default_steps))
        c = per_step(cell.model, cell.horizon, measured, cpu_hours)
        seeds_factor = max(1.0, cell.seeds / REFERENCE_SEEDS)
        rows.append({
            "name": cell.name, "model": cell.model, "horizon": cell.horizon, "seeds": cell.seeds,
            "steps": steps, "seconds": steps * c["per_step_s"] * seeds_factor, "compile_s": c["compile_s"],
            "per_step_ms": 1e3 * c["per_step_s"], "rule": c["rule"],
        })  # fmt: skip
    seconds = sum(r["seconds"] for r in rows)
    compile_s = sum(r["compile_s"] for r in rows)
    return {
        "results": _by_signature(rows),
        "cells": rows,
        "summary": {
            "cells": len(rows) + len(missing),
            "bpo_cells": len(rows),
            "not_estimated": missing,
            "hours": seconds / 3600,
            "compile_hours": compile_s / 3600,
            "hours_with_compile": (seconds + compile_s) / 3600,
        },
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--figure", default="figure5a")
    parser.add_argument("--budget", default="paper")
    parser.add_argument("--profile", default="awmkit")
    parser.add_argument("--device", default="h200", choices=sorted(MEASUREMENTS))
    parser.add_argument(
        "--measurements", default=None, help="a folder of paper_cell*.json (default: the device's)"
    )
    parser.add_argument(
        "--cpu-reference", default=str(CPU_REFERENCE), help="grid_estimate.py JSON: CPU model ratios"
    )
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)

    from awmkit.experiments import get_figure

    directory = pathlib.Path(args.measurements) if args.measurements else MEASUREMENTS[args.device]
    measured = load_cells(directory)
    cpu_hours = load_cpu_hours(pathlib.Path(args.cpu_reference))
    grid = get_figure(args.figure).cells(args.budget, args.profile)
    result = estimate(grid, measured, cpu_hours)
    report = {
        "benchmark": f"grid estimate on {args.device} from measurements: {args.figure} at budget {args.budget}",
        "machine": {"backend": f"{args.device}, from the measurements in {directory.name} (no GPU ran this)"},
        "config": {
            "figure": args.figure,
            "budget": args.budget,
            "profile": args.profile,
            "device": args.device,
            "measurements": os.path.relpath(directory, ROOT.parent),
            "cpu_reference": os.path.relpath(args.cpu_reference, ROOT.parent),
            "measured_per_step_ms": {
                m: {h: 1e3 * v["per_step_s"] for h, v in hs.items()} for m, hs in measured.items()
            },
        },  # fmt: skip
        "method": "steps x measured GPU seconds per environment step (see the script's docstring); an upper bound",
        **result,
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        pathlib.Path(args.out).write_text(text + "\n")
    s = result["summary"]
    print(
        f"{args.figure} at {args.budget} on {args.device}: {s['hours']:.2f} h of training + "
        f"{s['compile_hours']:.2f} h compilation over {s['bpo_cells']} BPO cells; "
        f"{len(s['not_estimated'])} other cells not estimated",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

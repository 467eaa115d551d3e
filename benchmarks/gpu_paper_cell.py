"""The GPU benchmark of issue 14: on one H100/H200, in under 10 minutes, how fast are the pieces of
BPO and a paper-budget cell, and how many cells should share the GPU?

Sections, run in this order (the JSON is rewritten after each, so a run stopped by a time limit keeps
what it measured; ``--budget`` seconds, default 540, skips sections that would not fit):

1. ``paper_cell``: one cell on the authors' schedule (HIV treatment, H = 100, transformer AWM, 10
   seeds, ``BPOConfig(steps=20_000)``) run twice in one process: the first run includes compilation,
   the second (same program, other key) does not; its wall time is extrapolated to the paper's 200 000
   steps by the ratio of training iterations, next to ``awmkit.bpo.estimate_run``'s prediction.
2. ``updates``: one policy gradient (batch 16) and one teacher-forced model update (64 episodes) of the
   transformer AWM and HWM at H = 100 and 500 (``benchmarks/policy_gradient.py`` rows), with XLA's FLOP
   counts and the fraction of the measured matmul peak (float32, 8192^3; TF32 if JAX uses it).
3. ``generation``: time per generated token at H = 20, 100, 500, before/after cache layouts, ``scan``
   unroll 1/2/4/8 up to H = 100 (``benchmarks/generation.py``).
4. ``sharing``: ``k`` = 2 and 4 processes on the GPU at once, each with
   ``XLA_PYTHON_CLIENT_MEM_FRACTION = 0.9 / k``, each running the same 10-seed cell (20 000 steps;
   the persistent compilation cache of section 1 should make their compilation a cache read; the walls
   include it either way); the aggregate throughput (seed-steps per second) against one cell alone says
   how many cells to pack per GPU. ``--quick`` runs every section at toy sizes (a CPU check of the
   script: it ran end to end on the 2-core CPU).

Exact command on the device machine (the repository root; ``$OUT`` is kept)::

    pip install -q -e '.[cuda]' && python benchmarks/gpu_paper_cell.py --out "$OUT/gpu_paper_cell.json"

then commit ``gpu_paper_cell.json`` as ``benchmarks/results/gpu_paper_cell_h200.json``. The machine is
named in ``machine.device``. Figure 5a's paper grid on that GPU, packed as the ``sharing`` section found
best, is a second call once that file is in the tree (compilation of 20 cells' pieces dominates it)::

    python benchmarks/grid_estimate.py --pack-from benchmarks/results/gpu_paper_cell_h200.json \\
        --out "$OUT/figure5a_paper_estimate_h200.json"
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import jax

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import generation  # noqa: E402
import policy_gradient  # noqa: E402

CELL = {"env": "hiv_treatment", "horizon": 100, "model": "awm-transformer", "seeds": 10, "steps": 20_000}

_CELL_SCRIPT = """
import json, sys, time
import awmkit
from awmkit.bpo import BPOConfig, train
cell = json.loads(sys.argv[1])
env = awmkit.envs.make(cell["env"], horizon=cell["horizon"])
start = time.time()
result = train(env, BPOConfig(steps=cell["steps"]), model=cell["model"], key=cell.get("key", 0),
               seeds=cell["seeds"], progress=False)
print(json.dumps({"start": start, "end": time.time(), "wall_s": result.wall_time_s,
                  "num_traces": result.num_traces,
                  "final_return": [float(x) for x in result.final_return]}))
"""


def _write(report, path):
    if path:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(path, "w") as f:
            f.write(json.dumps(report, indent=2) + "\n")


def paper_cell(cell=CELL) -> dict:
    import awmkit
    from awmkit.bpo import BPOConfig, estimate_run, train

    env = awmkit.envs.make(cell["env"], horizon=cell["horizon"])
    config = BPOConfig(steps=cell["steps"])
    first = train(env, config, model=cell["model"], key=0, seeds=cell["seeds"], progress=False)
    second = train(env, config, model=cell["model"], key=1, seeds=cell["seeds"], progress=False)
    paper = BPOConfig()
    factor = paper.iterations(cell["horizon"]) / config.iterations(cell["horizon"])
    estimate = estimate_run(env, cell["model"], paper, seeds=cell["seeds"])
    return {
        **cell,
        "first_run_s": first.wall_time_s,
        "compile_s_approx": first.wall_time_s - second.wall_time_s,
        "run_s": second.wall_time_s,
        "second_run_traces": second.num_traces,
        "extrapolated_200k_s": second.wall_time_s * factor,
        "extrapolation_factor": factor,
        "estimate_run_200k_s": estimate.seconds,
        "estimate_run_breakdown": estimate.breakdown,
        "estimate_compile_s": estimate.compile_s,
        "final_return_20k": [float(x) for x in second.final_return],
    }


UPDATE_ROWS = (
    "awm-transformer",
    "hwm-transformer",
    "update/awm-transformer",
    "update/hwm-transformer",
    "update/awm-transformer/dpa",
)


def updates(horizons=(100, 500), names=UPDATE_ROWS, peak_size=8192) -> dict:
    peak = policy_gradient.matmul_peak(peak_size)
    rows = []
    for horizon in horizons:
        for name in names:
            row = policy_gradient._measure(name, horizon, 16, 5, jax.random.key(0), 64)
            if row.get("flops"):
                row["peak_fraction"] = row["flops"] / row["time_s"] / peak
            rows.append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "times_s"}), file=sys.stderr, flush=True)
    return {"matmul_peak_flops": peak, "results": rows}


def generation_rows(horizons=(20, 100, 500)) -> dict:
    rows = generation.measure(list(horizons), 16, 5, [2, 4, 8], unroll_up_to=100)
    return {"summary": generation.summary(rows), "results": rows}


def sharing(ks=(2, 4), cell=CELL) -> dict:
    out = {}
    for k in ks:
        env = {**os.environ, "XLA_PYTHON_CLIENT_MEM_FRACTION": f"{0.9 / k:.3f}"}
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", _CELL_SCRIPT, json.dumps({**cell, "key": 10 + j})],
                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )  # fmt: skip
            for j in range(k)
        ]
        results = []
        for p in procs:
            stdout, stderr = p.communicate()
            if p.returncode != 0:
                raise RuntimeError(stderr[-2000:])
            results.append(json.loads(stdout.strip().splitlines()[-1]))
        span = max(r["end"] for r in results) - min(r["start"] for r in results)
        out[str(k)] = {
            "processes": k,
            "mem_fraction_each": 0.9 / k,
            "walls_s": [r["wall_s"] for r in results],
            "span_s": span,
            "seed_steps_per_s": k * cell["seeds"] * cell["steps"] / span,
        }
        print(json.dumps(out[str(k)]), file=sys.stderr, flush=True)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=None)
    parser.add_argument("--budget", type=float, default=540.0, help="seconds; later sections are skipped")
    parser.add_argument("--quick", action="store_true", help="a tiny smoke run of every section (CPU check)")
    args = parser.parse_args(argv)
    cell = CELL
    if args.quick:
        cell = {"env": "cancer_treatment", "horizon": 20, "model": "markovian", "seeds": 2, "steps": 1600}
    t0 = time.perf_counter()
    cache = os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", tempfile.mkdtemp(prefix="awmkit-jax-cache-"))
    jax.config.update("jax_compilation_cache_dir", cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
    report = {"benchmark": "GPU paper cell (issue 14)", "machine": policy_gradient._machine(), "sections": {}}
    # Rough upper bounds of each section's seconds on an H200, to skip what would not fit.
    plan = [
        ("paper_cell", lambda: paper_cell(cell), 240),
        ("updates", (lambda: updates((20,), ("update/markovian",), 256)) if args.quick else updates, 150),
        ("generation", (lambda: generation_rows((20,))) if args.quick else generation_rows, 90),
        ("sharing", lambda: sharing((2,) if args.quick else (2, 4), cell), 200),
    ]
    for name, fn, cost in plan:
        elapsed = time.perf_counter() - t0
        if elapsed + cost > args.budget and name != "paper_cell":
            report["sections"][name] = {"skipped": f"{elapsed:.0f} s spent, ~{cost} s more needed"}
            continue
        start = time.perf_counter()
        try:
            report["sections"][name] = fn()
        except Exception as error:  # noqa: BLE001 - keep the other sections' results
            report["sections"][name] = {"error": repr(error)[-2000:]}
        report["sections"][name + "_seconds"] = time.perf_counter() - start
        _write(report, args.out)
    cell = report["sections"].get("paper_cell", {})
    if "run_s" in cell:
        one = cell["seeds"] * cell["steps"] / cell["run_s"]
        sections = report["sections"].get("sharing", {})
        shared = {k: v["seed_steps_per_s"] for k, v in sections.items() if "seed_steps_per_s" in v}
        report["summary"] = {
            "paper_cell_200k_minutes": cell["extrapolated_200k_s"] / 60,
            "seed_steps_per_s_one_cell": one,
            "seed_steps_per_s_shared": shared,
        }
    _write(report, args.out)
    print(json.dumps(report.get("summary", {}), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Runs one benchmark script against two source trees of awmkit in alternation (before, after,
before, after...) and merges the JSON reports, so that a before/after table is measured
interleaved on a shared machine (the load changes both sides alike).

Usage (the old tree, e.g. ``git archive <commit> awmkit | tar -x -C /tmp/old``)::

    python benchmarks/interleave_trees.py --tree before=/tmp/old --tree after=. --rounds 2 \\
        --out benchmarks/results/policy_gradient_cpu.json -- \\
        benchmarks/policy_gradient.py --models awm-transformer update/awm-transformer --horizons 100 500

Each round runs the script once per tree in a fresh process (``PYTHONPATH=<tree>``), the order
alternating between rounds (before, after, after, before, ...); rows are keyed by
``(model or variant, horizon)`` and get the tree's name in ``tree``; ``time_s`` is the median of the
rows' medians over rounds and ``round_times_s`` keeps each. ``speedup`` gives before/after per row.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile


def _run(tree: str, script: list[str], out: str) -> dict:
    env = {**os.environ, "PYTHONPATH": os.path.abspath(tree)}
    subprocess.run([sys.executable, *script, "--out", out], env=env, check=True, stdout=subprocess.DEVNULL)
    with open(out) as f:
        return json.load(f)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", action="append", required=True, help="NAME=PATH (give two)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", required=True)
    parser.add_argument("script", nargs=argparse.REMAINDER, help="-- SCRIPT ARGS...")
    args = parser.parse_args(argv)
    trees = [t.split("=", 1) for t in args.tree]
    script = [a for a in args.script if a != "--"]
    load_before = os.getloadavg()
    reports: dict[str, list[dict]] = {name: [] for name, _ in trees}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            # ABBA: the trees alternate which goes first, so a load that rises (or falls) through a
            # round does not favour one side.
            for name, path in trees if r % 2 == 0 else trees[::-1]:
                reports[name].append(_run(path, script, os.path.join(tmp, f"{name}-{r}.json")))
                print(f"round {r} {name} done, load {os.getloadavg()[0]:.1f}", file=sys.stderr, flush=True)
    rows = []
    for name, _ in trees:
        by_key: dict[tuple, list[dict]] = {}
        for report in reports[name]:
            for row in report["results"]:
                key = (row.get("model") or row.get("variant"), row["horizon"], row.get("unroll"))
                by_key.setdefault(key, []).append(row)
        for group in by_key.values():
            merged = {**group[0], "tree": name}
            merged["round_times_s"] = [g["time_s"] for g in group]
            merged["time_s"] = statistics.median(merged["round_times_s"])
            merged["min_s"] = min(g.get("min_s", g["time_s"]) for g in group)
            merged.pop("times_s", None)
            if merged.get("flops"):
                peak = max(rep["machine"].get("matmul_peak_flops", 0) for rep in reports[name]) or None
                merged["gflops_per_s"] = merged["flops"] / merged["time_s"] / 1e9
                merged["peak_fraction"] = None if peak is None else merged["flops"] / merged["time_s"] / peak
            rows.append(merged)
    (first, _), (second, _) = trees[0], trees[1]
    times = {(r["tree"], r.get("model") or r.get("variant"), r["horizon"]): r["time_s"] for r in rows}
    speedup = {
        f"{m}@H{h}": times[(first, m, h)] / times[(second, m, h)]
        for (t, m, h) in times
        if t == second and (first, m, h) in times
    }
    machine = reports[second][0]["machine"]
    report = {
        "benchmark": f"{script[0]} interleaved over trees {', '.join(n for n, _ in trees)}",
        "machine": {
            **machine,
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
            "matmul_peak_flops": max(
                rep["machine"].get("matmul_peak_flops", 0) for v in reports.values() for rep in v
            ),
        },
        "config": {
            "rounds": args.rounds,
            "trees": dict(trees),
            "script": script,
            **reports[second][0]["config"],
        },
        f"speedup_{first}_over_{second}": speedup,
        "results": rows,
    }
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        f.write(json.dumps(report, indent=2) + "\n")
    print(json.dumps(speedup, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

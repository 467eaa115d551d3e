"""Is ``awmkit.bpo.estimate_run`` right? Its prediction beside the measured wall time of the same run.

For each case (system, model, horizon, seeds, steps) the script predicts the run with
``estimate_run`` (one group of seeds timed, scaled by the groups), then trains it twice in this process
with ``awmkit.bpo.train`` (the second run, another key, reuses the first one's compiled chunk, so its wall
time is the training alone, which is what the estimate predicts) and reports ``predicted / measured``.
The default case is the paper's cost centre at a size a CPU finishes in minutes: the transformer AWM at
H = 100 on four seeds (two groups of two on a CPU) for 3 000 steps (750 model and 93 policy updates per
seed after the 1 500 warm-up steps).

Run (CPU, ~10 minutes)::

    python benchmarks/estimate_accuracy.py --out benchmarks/results/estimate_accuracy_cpu.json
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from policy_gradient import _machine, write_report  # noqa: E402


def _case(text: str) -> dict:
    env, model, horizon, seeds, steps = text.split(":")
    return {"env": env, "model": model, "horizon": int(horizon), "seeds": int(seeds), "steps": int(steps)}


def measure(case: dict, repeats: int) -> dict:
    import numpy as np

    import awmkit
    from awmkit.bpo import BPOConfig, estimate_run, train

    env = awmkit.envs.make(case["env"], horizon=case["horizon"])
    config = BPOConfig(steps=case["steps"])
    start = time.perf_counter()
    estimate = estimate_run(env, case["model"], config, seeds=case["seeds"], repeats=repeats)
    estimate_wall = time.perf_counter() - start
    runs = []
    for key in (0, 1):
        result = train(env, config, model=case["model"], key=key, seeds=case["seeds"], progress=False)
        runs.append({"wall_s": result.wall_time_s, "num_traces": result.num_traces})
        updates = np.asarray(result.state.dynamics_updates).tolist(), np.asarray(result.state.policy_updates).tolist()
    measured = runs[1]["wall_s"]
    return {
        **case,
        "predicted_s": estimate.seconds,
        "measured_s": measured,
        "predicted_over_measured": estimate.seconds / measured,
        "first_run_s": runs[0]["wall_s"],
        "second_run_traces": runs[1]["num_traces"],
        "counts": estimate.counts,
        "measured_updates": {"model": updates[0], "policy": updates[1]},
        "breakdown_s": estimate.breakdown,
        "group_size": estimate.group_size,
        "timed_seeds": estimate.timed_seeds,
        "inner": estimate.inner,
        "estimate_wall_s": estimate_wall,
        "estimate_compile_s": estimate.compile_s,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--case",
        type=_case,
        action="append",
        help="ENV:MODEL:H:SEEDS:STEPS (repeatable; default hiv_treatment:awm-transformer:100:4:3000)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="the estimate's timed calls per piece")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    cases = args.case or [_case("hiv_treatment:awm-transformer:100:4:3000")]
    load_before = os.getloadavg()
    rows = [measure(case, args.repeats) for case in cases]
    report = {
        "benchmark": "estimate accuracy: estimate_run's prediction over a measured run (compilation excluded)",
        "machine": {**_machine(), "load_average_before": load_before, "load_average_after": os.getloadavg()},
        "config": {"repeats": args.repeats, "measured": "the second of two runs in one process (compiled once)"},
        "results": rows,
    }
    write_report(report, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""What the Benchmarks page shows of each results file: a title, a takeaway computed from the file, and
the few columns and rows that carry it (``docs/gen_benchmarks.py`` renders them).

A spec is keyed by the results file's stem with its device suffix removed (``env_step_cpu`` ->
``env_step``), so a GPU file of the same benchmark (``env_step_gpu.json``, ``env_step_h200.json``) is
shown beside the CPU one with the same columns. ``rows(data)`` returns the row objects, ``columns`` are
``(key, header)`` pairs (``a.b`` reads a nested key), ``takeaway(data)`` a sentence or ``None``.
"""


def _get(row: dict, key: str):
    for part in key.split("."):
        if not isinstance(row, dict) or part not in row:
            return None
        row = row[part]
    return row


def _mean(values):
    return sum(values) / len(values) if values else None


def _bpo_takeaway(d):
    rows = [r for r in d["results"] if r["model"] == "awm-transformer" and r.get("model_update_s")]
    if not rows:
        return None
    r = max(rows, key=lambda r: r["horizon"])
    return (
        f"An awm-transformer iteration at H = {r['horizon']} spends {r['model_update_s']:.2f} s on model updates "
        f"against {r['policy_update_s']:.2f} s on policy updates (10 seeds); a paper-budget cell there is about "
        f"{r['paper_budget']['hours']:.0f} hours. Few samples per kind: `awmkit estimate` is the finer tool."
    )


def _growth_takeaway(d):
    return (
        "Verdicts of the growth fit: "
        + ", ".join(f"{k} {v['verdict']}" for k, v in d["models"].items())
        + "."
    )


def _speedups(d):
    return [{"case": k, "speedup": v} for k, v in d["speedup_before_over_after"].items()]


def _before_after_rows(d):
    times = {(r["tree"], r["model"], r["horizon"]): r["time_s"] for r in d["results"]}
    return [
        {
            "case": k,
            "before": times[("before", *_case(k))],
            "after": times[("after", *_case(k))],
            "speedup": v,
        }
        for k, v in d["speedup_before_over_after"].items()
    ]


def _case(key: str) -> tuple[str, int]:
    model, h = key.rsplit("@H", 1)
    return model, int(h)


def _schedule_rows(d):
    return [
        {
            **{k: r[k] for k in ("model", "env", "horizon")},
            "old": r["old"]["normalised_return"]["mean"],
            "new": r["new"]["normalised_return"]["mean"],
            "old_updates": r["old"]["dynamics_updates"][0],
            "new_updates": r["new"]["dynamics_updates"][0],
        }
        for r in d["rows"]
    ]


def _pivot_pg(d):
    out = {}
    for r in d["results"]:
        if r["batch"] == 16 and not r["model"].startswith("update/"):
            out.setdefault(r["model"], {"model": r["model"]})[f"H{r['horizon']}"] = r["time_s"]
    return list(out.values())


def _step_takeaway(d):
    rows = [r for r in d["results"] if r["mode"] == "rollout" and r["batch"] == 1 and r["horizon"] == 100]
    by = {p: _mean([r["us_per_env_step"] for r in rows if r["path"] == p]) for p in ("diffeqsolve", "plain")}
    return (
        f"A step costs {min(r['us_per_env_step'] for r in rows):.2f}-{max(r['us_per_env_step'] for r in rows):.1f} µs "
        f"in a compiled rollout; going through `diffeqsolve` costs {by['diffeqsolve'] / by['plain']:.0f}x a plain step."
    )


def _timed_load(d: dict) -> str:
    """Where a grid estimate was timed: the CPU's load average, or the GPU measurements it scales."""
    m = d.get("machine", {})
    if "load_average_before" not in m:
        return f"{m.get('backend', 'no machine recorded')}"
    before, after = m["load_average_before"][0], m["load_average_after"][0]
    return f"the 2-core CPU, timed beside other jobs: 1-minute load average {before:.1f} before, {after:.1f} after"


def _medium_estimate_spec(title: str, grid: str) -> dict:
    """The spec of a medium-budget grid estimate (`benchmarks/grid_estimate.py --budget medium`)."""
    return {
        "title": title,
        "rows": lambda d: d["results"],
        "columns": [("model", "model"), ("horizon", "H"), ("hours_per_cell", "hours per cell"),
                    ("grid_cells", "cells like it")],
        "takeaway": lambda d: (
            f"{d['summary']['cells']} cells ({grid}), about "
            f"{d['summary']['hours']:.1f} hours one after another ({_timed_load(d)}); the H200 estimate "
            "(`benchmarks/grid_estimate_gpu.py`, from the committed H200 cells: an upper bound) is below."
        ),
    }  # fmt: skip


SPECS: dict[str, dict] = {
    "bpo_throughput": {
        "title": "BPO throughput by kind of iteration",
        "rows": lambda d: d["results"],
        "columns": [("model", "model"), ("horizon", "H"), ("collect_s", "collect (s)"),
                    ("model_update_s", "model update (s)"), ("policy_update_s", "policy update (s)"),
                    ("paper_budget.hours", "paper-budget cell (h)")],
        "takeaway": _bpo_takeaway,
    },
    "diagnostics_growth": {
        "title": "Gradient growth with the horizon, learned models (double pendulum)",
        "rows": lambda d: [{"name": k, **v} for k, v in d["models"].items()],
        "columns": [("name", "model"), ("verdict", "verdict"), ("exponential.r2", "R² exp."),
                    ("polynomial.r2", "R² poly."), ("loss_last", "final loss"), ("train_seconds", "training (s)")],
        "takeaway": _growth_takeaway,
    },
    "double_pendulum_accuracy": {
        "title": "Double pendulum integrators against a DOP853 reference",
        "rows": lambda d: [r for r in d["accuracy"] if r["horizon"] == max(x["horizon"] for x in d["accuracy"])],
        "columns": [("precision", "precision"), ("integrator", "integrator"), ("horizon", "H"),
                    ("max_error", "max error"), ("median_error", "median error")],
        "takeaway": lambda d: f"The default integrator is {d['default']}; errors at the longest horizon measured.",
    },
    "env_accuracy": {
        "title": "Myriad integrators against a DOP853 reference",
        "rows": lambda d: d["results"],
        "columns": [("env", "system"), ("horizon", "H"), ("euler.max_rel", "Euler max rel. error"),
                    ("tsit5.max_rel", "Tsit5"), ("euler.return_abs_dev", "Euler return deviation")],
        "takeaway": lambda d: (
            f"Explicit Euler (the paper's) is within {max(_get(r, 'euler.max_rel') or 0 for r in d['results']):.1%} "
            "of the reference state on every system; Tsit5 matches it to float precision."
        ),
    },
    "env_step": {
        "title": "Environment step cost (rollout, one episode)",
        "rows": lambda d: [r for r in d["results"] if r["mode"] == "rollout" and r["batch"] == 1 and r["horizon"] == 100],
        "columns": [("env", "system"), ("solver", "solver"), ("path", "path"), ("us_per_env_step", "µs per step"),
                    ("first_call_s", "first call (s)")],
        "takeaway": lambda d: _step_takeaway(d),
    },
    "estimate_accuracy": {
        "title": "`awmkit estimate` against a measured run",
        "rows": lambda d: d["results"],
        "columns": [("model", "model"), ("env", "system"), ("horizon", "H"), ("seeds", "seeds"),
                    ("predicted_s", "predicted (s)"), ("measured_s", "measured (s)"),
                    ("predicted_over_measured", "ratio")],
        "takeaway": lambda d: f"The estimate is {d['results'][0]['predicted_over_measured']:.2f}x the measured time.",
    },
    "figure5a_paper_estimate": {
        "title": "Figure 5a at the paper's budget: predicted CPU time",
        "rows": lambda d: d["results"],
        "columns": [("model", "model"), ("horizon", "H"), ("hours_per_cell", "hours per cell"),
                    ("grid_cells", "cells like it")],
        "takeaway": lambda d: (
            f"{d['summary']['cells']} cells, about {d['summary']['hours']:,.0f} CPU-hours one after another "
            f"({d['summary']['hours_one_setting']:,.0f} without the entropy sweep): a GPU cluster's grid."
        ),
    },
    "figure2_medium_estimate": _medium_estimate_spec(
        "Figures 2 and 6 at the medium budget: predicted CPU and H200 time", "H = 20, 50, 100; 5 seeds; 20 000 steps"
    ),
    "figure5a_medium_estimate": _medium_estimate_spec(
        "A Figure 5a slice at the medium budget (H = 200, 500): predicted CPU and H200 time",
        "bioreactor and cancer treatment, 5 seeds, 20 000 steps",
    ),
    "figure5a_paper_estimate_cpu_packed": {
        "title": "Figure 5a at the paper's budget: predicted CPU time with packed entropy sweeps",
        "rows": lambda d: d["results"],
        "columns": [("model", "model"), ("horizon", "H"), ("hours_per_cell", "hours per cell (share)"),
                    ("grid_cells", "cells like it")],
        "takeaway": lambda d: (
            f"{d['summary']['cells']} cells in {d['summary']['programs']} packed programs, about "
            f"{d['summary']['hours']:,.0f} CPU-hours one after another ({_timed_load(d)}): not comparable with the "
            "unpacked estimate above (timed at load 1.5); packing saves compilations, not time, on a CPU. "
            "Re-measure on an idle machine."
        ),
    },
    "generation": {
        "title": "Token-by-token generation (imagined rollouts)",
        "rows": lambda d: d["results"],
        "columns": [("variant", "variant"), ("horizon", "H"), ("us_per_token", "µs per token"),
                    ("compile_s", "compile (s)")],
        "takeaway": lambda d: f"The current code is {d['summary']['speedup_after_over_before_H500']:.1f}x faster than before at H = 500.",
    },
    "long_horizon": {
        "title": "State-space against transformer AWM at long horizons",
        "rows": lambda d: d["results"],
        "columns": [("horizon", "H"), ("awm-ssm.policy_gradient_s", "SSM policy gradient (s)"),
                    ("awm-transformer.policy_gradient_s", "transformer (s)"),
                    ("transformer_over_ssm_policy_gradient_s", "ratio"),
                    ("awm-ssm.model_update_s", "SSM model update (s)"),
                    ("awm-transformer.model_update_s", "transformer (s)")],
        "takeaway": lambda d: (
            f"The SSM's policy gradient is {d['results'][-1]['transformer_over_ssm_policy_gradient_s']:.1f}x "
            f"faster than the transformer's at H = {d['results'][-1]['horizon']}."
        ),
    },
    "model_update_bound": {
        "title": "How close a model update is to the CPU's peak",
        "rows": lambda d: d["results"],
        "columns": [("row", "case"), ("width", "width"), ("time_s", "time (s)"), ("gflops_per_s", "GFLOP/s"),
                    ("peak_fraction", "of peak")],
        "takeaway": lambda d: f"Matrix products are {d['matmul_share']['share_of_time']:.0%} of a width-48 update's time.",
    },
    "gpu_helper_cpu_before_after": {
        "title": "CPU programs before and after packed runs and the precision policy",
        "rows": lambda d: d["hlo_sha256"],
        "columns": [("program", "program"), ("before", "optimised HLO before"), ("after", "after")],
        "takeaway": lambda d: (
            "The optimised CPU programs of the policy gradient and the model update are byte-identical "
            "before and after" if d["optimised_hlo_identical"] else "The optimised CPU programs changed."
        ) + " (the interleaved timings ran on a loaded machine and are noise: see the notes).",
    },
    "gpu_cpu_before_after": {
        "title": "CPU policy gradient and model update before and after issue 19 (interleaved, ABBA)",
        "rows": _before_after_rows,
        "columns": [("case", "case"), ("before", "before (s)"), ("after", "after (s)"),
                    ("speedup", "before / after")],
        "takeaway": lambda d: (
            ("The optimised CPU programs of the policy gradient and the model update are byte-identical before "
             "and after" if d["optimised_hlo_identical"] else "The optimised CPU programs changed")
            + f"; the interleaved medians ({d['config']['rounds']} rounds, load "
            f"{d['machine']['load_average_before'][0]:.0f}-{d['machine']['load_average_after'][0]:.0f} on 2 cores: "
            f"before/after {min(d['speedup_before_over_after'].values()):.2f}-"
            f"{max(d['speedup_before_over_after'].values()):.2f}) are load noise."
        ),
    },
    "precision_error": {
        "title": "Gradient error of each matmul precision policy against float64",
        "rows": lambda d: d["results"],
        "columns": [("model", "model"), ("horizon", "H"), ("precision", "precision"),
                    ("policy_gradient", "policy gradient"), ("model_gradient", "model update")],
        "takeaway": lambda d: (
            "Relative errors against float64: tf32 "
            f"{max(r['policy_gradient'] for r in d['results'] if r['precision'] == 'tf32'):.1e}, bf16 "
            f"{max(r['policy_gradient'] for r in d['results'] if r['precision'] == 'bf16'):.1e} on the policy "
            "gradient (float32 stays near 1e-6)."
        ),
    },
    "policy_gradient_before_after": {
        "title": "Policy-gradient speed-ups of the last optimisation",
        "rows": _speedups,
        "columns": [("case", "case"), ("speedup", "before / after")],
        "takeaway": None,
    },
    "policy_gradient": {
        "title": "One policy gradient (batch 16, hiv_treatment) by model and horizon",
        "rows": _pivot_pg,
        "columns": [("model", "model"), ("H20", "H = 20 (s)"), ("H100", "H = 100 (s)"), ("H500", "H = 500 (s)")],
        "takeaway": lambda d: (
            f"Teacher-forced gradients of the transformer AWM are {d['speedup_teacher_forced']['500']:.1f}x "
            "faster than sequential ones at H = 500."
        ),
    },
    "schedule_comparison": {
        "title": "The authors' update schedule against the earlier per-episode one",
        "rows": _schedule_rows,
        "columns": [("model", "model"), ("env", "system"), ("horizon", "H"), ("old", "normalised return, old"),
                    ("new", "new"), ("old_updates", "model updates, old"), ("new_updates", "new")],
        "takeaway": lambda d: (
            f"With {d['steps']} steps and {d['seeds']} seeds the authors' schedule raises the mean normalised "
            f"return in {sum(r['new'] > r['old'] for r in _schedule_rows(d))} of {len(d['rows'])} cells."
        ),
    },
    "seed_groups": {
        "title": "Seeds vmapped together: time per seed",
        "rows": lambda d: d["results"],
        "columns": [("work", "work"), ("group_size", "group size"), ("per_seed_s", "per seed (s)")],
        "takeaway": lambda d: f"On this CPU, groups of {d['summary']['best_group_size']} seeds are fastest.",
    },
    "trajopt_robustness": {
        "title": "Shipped optimal references against a wider search",
        "rows": lambda d: d["rows"],
        "columns": [("env", "system"), ("horizon", "H"), ("shipped_optimal", "shipped"),
                    ("wide_search_optimal", "wide search"), ("wide_minus_shipped", "difference"),
                    ("wide_restarts", "restarts")],
        "takeaway": lambda d: (
            "The wider search improves no shipped reference by more than "
            f"{max(r['wide_minus_shipped'] for r in d['rows']):.2g}."
        ),
    },
}  # fmt: skip

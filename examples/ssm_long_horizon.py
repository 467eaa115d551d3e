"""Long horizons: BPO with the state-space AWM beside the transformer AWM at H = 500, 1 000 and 2 000.

For each Myriad system and horizon, ``awmkit.bpo.train`` runs Backpropagation-based Policy Optimization
with ``awm-ssm`` (stable diagonal recurrences: O(1) per generated step, one parallel pass for the
policy gradient) and with ``awm-transformer`` (the paper's AWM, O(H^2)), on the same schedule, seeds and
budget, and the final evaluation returns are normalised (0 = uniformly random actions, 1 = trajectory
optimisation on the true dynamics). References are the shipped ones where they exist (``awmkit
references``); otherwise the script computes them with ``awmkit.baselines.trajopt`` (reduced settings,
stated in the output) and ``awmkit.envs.random_return``. The figure shows the normalised returns (IQM
over seeds with 95% stratified-bootstrap intervals, ``awmkit.evaluation.stratified_bootstrap_ci``) and
the wall time of each run against the horizon.

The budget is tiny compared with the paper's (200 000 environment steps per seed): on a 2-core CPU one
BPO iteration of the paper's schedule at H = 2 000 is 1 000 model and 125 policy updates. The script
therefore runs ``--episodes`` episodes after one warm-up episode, with ``--model-updates`` and
``--policy-updates`` per episode (the schedule's ``*_update_every`` is ``H`` divided by them) and small
batches. The numbers it prints say what that budget buys; the same script with the paper's schedule
is a GPU job::

    python examples/ssm_long_horizon.py --envs cancer_treatment bioreactor hiv_treatment harvest \\
        --seeds 5 --episodes 100 --model-updates 500 --policy-updates 62 --model-batch 64 --policy-batch 16

``--quick`` runs H = 50 (a shipped reference) and 150 (a reference computed here) on one system with
two seeds (a few minutes, mostly compilation).

Run ``python examples/ssm_long_horizon.py --quick``.
"""

import argparse
import json
import pathlib
import time

import jax
import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt

import awmkit

MODELS = ("awm-ssm", "awm-transformer")
#: Cheaper trajectory-optimisation settings for references that are not shipped (long horizons).
REFERENCE_SETTINGS = awmkit.baselines.TrajOptSettings(adam_steps=150, lbfgs_steps=100, random_restarts=0)


def reference(env_name: str, horizon: int, random_episodes: int) -> dict:
    """The shipped reference, or one computed here (trajopt with `REFERENCE_SETTINGS`)."""
    try:
        ref = awmkit.evaluation.reference(env_name, horizon)
        return {"optimal": ref.optimal_return, "random": ref.random_return, "source": "shipped"}
    except awmkit.evaluation.MissingReferenceError:
        pass
    start = time.perf_counter()
    ref = awmkit.evaluation.compute_reference(
        env_name, horizon, settings=REFERENCE_SETTINGS, random_episodes=random_episodes
    )
    return {
        "optimal": ref.optimal_return,
        "random": ref.random_return,
        "source": f"computed here: trajopt {REFERENCE_SETTINGS.to_dict()}, {random_episodes} random episodes",
        "seconds": time.perf_counter() - start,
    }


def run_cell(env_name, horizon, model, args) -> dict:
    env = awmkit.envs.make(env_name, horizon=horizon)
    config = awmkit.bpo.BPOConfig(
        steps=horizon * (1 + args.episodes),
        warmup_steps=horizon,
        dynamics_update_every=max(1, horizon // args.model_updates),
        policy_update_every=max(1, horizon // args.policy_updates),
        dynamics_batch_size=args.model_batch,
        policy_batch_size=args.policy_batch,
        policy_lr=1e-3,  # a short budget needs a larger step than the paper's 1e-4
        eval_interval=horizon * (1 + args.episodes),
        eval_episodes=1,  # deterministic systems: one episode of the mean policy suffices
        chunk_size=1,
    )
    run = awmkit.bpo.train(env, config, model=model, key=args.key, seeds=args.seeds, progress=False)
    return {
        "final_returns": np.asarray(run.eval_returns[-1]).tolist(),
        "wall_time_s": run.wall_time_s,
        "dynamics_update_every": config.dynamics_update_every,
        "policy_update_every": config.policy_update_every,
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="H = 50 and 150, one system, 2 seeds")
    parser.add_argument("--out", default="docs/examples/img/ssm_long_horizon.png")
    parser.add_argument("--json", default=None, help="also write the summary here")
    parser.add_argument("--envs", nargs="+", default=None, choices=awmkit.evaluation.MYRIAD_ENVS)
    parser.add_argument("--horizons", nargs="+", type=int, default=None)
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--episodes", type=int, default=2, help="training episodes after the warm-up one")
    parser.add_argument("--model-updates", type=int, default=4, help="model updates per episode")
    parser.add_argument("--policy-updates", type=int, default=4, help="policy updates per episode")
    parser.add_argument("--model-batch", type=int, default=8)
    parser.add_argument("--policy-batch", type=int, default=4)
    parser.add_argument("--random-episodes", type=int, default=100, help="for references computed here")
    parser.add_argument("--key", type=int, default=0)
    args = parser.parse_args(argv)
    envs = args.envs or (["cancer_treatment"] if args.quick else ["cancer_treatment", "bioreactor"])
    horizons = args.horizons or ([50, 150] if args.quick else [500, 1000, 2000])
    args.seeds = args.seeds or (2 if args.quick else 3)

    refs, cells = {}, {}
    for env_name in envs:
        for horizon in horizons:
            ref = refs[f"{env_name}/{horizon}"] = reference(env_name, horizon, args.random_episodes)
            for model in MODELS:
                cell = run_cell(env_name, horizon, model, args)
                returns = np.asarray(cell["final_returns"])
                cell["normalised"] = ((returns - ref["random"]) / (ref["optimal"] - ref["random"])).tolist()
                cells[f"{env_name}/{horizon}/{model}"] = cell
                print(f"{env_name} H={horizon} {model}: {cell['normalised']} ({cell['wall_time_s']:.0f} s)")

    # Per (model, horizon): IQM over every (system, seed) with a stratified bootstrap over seeds.
    summary_rows = {}
    for model in MODELS:
        for horizon in horizons:
            tasks = [np.asarray(cells[f"{e}/{horizon}/{model}"]["normalised"]) for e in envs]
            ci = awmkit.evaluation.stratified_bootstrap_ci(tasks)
            wall = [cells[f"{e}/{horizon}/{model}"]["wall_time_s"] for e in envs]
            summary_rows[f"{model}/{horizon}"] = {
                "iqm": ci.estimate,
                "ci95": [ci.low, ci.high],
                "wall_time_s": float(np.mean(wall)),
            }

    fig, (scores, times) = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    for i, model in enumerate(MODELS):
        rows = [summary_rows[f"{model}/{h}"] for h in horizons]
        x = np.asarray(horizons) * (1.0 + 0.04 * (i - 0.5))
        est = np.asarray([r["iqm"] for r in rows])
        err = np.abs(np.asarray([r["ci95"] for r in rows]).T - est)
        scores.errorbar(x, est, yerr=err, fmt="o-", color=f"C{i}", capsize=3, label=f"{model} (IQM, 95% CI)")
        for e in envs:
            for j, h in enumerate(horizons):
                values = cells[f"{e}/{h}/{model}"]["normalised"]
                scores.plot(np.full(len(values), x[j]), values, ".", color=f"C{i}", alpha=0.4, markersize=4)
        times.plot(horizons, [r["wall_time_s"] for r in rows], "o-", color=f"C{i}", label=model)
    scores.axhline(0.0, color="grey", linestyle="--", linewidth=0.8)
    scores.axhline(1.0, color="black", linestyle=":", linewidth=0.8)
    scores.set_xscale("log")
    scores.set_xticks(horizons, [str(h) for h in horizons])
    scores.set(
        xlabel="horizon H",
        ylabel="final normalised return",
        title=f"BPO, {args.episodes} episodes/seed, {args.seeds} seeds, {', '.join(envs)}",
    )
    scores.legend(fontsize=7)
    times.set(xscale="log", yscale="log", xlabel="horizon H", ylabel="wall time per run (s)")
    times.set_xticks(horizons, [str(h) for h in horizons])
    times.set_title("wall time of one BPO run (compilation included)")
    times.legend(fontsize=7)
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)

    summary = {
        "envs": envs,
        "horizons": horizons,
        "seeds": args.seeds,
        "budget": {
            "episodes_after_warmup": args.episodes,
            "model_updates_per_episode": args.model_updates,
            "policy_updates_per_episode": args.policy_updates,
            "model_batch": args.model_batch,
            "policy_batch": args.policy_batch,
        },
        "references": refs,
        "summary": summary_rows,
        "cells": cells,
        "figure": str(out),
    }
    text = json.dumps(summary, indent=2)
    print(text)
    if args.json:
        pathlib.Path(args.json).write_text(text + "\n")
    return summary


if __name__ == "__main__":
    main()

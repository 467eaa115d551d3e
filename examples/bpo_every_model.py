"""BPO on a Myriad system with every world model: the same Algorithm 1, only the model changes.

For each of ``markovian``, ``hwm-transformer``, ``awm-transformer``, ``awm-rnn``, ``awm-lstm`` and
``simulator``, ``awmkit.bpo.train`` runs Backpropagation-based Policy Optimization on one Myriad system,
all seeds of a model in one compiled, vmapped program, and every evaluation return is normalised with the
shipped references (0 = uniformly random actions, 1 = trajectory optimisation on the true dynamics).
The figure shows the normalised learning curves (mean and min/max over seeds, as in the paper's
Figure 7) and the final normalised returns of each model.

``--quick`` trains for a few hundred environment steps at ``H = 20`` (seconds of training per model; the
time is mostly compilation); the full run uses ``H = 100`` and 20 000 steps per seed, still far below the
paper's 200 000 (``--steps`` to change it).

Run ``python examples/bpo_every_model.py --quick``.
"""

import argparse
import json
import pathlib

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt

import awmkit

MODELS = ("markovian", "hwm-transformer", "awm-transformer", "awm-rnn", "awm-lstm", "simulator")


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="H = 20, a few hundred steps, 2 seeds")
    parser.add_argument("--out", default="docs/examples/img/bpo_every_model.png")
    parser.add_argument("--env", default="cancer_treatment", choices=awmkit.evaluation.MYRIAD_ENVS)
    parser.add_argument("--steps", type=int, default=None, help="environment steps per seed")
    args = parser.parse_args(argv)

    horizon = 20 if args.quick else 100
    steps = args.steps or (400 if args.quick else 20_000)
    config = awmkit.bpo.BPOConfig(
        steps=steps,
        warmup_steps=2 * horizon if args.quick else 1_500,
        policy_lr=1e-3,  # a short budget needs a larger step than the paper's 1e-4
        # The quick run thins the paper's schedule (every 2 / 16 environment steps) to stay quick.
        dynamics_update_every=10 if args.quick else 2,
        policy_update_every=5 if args.quick else 16,
        dynamics_batch_size=16 if args.quick else 64,
        policy_batch_size=4 if args.quick else 16,
        eval_interval=5 * horizon if args.quick else 2_000,
        eval_episodes=1,  # the systems are deterministic: one episode of the mean policy suffices
        chunk_size=5 if args.quick else 20,
    )
    seeds = 2 if args.quick else 5
    env = awmkit.envs.make(args.env, horizon=horizon)
    ref = awmkit.evaluation.reference(args.env, horizon)

    results = {}
    for name in MODELS:
        run = awmkit.bpo.train(env, config, model=name, key=0, seeds=seeds, progress=False)
        normalised = awmkit.evaluation.normalised_return(run.eval_returns, args.env, horizon)
        results[name] = {
            "eval_steps": [int(s) for s in run.eval_steps],
            "normalised": np.asarray(normalised).tolist(),
            "final_normalised": np.asarray(normalised[-1]).tolist(),
            "wall_time_s": run.wall_time_s,
        }

    fig, (curves, bars) = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    for i, (name, r) in enumerate(results.items()):
        values = np.asarray(r["normalised"])
        curves.plot(r["eval_steps"], values.mean(axis=1), color=f"C{i}", label=name)
        curves.fill_between(
            r["eval_steps"], values.min(axis=1), values.max(axis=1), color=f"C{i}", alpha=0.15
        )
        final = np.asarray(r["final_normalised"])
        bars.bar(i, final.mean(), color=f"C{i}")
        bars.plot(np.full(final.shape, i), final, "k.", markersize=4)
    curves.axhline(0.0, color="grey", linestyle="--", linewidth=0.8)
    curves.axhline(1.0, color="black", linestyle=":", linewidth=0.8)
    curves.set(
        xlabel="environment steps",
        ylabel="normalised return",
        title=f"BPO on {args.env}, H = {horizon} ({seeds} seeds, mean and min/max)",
    )
    curves.legend(fontsize=7)
    bars.set_xticks(range(len(results)), list(results), rotation=30, ha="right")
    bars.set(ylabel="final normalised return", title="final evaluation (bars: mean, dots: seeds)")
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)

    summary = {
        "env": args.env,
        "horizon": horizon,
        "steps": steps,
        "seeds": seeds,
        "optimal_return": ref.optimal_return,
        "random_return": ref.random_return,
        "final_normalised_mean": {n: float(np.mean(r["final_normalised"])) for n, r in results.items()},
        "wall_time_s": {n: r["wall_time_s"] for n, r in results.items()},
        "figure": str(out),
    }
    print(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main()

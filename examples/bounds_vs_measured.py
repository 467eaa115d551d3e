"""Bounds against measured policy gradients: Theorems 1 and 2 as numbers, across horizons.

For the simulator and three world models (Markovian, transformer History and transformer Actions World
Models), and several horizons ``H``, ``awmkit.diagnostics.bounds`` measures the policy-gradient norm
``||grad_theta J^W||`` of a deterministic MLP policy through one imagined rollout and evaluates the exact
finite sums of the proofs:

- ``theorem2_local``: Theorem 2's sum of action-Jacobian norms ``||d s_hat_t / d a_k||`` with the measured
  per-step reward and policy factors (valid for any model seen as an AWM);
- ``theorem1_local``: Theorem 1's recursion through the model's one-step partial Jacobians (circuitous
  paths), which explodes for state-based models.

Every bound must lie above the measured norm. ``--quick`` uses randomly initialised models (the bounds
hold for any weights); the full run first trains each model offline on random trajectories.

Run ``python examples/bounds_vs_measured.py --quick``.
"""

import argparse
import json
import pathlib

import jax
import matplotlib
import matplotlib.ticker
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt

import awmkit

MODELS = ("simulator", "markovian", "hwm-transformer", "awm-transformer")
BOUNDS = ("theorem2_local", "theorem1_local")


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="untrained models, fewer horizons")
    parser.add_argument("--out", default="docs/examples/img/bounds_vs_measured.png")
    parser.add_argument("--env", default="cancer_treatment")
    args = parser.parse_args(argv)

    horizons = [5, 10, 20] if args.quick else [5, 10, 20, 40, 80]
    big = awmkit.envs.make(args.env, horizon=max(horizons))
    policy = awmkit.policies.DeterministicPolicy(
        big.state_dim, big.action_dim, max(horizons), key=jax.random.key(0)
    )
    results: dict[str, dict[str, list[float]]] = {}
    for i, name in enumerate(MODELS):
        model = awmkit.models.make(name, big, key=jax.random.key(1 + i))
        if not args.quick and name != "simulator":
            model, _ = awmkit.diagnostics.train_offline(
                model, big, key=jax.random.key(10 + i), transitions=20_000, steps=500
            )
        rows = {"measured": [], **{b: [] for b in BOUNDS}}
        for h in horizons:
            env = awmkit.envs.make(args.env, horizon=h)
            target = env if name == "simulator" else model
            b = awmkit.diagnostics.bounds(target, policy, env.reset(), env.reward, h, jax.random.key(h))
            rows["measured"].append(float(b.measured))
            for bound in BOUNDS:
                rows[bound].append(float(getattr(b, bound)))
        results[name] = rows

    fig, axes = plt.subplots(1, len(MODELS), figsize=(3.4 * len(MODELS), 3.4), constrained_layout=True)
    for ax, (name, rows) in zip(axes, results.items()):
        ax.plot(horizons, rows["measured"], "ko-", label="measured")
        for j, bound in enumerate(BOUNDS):
            values = np.asarray(rows[bound])
            finite = np.isfinite(values)
            ax.plot(np.asarray(horizons)[finite], values[finite], "s--", color=f"C{j}", label=bound)
        ax.set(xscale="log", yscale="log", xlabel="horizon H", title=name)
        ax.set_xticks(horizons, [str(h) for h in horizons], minor=False)
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    axes[0].set_ylabel("policy-gradient norm and bounds")
    axes[0].legend(fontsize=7)
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)

    violations = [
        (name, bound, h)
        for name, rows in results.items()
        for bound in BOUNDS
        for h, m, v in zip(horizons, rows["measured"], rows[bound])
        if np.isfinite(v) and v < m * (1 - 1e-4)
    ]
    summary = {"horizons": horizons, "results": results, "violations": violations, "figure": str(out)}
    print(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main()

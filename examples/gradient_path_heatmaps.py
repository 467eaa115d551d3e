"""Gradient-path heatmaps: how far each action is from each prediction, in every world model (Figure 1).

For every world model of the paper (untrained: path lengths are a property of the computation, not of
the weights) and for the simulator, ``awmkit.diagnostics.gradient_paths`` traces the open-loop rollout
``model.rollout_actions(s0, actions)`` to a jaxpr and walks it, keeping for each action ``a_k`` and each
prediction ``s_hat_t`` the longest gradient path counted in world-model applications. State-based models
and recurrent AWMs chain one application per step, so paths grow linearly with ``t - k`` (circuitous
paths); the transformer AWM reaches every prediction from every action in one parallel application.

Run ``python examples/gradient_path_heatmaps.py --quick``.
"""

import argparse
import json
import pathlib

import jax
import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt

import awmkit

MODELS = ("simulator", "markovian", "hwm-transformer", "awm-rnn", "awm-transformer")


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a shorter horizon")
    parser.add_argument("--out", default="docs/examples/img/gradient_path_heatmaps.png")
    parser.add_argument("--env", default="harvest")
    args = parser.parse_args(argv)

    horizon = 8 if args.quick else 16
    env = awmkit.envs.make(args.env, horizon=horizon)
    paths = {}
    for i, name in enumerate(MODELS):
        model = awmkit.models.make(name, env, key=jax.random.key(i))
        paths[name] = awmkit.diagnostics.gradient_paths(model, horizon, s0=env.reset())

    fig, axes = plt.subplots(1, len(MODELS), figsize=(3.2 * len(MODELS), 3.4), constrained_layout=True)
    vmax = max(
        np.nanmax(np.where(np.isfinite(p.applications), p.applications, np.nan)) for p in paths.values()
    )
    for ax, (name, p) in zip(axes, paths.items()):
        table = np.asarray(p.applications, dtype=float)
        im = ax.imshow(
            np.where(np.isfinite(table), table, np.nan), origin="lower", cmap="magma", vmin=0, vmax=vmax
        )
        ax.set(title=name, xlabel="action k")
    axes[0].set_ylabel("prediction t")
    fig.colorbar(im, ax=axes, label="longest path (model applications)", shrink=0.85)
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)

    def longest(p):  # the longest path from a_0 to the last prediction
        return float(np.asarray(p.applications)[horizon, 0])

    summary = {
        "horizon": horizon,
        "longest_path_a0_to_last": {name: longest(p) for name, p in paths.items()},
        "figure": str(out),
    }
    print(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main()

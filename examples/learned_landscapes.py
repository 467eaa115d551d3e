"""Return landscapes of learned world models (Figures 3c and 4c, learned-model curves).

The learned counterpart of ``return_landscapes.py``. Markovian, transformer History and transformer Actions
World Models are trained offline on random trajectories (Appendix D) of the one-bounce task and of the
double pendulum; then each model rolls out the open-loop plan "initial action ``a_0``, then zeros" and
the return is summed along its own predictions, for ``a_0`` on a grid, beside the true simulator
(``awmkit.diagnostics.return_landscape``).

The paper's findings: state-based models compound their errors through the bounce and through the
chaotic dynamics, while the Actions World Model maps the initial action directly to the final state and
gives a landscape close to the truth (one_bounce) or a smoothed one (double pendulum) whose optimum is
in the right place. ``--quick`` uses short horizons and a small training budget, so its curves are rough
approximations of the paper's; run without it for the Appendix D budget.

Run ``python examples/learned_landscapes.py --quick``.
"""

import argparse
import json
import pathlib

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt

import awmkit

MODELS = ("markovian", "hwm-transformer", "awm-transformer")
OPTIMA = {"one_bounce": 0.5, "double_pendulum": -0.4}


def landscape(env_name: str, horizon: int, transitions: int, steps: int, grid) -> dict:
    env = awmkit.envs.make(env_name, horizon=horizon)
    models = {"simulator": env}
    losses = {}
    for i, name in enumerate(MODELS):
        model = awmkit.models.make(name, env, key=jax.random.key(i))
        model, loss = awmkit.diagnostics.train_offline(
            model, env, key=jax.random.key(100 + i), transitions=transitions, steps=steps
        )
        models[name] = model
        losses[name] = float(loss[-1])
    land = awmkit.diagnostics.return_landscape(models, env, grid=grid)
    return {"returns": {k: np.asarray(v) for k, v in land.returns.items()}, "final_loss": losses}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short horizons, small training budget")
    parser.add_argument("--out", default="docs/examples/img/learned_landscapes.png")
    args = parser.parse_args(argv)

    if args.quick:
        tasks, transitions, steps = {"one_bounce": 20, "double_pendulum": 30}, 10_000, 300
    else:
        tasks, transitions, steps = {"one_bounce": 50, "double_pendulum": 100}, 100_000, 1_000
    grid = jnp.linspace(-1.0, 1.0, 101)
    results = {name: landscape(name, h, transitions, steps, grid) for name, h in tasks.items()}

    fig, axes = plt.subplots(1, len(tasks), figsize=(11, 3.8), constrained_layout=True)
    for ax, (name, result) in zip(axes, results.items()):
        for j, (model, returns) in enumerate(result["returns"].items()):
            style = {"color": "k", "lw": 2} if model == "simulator" else {"color": f"C{j}", "lw": 1.3}
            ax.plot(grid, returns, label=model, **style)
        ax.axvline(OPTIMA[name], color="0.5", ls=":", lw=1)
        ax.set(xlabel="initial action $a_0$", ylabel="return", title=f"{name}, H = {tasks[name]}")
    axes[0].legend(fontsize=8)
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)

    summary = {"horizons": tasks, "figure": str(out)}
    for name, result in results.items():
        truth = result["returns"]["simulator"]
        summary[name] = {
            "final_loss": result["final_loss"],
            "rmse_to_simulator": {
                m: float(np.sqrt(np.mean((r - truth) ** 2)))
                for m, r in result["returns"].items()
                if m != "simulator"
            },
            "argmax": {m: float(grid[int(np.argmax(r))]) for m, r in result["returns"].items()},
        }
    print(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main()

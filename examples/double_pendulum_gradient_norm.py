"""True gradient norm of the double pendulum's final state against the horizon (Figure 4b, simulator).

The double pendulum is chaotic: a tiny change of the initial angle (the first action) changes the final
state more and more as the horizon grows. This script measures ``||d s_H / d a_0||`` for random initial
actions at several horizons, by reverse-mode differentiation through the Diffrax-integrated simulator,
and fits both an exponential ``c exp(lambda H)`` and a polynomial ``c H^p`` to the mean norm.

Run ``python examples/double_pendulum_gradient_norm.py --quick`` (under a minute on 2 CPU cores) or
without ``--quick`` for the paper's 50 actions per horizon.
"""

import argparse
import json
import pathlib

import jax

# Gradients through a chaotic system grow to 1e6 and beyond: float64 keeps them accurate.
jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import matplotlib  # noqa: E402
import numpy as np  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import awmkit  # noqa: E402


def final_state_gradient_norms(horizon: int, actions: jax.Array) -> np.ndarray:
    """``||d s_H / d a_0||`` for each initial action in ``actions`` (shape ``(n,)``)."""
    env = awmkit.envs.make("double_pendulum", horizon=horizon)

    def final_state(a0):
        # Later actions are ignored by the task; only the first one sets the initial angle.
        plan = jnp.full((horizon, 1), a0)
        return awmkit.envs.rollout(env, plan).states[-1]

    jacobian = jax.jit(jax.vmap(jax.jacrev(final_state)))(actions)  # (n, state_dim)
    return np.asarray(jnp.linalg.norm(jacobian, axis=-1))


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer horizons and actions")
    parser.add_argument("--out", default="docs/examples/img/double_pendulum_gradient_norm.png")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    horizons = [10, 25, 50, 75, 100] if args.quick else [10, 25, 50, 75, 100, 125, 150, 200]
    n_actions = 16 if args.quick else 50
    actions = jax.random.uniform(jax.random.key(args.seed), (n_actions,), minval=-1.0, maxval=1.0)

    norms = np.stack([final_state_gradient_norms(h, actions) for h in horizons])  # (horizons, n)
    mean = norms.mean(axis=1)
    H = np.asarray(horizons, dtype=float)
    # Exponential fit: log-linear least squares; polynomial fit: log-log least squares.
    rate, log_c_exp = np.polyfit(H, np.log(mean), 1)
    power, log_c_pow = np.polyfit(np.log(H), np.log(mean), 1)
    resid_exp = np.sum((np.log(mean) - (log_c_exp + rate * H)) ** 2)
    resid_pow = np.sum((np.log(mean) - (log_c_pow + power * np.log(H))) ** 2)

    fig, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
    for i in range(n_actions):
        ax.scatter(H, norms[:, i], s=6, color="0.75", zorder=1)
    ax.plot(H, mean, "o-", color="C0", label="simulator, mean over actions", zorder=3)
    grid = np.linspace(H[0], H[-1], 200)
    ax.plot(grid, np.exp(log_c_exp + rate * grid), "--", color="C3", label=f"exp fit, rate {rate:.3f}/step")
    ax.plot(grid, np.exp(log_c_pow) * grid**power, ":", color="C2", label=f"power fit, H^{power:.1f}")
    ax.set_yscale("log")
    ax.set_xlabel("horizon H (steps of 0.05 s)")
    ax.set_ylabel(r"$\|\partial s_H / \partial a_0\|$")
    ax.set_title("Double pendulum: true gradient norm vs horizon")
    ax.legend(fontsize=8)
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)

    summary = {
        "horizons": horizons,
        "mean_gradient_norm": mean.tolist(),
        "exponential_rate_per_step": float(rate),
        "polynomial_power": float(power),
        "better_fit": "exponential" if resid_exp < resid_pow else "polynomial",
        "figure": str(out),
    }
    print(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main()

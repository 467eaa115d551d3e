"""True return landscapes over the initial action (Figures 3c and 4c, simulator part).

Both tasks of Section 5.1 are decided by their first action alone. Sweeping that action over a grid and
rolling the true dynamics out shows what a gradient-based optimiser would face:

- **one_bounce** (``H = 50``): the return is piecewise linear with a kink where the block first reaches
  the wall. The state trajectory is non-differentiable at the bounce, yet the landscape is benign.
- **double_pendulum** (``H = 10, 50, 100``): smooth for short horizons, a thicket of local optima for
  long ones, because the dynamics are chaotic. The optimum is the reference action ``-0.4``.

Run ``python examples/return_landscapes.py --quick``.
"""

import argparse
import json
import pathlib

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import matplotlib  # noqa: E402
import numpy as np  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import awmkit  # noqa: E402


def landscape(name: str, horizon: int, grid: jax.Array) -> np.ndarray:
    """The true return of ``name`` at ``horizon`` for each initial action in ``grid``."""
    env = awmkit.envs.make(name, horizon=horizon)

    def ret(a0):
        return awmkit.envs.rollout(env, jnp.full((horizon, env.action_dim), a0)).total_return

    return np.asarray(jax.jit(jax.vmap(ret))(grid))


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a coarser action grid")
    parser.add_argument("--out", default="docs/examples/img/return_landscapes.png")
    args = parser.parse_args(argv)

    grid = jnp.linspace(-1.0, 1.0, 401 if args.quick else 2001)
    bounce = landscape("one_bounce", 50, grid)
    pendulum = {h: landscape("double_pendulum", h, grid) for h in (10, 50, 100)}

    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 3.8), constrained_layout=True)
    ax0.plot(grid, bounce, color="C0")
    ax0.axvline(0.5, color="k", ls=":", lw=1, label="optimum a = 0.5")
    ax0.axvline(-0.5, color="C3", ls="--", lw=1, label="first bounce, a = -0.5")
    ax0.set(xlabel="initial action $a_0$", ylabel="return", title="one_bounce, H = 50")
    ax0.legend(fontsize=8)
    for i, (h, values) in enumerate(pendulum.items()):
        ax1.plot(grid, values, color=f"C{i}", lw=1, label=f"H = {h}")
    ax1.axvline(-0.4, color="k", ls=":", lw=1, label="optimum a = -0.4")
    ax1.set(xlabel="initial action $a_0$", ylabel="return", title="double_pendulum")
    ax1.legend(fontsize=8)
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)

    def local_maxima(v):
        return int(np.sum((v[1:-1] > v[:-2]) & (v[1:-1] > v[2:])))

    summary = {
        "one_bounce_argmax": float(grid[int(np.argmax(bounce))]),
        "double_pendulum_argmax": {h: float(grid[int(np.argmax(v))]) for h, v in pendulum.items()},
        "double_pendulum_local_maxima": {h: local_maxima(v) for h, v in pendulum.items()},
        "figure": str(out),
    }
    print(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main()

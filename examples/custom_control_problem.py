"""Writing your own control problem: a Van der Pol oscillator steered to rest.

A new task is one Equinox module. Subclass ``awmkit.envs.AbstractFixedDurationProblem`` (an ODE over a
fixed duration ``T``, so ``dt = T / H``), declare the state and action names, the bounds and ``x0`` as
fields, and write the vector field and the rewards. Register it under a name and every part of awmkit
(``make``, ``rollout``, the command line, world models, BPO) can use it.

This script registers the problem, checks its gradient against central finite differences, and then
optimises an open-loop action sequence by gradient ascent through the simulator (Optax Adam).

Run ``python examples/custom_control_problem.py --quick``.
"""

import argparse
import json
import pathlib
from typing import ClassVar

import jax

jax.config.update("jax_enable_x64", True)

import diffrax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import matplotlib  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import awmkit  # noqa: E402
from awmkit.envs import AbstractFixedDurationProblem, Integrator  # noqa: E402


class VanDerPol(AbstractFixedDurationProblem):
    """A Van der Pol oscillator driven by a bounded force, to be brought to rest at the origin.

    - **State** ``(x, v)``: position and velocity, unbounded.
    - **Action** in ``[-1, 1]``, mapped to the force ``u`` in ``[-u_max, u_max]``.
    - **Dynamics**: ``x' = v``, ``v' = mu (1 - x^2) v - x + u``.
    - **Reward**: running ``-(x^2 + v^2 + rho u^2) dt``; terminal ``-w ||(x, v)||^2``.
    """

    state_names: ClassVar[tuple[str, ...]] = ("position", "velocity")
    action_names: ClassVar[tuple[str, ...]] = ("force",)
    reward_kind: ClassVar[str] = "running + terminal"
    smoothness: ClassVar[str] = "smooth"
    # Runge-Kutta by default: the limit cycle is stiff-ish for large mu and Euler drifts.
    default_integrator: ClassVar[Integrator] = Integrator(solver=diffrax.Tsit5())

    mu: float = 1.0
    u_max: float = 1.0
    rho: float = 0.1
    w: float = 10.0
    T: float = 5.0
    x0: tuple[float, ...] = (2.0, 0.0)
    control_low: tuple[float, ...] = (-1.0,)
    control_high: tuple[float, ...] = (1.0,)
    state_low: tuple[float, ...] | None = None
    state_high: tuple[float, ...] | None = None

    def __check_init__(self):
        if self.u_max <= 0:
            raise ValueError(f"`u_max` must be positive, got {self.u_max}")

    def vector_field(self, t, x, u):
        position, velocity = x[0], x[1]
        force = self.u_max * u[0]
        return jnp.stack([velocity, self.mu * (1.0 - position**2) * velocity - position + force])

    def running_reward(self, t, x, u):
        return -(jnp.sum(x**2) + self.rho * (self.u_max * u[0]) ** 2)

    def terminal_reward(self, x):
        return -self.w * jnp.sum(x**2)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer optimisation steps")
    parser.add_argument("--out", default="docs/examples/img/custom_control_problem.png")
    parser.add_argument("--horizon", type=int, default=50)
    args = parser.parse_args(argv)

    awmkit.envs.register("van_der_pol", VanDerPol, overwrite=True)
    env = awmkit.envs.make("van_der_pol", horizon=args.horizon, mu=1.0, u_max=2.0)

    def total_return(actions):
        return awmkit.envs.rollout(env, actions).total_return

    # The gradient with respect to every action, checked against central finite differences
    # (all 2 H perturbed rollouts in one vmapped call).
    actions = 0.3 * jnp.sin(jnp.linspace(0.0, 6.0, env.horizon))[:, None]
    grad = jax.jit(jax.grad(total_return))(actions)
    eps = 1e-6
    basis = eps * jnp.eye(env.horizon)[:, :, None]
    returns = jax.jit(jax.vmap(total_return))
    fd = np.asarray((returns(actions + basis) - returns(actions - basis)) / (2 * eps))
    fd_error = float(np.max(np.abs(np.asarray(grad[:, 0]) - fd)) / np.max(np.abs(fd)))

    # Open-loop optimisation through the simulator. Actions are tanh-squashed so the optimiser
    # works unconstrained while the environment still sees [-1, 1].
    steps = 150 if args.quick else 1000
    optimiser = optax.adam(5e-2)

    @jax.jit
    def update(params, state):
        value, g = jax.value_and_grad(lambda p: total_return(jnp.tanh(p)))(params)
        updates, state = optimiser.update(-g, state)
        return optax.apply_updates(params, updates), state, value

    params = jnp.zeros((env.horizon, env.action_dim))
    opt_state = optimiser.init(params)
    history = []
    for _ in range(steps):
        params, opt_state, value = update(params, opt_state)
        history.append(float(value))
    best = jnp.tanh(params)
    passive = awmkit.envs.rollout(env, jnp.zeros_like(best))
    optimised = awmkit.envs.rollout(env, best)

    fig, (ax0, ax1, ax2) = plt.subplots(1, 3, figsize=(12, 3.6), constrained_layout=True)
    t = np.arange(env.horizon + 1) * env.dt
    ax0.plot(passive.states[:, 0], passive.states[:, 1], color="0.6", label="zero force")
    ax0.plot(optimised.states[:, 0], optimised.states[:, 1], color="C0", label="optimised")
    ax0.plot([0], [0], "k*", ms=10, label="target")
    ax0.set(xlabel="position", ylabel="velocity", title="phase plane")
    ax0.legend(fontsize=8)
    ax1.step(t[:-1], np.asarray(best[:, 0]), where="post", color="C0")
    ax1.set(xlabel="time", ylabel="action in [-1, 1]", title="optimised open-loop actions")
    ax2.plot(history, color="C0")
    ax2.set(xlabel="Adam step", ylabel="return", title="gradient ascent through the simulator")
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)

    summary = {
        "registered": "van_der_pol" in awmkit.envs.registered(),
        "finite_difference_relative_error": fd_error,
        "zero_action_return": float(passive.total_return),
        "optimised_return": float(optimised.total_return),
        "figure": str(out),
    }
    print(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main()

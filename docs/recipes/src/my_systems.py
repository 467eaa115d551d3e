"""my_systems.py: your own control problem, in a module of your own (here a Van der Pol oscillator)."""

from typing import ClassVar

import diffrax
import jax.numpy as jnp

from awmkit.envs import AbstractFixedDurationProblem, Integrator


class VanDerPol(AbstractFixedDurationProblem):
    """A Van der Pol oscillator driven by a bounded force, to be brought to rest."""

    state_names: ClassVar[tuple[str, ...]] = ("position", "velocity")
    action_names: ClassVar[tuple[str, ...]] = ("force",)
    reward_kind: ClassVar[str] = "running + terminal"
    smoothness: ClassVar[str] = "smooth"
    default_integrator: ClassVar[Integrator] = Integrator(solver=diffrax.Tsit5())

    mu: float = 1.0
    T: float = 5.0
    x0: tuple[float, ...] = (2.0, 0.0)
    control_low: tuple[float, ...] = (-2.0,)  # the policy's a in [-1, 1] maps to u in [-2, 2]
    control_high: tuple[float, ...] = (2.0,)
    state_low: tuple[float, ...] | None = None
    state_high: tuple[float, ...] | None = None

    def vector_field(self, t, x, u):
        return jnp.stack([x[1], self.mu * (1.0 - x[0] ** 2) * x[1] - x[0] + u[0]])

    def running_reward(self, t, x, u):  # a rate: the environment multiplies it by dt
        return -(jnp.sum(x**2) + 0.1 * u[0] ** 2)

    def terminal_reward(self, x):
        return -10.0 * jnp.sum(x**2)

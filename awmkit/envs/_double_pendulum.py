"""The chaotic double pendulum of Section 5.1 (Figure 4, Appendix E)."""

from typing import ClassVar

import diffrax
import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._typing import IntScalarLike, RealScalar, RealScalarLike, State
from ._goal import AbstractGoalProblem
from ._integrate import Integrator


class DoublePendulum(AbstractGoalProblem):
    """A double pendulum whose initial angle is the only decision (paper, Section 5.1, Figure 4).

    - **State** ``(theta1, theta2, omega1, omega2)``: angles from the downward vertical (rad) of the
      inner and outer pendulum and their angular velocities (rad/s). ``s_0`` is the pendulum at rest,
      hanging down.
    - **Float[Array, " action_dim"]** ``a`` in ``[-1, 1]``. The first action sets the inner pendulum's initial angle
      ``theta1 = a pi`` (outer angle and velocities start at 0); later actions have no effect.
    - **Dynamics**: two unit point masses on unit massless rods under gravity ``g = 9.81``; each step
      lasts a fixed ``dt = 0.05`` s, so a longer horizon is a longer time (``H dt`` seconds).
    - **Reward**: a single terminal reward ``-||s_H - s*_H||`` where ``s*_H`` is the state reached from
      the reference action ``a = -0.4`` (so ``-0.4`` is optimal at every horizon, Appendix E).
    - **Two readings** of the paper, each one argument away (the text is the default):
      ``initial_angle="text"`` places the inner pendulum at ``a pi`` rad (Appendix E: "-0.4 x 180 deg");
      ``initial_angle="authors"`` at ``180 a`` rad, as the authors' code does (``action * 180`` passed to
      ``sin``/``cos``: 57.3 times the text's angle, so the angle wraps about 57 times over ``[-1, 1]``
      and the true gradient is 57.3 times larger). ``reward="text"`` is ``-||s_H - s*_H||`` (the text's
      "distance"); ``reward="authors"`` is the code's ``-mean((s_H - s*_H)^2)`` over the four state
      components. The goal is reached from `reference_action` through the same map, so ``-0.4`` stays
      optimal under every reading. ``make("double_pendulum", 100, initial_angle="authors",
      reward="authors")`` is the authors' task (their ``g = 9.8``: ``g=9.8``).
    - **Integration**: by default Dopri8 (8th order), four fixed sub-steps per ``dt``: in float64 the
      final state is within 2e-7 of a converged solution for uniform initial actions up to ``H = 100``
      (one Tsit5 step per ``dt`` was off by up to 12.8; ``benchmarks/double_pendulum_accuracy.py``).
      In float32 the chaos amplifies rounding: 1e-3 at ``H = 100``, within 10x of the floor that
      rounding the initial angle alone sets.
      Any [`awmkit.envs.Integrator`][] can be passed to `make`.
    - **Differentiability**: smooth, but chaotic: ``||d s_H / d a||`` grows exponentially with ``H``
      (Figure 4b).

    ```python
    import jax.numpy as jnp
    import awmkit
    env = awmkit.envs.make("double_pendulum", horizon=100)
    ret = awmkit.envs.rollout(env, jnp.full((100, 1), -0.4)).total_return  # == 0, the optimum
    ```
    """

    state_names: ClassVar[tuple[str, ...]] = ("theta1", "theta2", "omega1", "omega2")
    action_names: ClassVar[tuple[str, ...]] = ("initial_angle",)
    reward_kind: ClassVar[str] = "terminal"
    smoothness: ClassVar[str] = "smooth but chaotic: gradients grow exponentially with H"
    # Fixed sub-steps rather than an adaptive controller (the authors' odeint): as accurate here, a
    # static trip count (gradient_paths and forward mode see a plain unrolled computation), and a
    # 3x or more cheaper gradient than a PID-controlled Dopri5 (benchmarks/double_pendulum_accuracy.py).
    default_integrator: ClassVar[Integrator] = Integrator(solver=diffrax.Dopri8(), substeps=4)

    g: float = 9.81
    time_step: float = 0.05
    reference_action: float = -0.4
    goal: State | None = None
    x0: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0)
    control_low: tuple[float, ...] = (-jnp.pi,)
    control_high: tuple[float, ...] = (jnp.pi,)
    state_low: tuple[float, ...] | None = None
    state_high: tuple[float, ...] | None = None
    initial_angle: str = eqx.field(static=True, default="text")
    reward: str = eqx.field(static=True, default="text")

    #: The readings of the initial-angle map and of the reward (see the class docstring).
    READINGS: ClassVar[tuple[str, ...]] = ("text", "authors")

    def __check_init__(self):
        for name in ("initial_angle", "reward"):
            value = getattr(self, name)
            if value not in self.READINGS:
                raise ValueError(
                    f"`{name}` must be one of {', '.join(map(repr, self.READINGS))}, got {value!r}"
                )

    def initial_angle_of(self, u: Float[Array, " action_dim"]) -> Float[Array, " action_dim"]:
        """The inner pendulum's initial angle (rad) for the control ``u = a pi``: ``u`` under the text's
        reading, ``180 a = u 180 / pi`` under the authors'."""
        return u if self.initial_angle == "text" else u * (180.0 / jnp.pi)

    def terminal_reward(self, x: Float[Array, " state_dim"]) -> RealScalar:
        if self.reward == "text" or self.goal is None:
            return super().terminal_reward(x)
        return -jnp.mean((x - self.goal.astype(x.dtype)) ** 2)

    def step_size(self, horizon: int) -> float:
        return self.time_step

    def vector_field(self, t: RealScalarLike, x: State, u: Float[Array, " action_dim"]) -> State:
        """Equations of motion of the double pendulum (unit masses and lengths)."""
        th1, th2, w1, w2 = x[0], x[1], x[2], x[3]
        g = self.g
        delta = th1 - th2
        den = 3.0 - jnp.cos(2.0 * delta)  # 2 m1 + m2 - m2 cos(2 delta)
        dw1 = (
            -3.0 * g * jnp.sin(th1)
            - g * jnp.sin(th1 - 2.0 * th2)
            - 2.0 * jnp.sin(delta) * (w2**2 + w1**2 * jnp.cos(delta))
        ) / den
        dw2 = (2.0 * jnp.sin(delta) * (2.0 * w1**2 + 2.0 * g * jnp.cos(th1) + w2**2 * jnp.cos(delta))) / den
        return jnp.stack([w1, w2, dw1, dw2])

    def energy(self, x: State) -> RealScalar:
        """Total mechanical energy (kinetic + potential, zero potential at the pivot)."""
        th1, th2, w1, w2 = x[0], x[1], x[2], x[3]
        kinetic = 0.5 * w1**2 + 0.5 * (w1**2 + w2**2 + 2.0 * w1 * w2 * jnp.cos(th1 - th2))
        potential = -2.0 * self.g * jnp.cos(th1) - self.g * jnp.cos(th2)
        return kinetic + potential

    def advance(
        self,
        x: State,
        u: Float[Array, " action_dim"],
        k: IntScalarLike,
        dt: RealScalarLike,
        integrator: Integrator,
    ) -> State:
        # On the first step the action places the inner pendulum; afterwards it is ignored.
        placed = jnp.concatenate([self.initial_angle_of(u), jnp.zeros((3,), dtype=x.dtype)])
        x = jnp.where(jnp.asarray(k) == 0, placed, x)
        t0 = jnp.asarray(k, dtype=x.dtype) * dt
        return integrator.integrate(self.vector_field, t0, dt, x, u)

    def goal_features(self, x: State) -> Float[Array, " features"]:
        return x

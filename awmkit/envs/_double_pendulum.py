"""The chaotic double pendulum of Section 5.1 (Figure 4, Appendix E)."""

from typing import ClassVar

import diffrax
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
        placed = jnp.concatenate([u, jnp.zeros((3,), dtype=x.dtype)])
        x = jnp.where(jnp.asarray(k) == 0, placed, x)
        t0 = jnp.asarray(k, dtype=x.dtype) * dt
        return integrator.integrate(self.vector_field, t0, dt, x, u)

    def goal_features(self, x: State) -> Float[Array, " features"]:
        return x

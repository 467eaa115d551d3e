"""The non-differentiable one-bounce task of Section 5.1 (Figure 3)."""

from typing import ClassVar

import jax.numpy as jnp
from jaxtyping import Array, Float

from .._typing import IntScalarLike, RealScalarLike, State
from ._goal import AbstractGoalProblem
from ._integrate import Integrator


class OneBounce(AbstractGoalProblem):
    """A block pushed towards an elastic wall by its first action (paper, Section 5.1, Figure 3).

    - **State** ``(x, v)``: position and velocity of the block on a line. It starts at rest at
      ``x = 0``; the wall stands at ``x = wall = 1``.
    - **Float[Array, " action_dim"]** ``a`` in ``[-1, 1]``. The first action sets the initial velocity
      ``v = v_max (a + 1) / 2`` in ``[0, v_max]`` with ``v_max = 4``; later actions have no effect.
    - **Dynamics**: free motion; on contact the wall reverses the velocity instantly. The bounce is
      exact within a step: a step that reaches the wall after a fraction of ``dt`` reflects the rest of
      the motion (``x <- 2 wall - x``, ``v <- -v``), so the state is exact at every step for any ``H``.
    - **Duration**: ``T = 1`` fixed, ``dt = T / H``.
    - **Reward**: a single terminal reward ``-|x_H - x_goal|``, ``x_goal`` reached from the reference
      action ``a = 0.5`` (``v = 3``: the block bounces at ``t = 1/3`` and ends at ``x = -1``). Only a
      bouncing block reaches the goal, so the reference action is the unique optimum.
    - **Differentiability**: the state trajectory is non-differentiable at the bounce (velocity jumps),
      but the final position is piecewise-linear in the action: ``x_H = v`` without a bounce
      (``a <= -0.5``) and ``x_H = 2 wall - v`` with one, continuous with a kink at ``a = -0.5``, where
      the bounce starts happening.

    ```python
    import jax.numpy as jnp
    import awmkit
    env = awmkit.envs.make("one_bounce", horizon=50)
    ret = awmkit.envs.rollout(env, jnp.full((50, 1), 0.5)).total_return  # == 0, the optimum
    ```
    """

    state_names: ClassVar[tuple[str, ...]] = ("position", "velocity")
    action_names: ClassVar[tuple[str, ...]] = ("push",)
    reward_kind: ClassVar[str] = "terminal"
    smoothness: ClassVar[str] = "states non-differentiable at the bounce; x_H piecewise-linear in a"

    wall: float = 1.0
    T: float = 1.0
    reference_action: float = 0.5
    goal: State | None = None
    x0: tuple[float, ...] = (0.0, 0.0)
    control_low: tuple[float, ...] = (0.0,)
    control_high: tuple[float, ...] = (4.0,)
    state_low: tuple[float, ...] | None = None
    state_high: tuple[float, ...] | None = None

    def step_size(self, horizon: int) -> float:
        return self.T / horizon

    def advance(
        self,
        x: State,
        u: Float[Array, " action_dim"],
        k: IntScalarLike,
        dt: RealScalarLike,
        integrator: Integrator,
    ) -> State:
        del integrator  # piecewise-linear motion is integrated exactly
        position = x[0]
        velocity = jnp.where(jnp.asarray(k) == 0, u[0], x[1])
        moved = position + velocity * dt
        bounced = moved > self.wall
        position = jnp.where(bounced, 2.0 * self.wall - moved, moved)
        velocity = jnp.where(bounced, -velocity, velocity)
        return jnp.stack([position, velocity])

    def goal_features(self, x: State) -> Float[Array, " features"]:
        return x[:1]

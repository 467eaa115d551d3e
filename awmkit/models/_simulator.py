"""The true dynamics as a world model (Proposition 1)."""

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._graph import mark_application
from .._typing import Actions, IntScalarLike, Key, PolicyFn, RealScalar, State
from ..envs import Env, Trajectory
from ._base import AbstractWorldModel, RewardFn, unroll
from ._common import step_indices


class SimulatorModel(AbstractWorldModel):
    """The environment's own differentiable dynamics behind the world-model protocol.

    By Proposition 1 this is an Actions World Model whose backbone is an "f-RNN" (a recurrent network
    whose cell is the true dynamics ``f``), and its policy gradient is exactly backpropagation through
    the simulator. It has no parameters to learn: `loss` is zero.

    **Arguments:**

    - `env`: the [`awmkit.envs.Env`][] whose dynamics to use; horizons up to ``env.horizon``.
    """

    env: Env

    def __init__(self, env: Env):
        if not isinstance(env, Env):
            raise TypeError(f"`env` must be an awmkit.envs.Env, got {type(env).__name__}")
        self.env = env

    @property
    def state_dim(self) -> int:
        return self.env.state_dim

    @property
    def action_dim(self) -> int:
        return self.env.action_dim

    @property
    def max_horizon(self) -> int | None:
        return self.env.horizon

    def loss(self, trajectory: Trajectory, *, t0: IntScalarLike = 0) -> RealScalar:
        return jnp.zeros((), dtype=trajectory.states.dtype)

    def predict(
        self,
        s0: State,
        states: Float[Array, "horizon state_dim"],
        actions: Actions,
        *,
        t0: IntScalarLike = 0,
    ) -> Float[Array, "horizon state_dim"]:
        steps = step_indices(t0, actions.shape[0])
        return jax.vmap(self.env.step)(states, actions, steps)

    def _transition(self, state, action, k):
        return mark_application(self.env.step(state, action, k))

    def imagine(
        self,
        s0: State,
        policy: PolicyFn,
        horizon: int,
        key: Key,
        *,
        reward_fn: RewardFn | None = None,
        stop_gradient: bool = True,
    ) -> Trajectory:
        self.check_horizon(horizon)
        return unroll(self._transition, s0, policy, horizon, key, reward_fn, stop_gradient)

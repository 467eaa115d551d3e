"""The Markovian world model ``s_{t+1} = s_t + f_psi(s_t, a_t, t)``."""

from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._graph import mark_application
from .._typing import Actions, IntScalarLike, Key, PolicyFn, RealScalar, State
from ..envs import Trajectory
from ..nn import MLP
from ._base import AbstractWorldModel, RewardFn, check_actions, unroll
from ._common import (
    check_s0,
    check_size,
    check_trajectory,
    checked_policy,
    dtype_of,
    mse,
    reward_or_zero,
    step_indices,
    time_feature,
)
from ._normalise import Normaliser


class MarkovianModel(AbstractWorldModel):
    r"""A one-step model predicting the change of state (Appendix C.1):

    $$\hat z_{t+1} = z_t + \sigma_\Delta \odot f_\psi(z_t, a_t, t / H_{\max}),$$

    in normalised units ``z`` (see [`awmkit.models.Normaliser`][]), with ``f_psi`` an MLP (64, 64) with
    ReLU and ``sigma_Delta`` the data's RMS one-step change. Trained by teacher forcing with the loss
    ``l^f`` (equation 6); imagined rollouts feed every prediction back, so the policy gradient flows
    through all the state-to-state paths of Figure 1a (Corollary 2.1: an RNN AWM in disguise).

    **Arguments:**

    - `state_dim`, `action_dim`: the sizes of states and actions.
    - `max_horizon`: the longest horizon; time enters as ``k / max_horizon`` (default 500).
    - `width_sizes`: the MLP's hidden widths (default ``(64, 64)``).
    - `activation`: its activation (default ReLU).
    - `key`: a PRNG key (keyword-only).
    """

    dynamics: MLP
    normaliser: Normaliser
    state_dim: int = eqx.field(static=True)
    action_dim: int = eqx.field(static=True)
    max_horizon: int = eqx.field(static=True)

    def __init__(
        self,
        state_dim: int,
        action_dim: int,
        max_horizon: int = 500,
        *,
        width_sizes: Sequence[int] = (64, 64),
        activation: Callable = jax.nn.relu,
        key: Key,
    ):
        self.state_dim = check_size("state_dim", state_dim)
        self.action_dim = check_size("action_dim", action_dim)
        self.max_horizon = check_size("max_horizon", max_horizon)
        self.dynamics = MLP(state_dim + action_dim + 1, state_dim, width_sizes, activation, key=key)
        self.normaliser = Normaliser(state_dim)

    def _next_z(self, z, a, k):
        dtype = z.dtype
        inputs = jnp.concatenate([z, a.astype(dtype), time_feature(k, self.max_horizon, dtype)])
        return z + self.dynamics(inputs) * self.normaliser.step()

    def loss(self, trajectory: Trajectory, *, t0: IntScalarLike = 0) -> RealScalar:
        check_trajectory(self, trajectory)
        z = self.normaliser.normalise(trajectory.states.astype(dtype_of(self)))
        steps = step_indices(t0, trajectory.horizon)
        prediction = jax.vmap(self._next_z)(z[:-1], trajectory.actions, steps)
        return mse(prediction, z[1:])

    def predict(
        self,
        s0: State,
        states: Float[Array, "horizon state_dim"],
        actions: Actions,
        *,
        t0: IntScalarLike = 0,
    ) -> Float[Array, "horizon state_dim"]:
        check_s0(self, s0)
        horizon = check_actions(self, actions)
        z = self.normaliser.normalise(states.astype(dtype_of(self)))
        steps = step_indices(t0, horizon)
        return self.normaliser.denormalise(mark_application(jax.vmap(self._next_z)(z, actions, steps)))

    def _transition(self, state, action, k):
        z = self._next_z(self.normaliser.normalise(state), action, k)
        return self.normaliser.denormalise(mark_application(z))

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
        check_s0(self, s0)
        self.check_horizon(horizon)
        dtype = dtype_of(self)
        policy = checked_policy(policy, self.action_dim, dtype)
        return unroll(
            self._transition, s0.astype(dtype), policy, horizon, key, reward_or_zero(reward_fn), stop_gradient
        )

"""The two Actions World Models that Corollaries 2.1 and 2.2 analyse, exactly as written (equations 4
and 5), so that the corollaries' bounds can be evaluated and checked against measured gradients."""

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._graph import mark_application
from .._typing import Actions, Key, PolicyFn, RealScalar, State, States
from ..envs import Trajectory
from ..models import AbstractWorldModel, RewardFn
from ..models._base import zero_reward


def _rewards(reward_fn, states, actions):
    reward_fn = zero_reward if reward_fn is None else reward_fn
    steps = jnp.arange(actions.shape[0])
    return jax.vmap(reward_fn)(states[:-1], actions, states[1:], steps)


class ElmanAWM(AbstractWorldModel):
    r"""The recurrent Actions World Model of equation 4 (Corollary 2.1):

    $$x_{k+1} = \sigma(W_x x_k) + W_a a_k + b, \qquad \hat s_{k+1} = W_o x_{k+1} + c, \qquad
    x_0 = W_s s_0,$$

    with $\|\mathrm{diag}\,\sigma'\| \le 1/\beta$ (``activation_bound`` $= 1/\beta$). It conditions on
    the actions only (and $s_0$), so every gradient path from $a_k$ to $\hat s_t$ runs through the
    recurrence $x$: its action-Jacobian is $W_o \prod (\mathrm{diag}\,\sigma' W_x) W_a$ and
    $\|\partial \hat s_t / \partial a_k\| \le \|W_o\| \|W_a\| \eta^{t-k-1}$ with
    $\eta = \|W_x\| / \beta$.

    **Arguments:**

    - `state_dim`, `action_dim`, `hidden_dim`: sizes.
    - `activation`: the elementwise $\sigma$ (default ``jnp.tanh``).
    - `activation_bound`: $1/\beta$, a bound on $|\sigma'|$ (1 for tanh, 1/4 for the sigmoid).
    - `weight_scale`: the standard deviation of the random weights is ``weight_scale / sqrt(fan_in)``.
    - `key`: a PRNG key for the weights.
    """

    W_x: Float[Array, "hidden hidden"]
    W_a: Float[Array, "hidden action_dim"]
    W_o: Float[Array, "state_dim hidden"]
    W_s: Float[Array, "hidden state_dim"]
    b: Float[Array, " hidden"]
    c: State
    activation: Callable = eqx.field(static=True)
    activation_bound: float = eqx.field(static=True)
    state_dim: int = eqx.field(static=True)
    action_dim: int = eqx.field(static=True)
    max_horizon: int | None = eqx.field(static=True)

    def __init__(
        self,
        state_dim: int,
        action_dim: int,
        hidden_dim: int = 16,
        *,
        activation: Callable = jnp.tanh,
        activation_bound: float = 1.0,
        weight_scale: float = 1.0,
        key: Key,
    ):
        for name, v in (("state_dim", state_dim), ("action_dim", action_dim), ("hidden_dim", hidden_dim)):
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ValueError(f"`{name}` must be a positive integer, got {v!r}")
        if not activation_bound > 0:
            raise ValueError(f"`activation_bound` (1/beta) must be positive, got {activation_bound!r}")
        kx, ka, ko, ks = jax.random.split(key, 4)
        scale = float(weight_scale)
        self.W_x = jax.random.normal(kx, (hidden_dim, hidden_dim)) * scale / jnp.sqrt(hidden_dim)
        self.W_a = jax.random.normal(ka, (hidden_dim, action_dim)) * scale / jnp.sqrt(action_dim)
        self.W_o = jax.random.normal(ko, (state_dim, hidden_dim)) * scale / jnp.sqrt(hidden_dim)
        self.W_s = jax.random.normal(ks, (hidden_dim, state_dim)) / jnp.sqrt(state_dim)
        self.b = jnp.zeros(hidden_dim)
        self.c = jnp.zeros(state_dim)
        self.activation = activation
        self.activation_bound = float(activation_bound)
        self.state_dim = state_dim
        self.action_dim = action_dim
        self.max_horizon = None

    def _cell(self, x, a):
        return self.activation(self.W_x @ x) + self.W_a @ a.astype(x.dtype) + self.b

    def rollout_actions(self, s0: State, actions: Actions) -> States:
        self.check_horizon(actions.shape[0])

        def body(x, a):
            x = self._cell(x, a)
            return x, self.W_o @ x + self.c

        _, states = jax.lax.scan(body, self.W_s @ s0, actions)
        return jnp.concatenate([s0[None], mark_application(states)])

    def predict(
        self,
        s0: State,
        states: Float[Array, "horizon state_dim"],
        actions: Actions,
    ) -> Float[Array, "horizon state_dim"]:
        return self.rollout_actions(s0, actions)[1:]

    def loss(self, trajectory: Trajectory) -> RealScalar:
        pred = self.predict(trajectory.states[0], trajectory.states[:-1], trajectory.actions)
        return jnp.mean((pred - trajectory.states[1:]) ** 2)

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

        def body(carry, inputs):
            x, s = carry
            k, step_key = inputs
            a = policy(jax.lax.stop_gradient(s) if stop_gradient else s, k, step_key)
            x = self._cell(x, a)
            s = self.W_o @ x + self.c
            return (x, s), (s, a)

        keys = jax.random.split(key, horizon)
        _, (states, actions) = jax.lax.scan(body, (self.W_s @ s0, s0), (jnp.arange(horizon), keys))
        states = jnp.concatenate([s0[None], states])
        return Trajectory(states=states, actions=actions, rewards=_rewards(reward_fn, states, actions))


class AttentionAWM(AbstractWorldModel):
    r"""The single self-attention Actions World Model of equation 5 (Corollary 2.2):

    $$\hat s_t = s_0 + \sum_{i=0}^{t-1} c_i\, W_v a_i, \qquad
    c = \mathrm{softmax}_i\big(a_{t-1}^\top W_q^\top W_k a_i\big)_{i < t},$$

    i.e. the query is the last action and the keys and values are all actions so far ($s_0$ enters as
    an offset, which does not change any action-Jacobian).

    **Arguments:**

    - `state_dim`, `action_dim`: sizes; `key_dim`: the query/key dimension.
    - `weight_scale`: standard deviation of the query and key weights times ``sqrt(action_dim)``
      (large values make the softmax sharp).
    - `key`: a PRNG key for the weights.
    """

    W_q: Float[Array, "key_dim action_dim"]
    W_k: Float[Array, "key_dim action_dim"]
    W_v: Float[Array, "state_dim action_dim"]
    state_dim: int = eqx.field(static=True)
    action_dim: int = eqx.field(static=True)
    max_horizon: int | None = eqx.field(static=True)

    def __init__(
        self, state_dim: int, action_dim: int, key_dim: int = 8, *, weight_scale: float = 1.0, key: Key
    ):
        for name, v in (("state_dim", state_dim), ("action_dim", action_dim), ("key_dim", key_dim)):
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ValueError(f"`{name}` must be a positive integer, got {v!r}")
        kq, kk, kv = jax.random.split(key, 3)
        scale = float(weight_scale) / jnp.sqrt(action_dim)
        self.W_q = jax.random.normal(kq, (key_dim, action_dim)) * scale
        self.W_k = jax.random.normal(kk, (key_dim, action_dim)) * scale
        self.W_v = jax.random.normal(kv, (state_dim, action_dim)) / jnp.sqrt(action_dim)
        self.state_dim = state_dim
        self.action_dim = action_dim
        self.max_horizon = None

    def _attend(self, s0, actions):
        """Predictions ``s_hat_1..s_hat_H`` in one causal pass over the action sequence."""
        horizon = actions.shape[0]
        actions = actions.astype(s0.dtype)
        q = actions @ self.W_q.T.astype(s0.dtype)
        k = actions @ self.W_k.T.astype(s0.dtype)
        v = actions @ self.W_v.T.astype(s0.dtype)
        logits = q @ k.T  # row t-1 is the query of prediction t
        causal = jnp.arange(horizon)[:, None] >= jnp.arange(horizon)[None, :]
        weights = jax.nn.softmax(jnp.where(causal, logits, -jnp.inf), axis=-1)
        return s0[None] + weights @ v

    def rollout_actions(self, s0: State, actions: Actions) -> States:
        self.check_horizon(actions.shape[0])
        return jnp.concatenate([s0[None], mark_application(self._attend(s0, actions))])

    def predict(
        self,
        s0: State,
        states: Float[Array, "horizon state_dim"],
        actions: Actions,
    ) -> Float[Array, "horizon state_dim"]:
        return self.rollout_actions(s0, actions)[1:]

    def loss(self, trajectory: Trajectory) -> RealScalar:
        pred = self.predict(trajectory.states[0], trajectory.states[:-1], trajectory.actions)
        return jnp.mean((pred - trajectory.states[1:]) ** 2)

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
        keys = jax.random.split(key, horizon)

        def body(carry, inputs):
            buffer, s = carry
            k, step_key = inputs
            a = jnp.asarray(policy(jax.lax.stop_gradient(s) if stop_gradient else s, k, step_key))
            buffer = buffer.at[k].set(a.astype(buffer.dtype))
            # Rows beyond k are zeros and causally masked out of prediction k + 1.
            s = self._attend(s0, buffer)[k]
            return (buffer, s), (s, a)

        buffer = jnp.zeros((horizon, self.action_dim), dtype=s0.dtype)
        _, (states, actions) = jax.lax.scan(body, (buffer, s0), (jnp.arange(horizon), keys))
        states = jnp.concatenate([s0[None], states])
        return Trajectory(states=states, actions=actions, rewards=_rewards(reward_fn, states, actions))

"""History World Models ``s_{t+1} = h(s_{0:t}, a_{0:t})`` (Section 3)."""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._graph import mark_application
from .._typing import Actions, IntScalarLike, Key, PolicyFn, RealScalar, State
from ..envs import Trajectory
from ..nn import CausalTransformer, cache_lengths
from ._base import AbstractWorldModel, RewardFn, check_actions
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
from ._encoders import make_encoder
from ._normalise import Normaliser
from ._scan import blocked_scan, cache_residual_bytes, resolve_remat


class HistoryModel(AbstractWorldModel):
    r"""A transformer History World Model (HWM): predicts the next state from the whole history,

    $$\hat z_{t+1} = z_t + \sigma_\Delta \odot W_h\, \mathrm{GPT}(e_0, \dots, e_t)_t, \qquad
    e_k = E(z_k, a_k, k / H_{\max}),$$

    in normalised units (see [`awmkit.models.Normaliser`][]). **One token per step** holds
    ``[z_k, a_k, k / max_horizon]`` (embedded to width `embed_size`): the output at token ``t``
    then conditions on exactly ``(s_{0:t}, a_{0:t})``, as ``h(s_{1:t}, a_{1:t})`` in the paper, with half
    the sequence length (a quarter of the attention cost) of interleaved state and action tokens. The
    transformer predicts the change of state, scaled by the data's RMS one-step change, like the
    Markovian model.

    Training is teacher-forced (one parallel pass, loss ``l^h``). `imagine` generates autoregressively
    with a KV cache and feeds its own predictions back, both into the policy and into the next token,
    so the policy gradient takes every circuitous path of Figure 1b (Theorem 1); it is never
    teacher-forced.

    **Arguments:**

    - `state_dim`, `action_dim`: the sizes of states and actions.
    - `max_horizon`: the longest horizon (the position table; default 500).
    - `embed_size`: the token width (48, as in the authors' code; Appendix C.1 says 72), `depth` (2)
      and `num_heads` (3) as Appendix C.1, `mlp_width` (192 = 4 x 48, GPT-2's and the authors' block MLP;
      Appendix C.1's "hidden layers of size 64").
    - `encoder`: ``"mlp"`` (default; hidden layers (64, 64) with swish, the authors' code) or
      ``"linear"`` (one linear layer, Appendix C.1). See [Fidelity to the paper](../fidelity.md).
    - `remat`: block-wise rematerialisation of the differentiated generation: the carry is the KV
      cache, so plain backpropagation through ``H`` steps stores ``O(H^2)`` numbers; with remat it
      stores ``O(H^{3/2})`` for one extra forward pass. Default ``None`` ("auto"): remat when the
      stored cache per sequence exceeds the backend's budget (`awmkit.models.REMAT_BUDGET_BYTES`;
      on a CPU off at ``H = 100``, on at ``H = 500``).
    - `generation_block`: tokens per generation segment (64): the KV cache grows between segments
      (at most 8, see `awmkit.nn.cache_lengths`) so a token attends over about its prefix, not ``H``.
    - `key`: a PRNG key (keyword-only).
    """

    embed: eqx.Module
    transformer: CausalTransformer
    head: eqx.nn.Linear
    normaliser: Normaliser
    state_dim: int = eqx.field(static=True)
    action_dim: int = eqx.field(static=True)
    max_horizon: int = eqx.field(static=True)
    encoder: str = eqx.field(static=True)
    remat: bool | None = eqx.field(static=True)
    generation_block: int = eqx.field(static=True)

    def __init__(
        self,
        state_dim: int,
        action_dim: int,
        max_horizon: int = 500,
        *,
        embed_size: int = 48,
        encoder: str = "mlp",
        depth: int = 2,
        num_heads: int = 3,
        mlp_width: int = 192,
        remat: bool | None = None,
        generation_block: int = 64,
        key: Key,
    ):
        self.state_dim = check_size("state_dim", state_dim)
        self.action_dim = check_size("action_dim", action_dim)
        self.max_horizon = check_size("max_horizon", max_horizon)
        check_size("embed_size", embed_size)
        ke, kt, kh = jax.random.split(key, 3)
        self.embed = make_encoder(encoder, state_dim + action_dim + 1, embed_size, key=ke)
        self.encoder = encoder
        self.transformer = CausalTransformer(embed_size, depth, num_heads, mlp_width, max_horizon, key=kt)
        self.head = eqx.nn.Linear(embed_size, state_dim, key=kh)
        self.normaliser = Normaliser(state_dim)
        self.remat = None if remat is None else bool(remat)
        self.generation_block = check_size("generation_block", generation_block)

    def _remat(self, lengths, dtype) -> bool:
        t = self.transformer
        residual = cache_residual_bytes(lengths, t.depth, t.width, t.num_heads, jnp.dtype(dtype).itemsize)
        return resolve_remat(self.remat, residual)

    def _token(self, z, a, k):
        return self.embed(jnp.concatenate([z, a.astype(z.dtype), time_feature(k, self.max_horizon, z.dtype)]))

    def _parallel(self, z, actions, t0):
        steps = step_indices(t0, actions.shape[0])
        hidden = self.transformer(jax.vmap(self._token)(z, actions, steps))
        return z + (hidden @ self.head.weight.T + self.head.bias[None]) * self.normaliser.step()[None]

    def loss(self, trajectory: Trajectory, *, t0: IntScalarLike = 0) -> RealScalar:
        check_trajectory(self, trajectory)
        z = self.normaliser.normalise(trajectory.states.astype(dtype_of(self)))
        return mse(self._parallel(z[:-1], trajectory.actions, t0), z[1:])

    def predict(
        self,
        s0: State,
        states: Float[Array, "horizon state_dim"],
        actions: Actions,
        *,
        t0: IntScalarLike = 0,
    ) -> Float[Array, "horizon state_dim"]:
        check_s0(self, s0)
        check_actions(self, actions)
        z = self.normaliser.normalise(states.astype(dtype_of(self)))
        return self.normaliser.denormalise(mark_application(self._parallel(z, actions, t0)))

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
        s0 = s0.astype(dtype)
        policy = checked_policy(policy, self.action_dim, dtype)
        reward_fn = reward_or_zero(reward_fn)

        def body(carry, inputs):
            cache, state = carry
            k, step_key = inputs
            action = policy(jax.lax.stop_gradient(state) if stop_gradient else state, k, step_key)
            z = self.normaliser.normalise(state)
            hidden, cache = self.transformer.decode(self._token(z, action, k), cache)
            z_next = mark_application(z + self.head(hidden) * self.normaliser.step())
            next_state = self.normaliser.denormalise(z_next)
            return (cache, next_state), (next_state, action, reward_fn(state, action, next_state, k))

        # Blocked generation: segment j decodes positions < lengths[j] with a cache of that length.
        lengths = cache_lengths(horizon, self.generation_block)

        def grow(carry, j):
            cache, state = carry
            if cache.length != lengths[j]:
                cache = self.transformer.grow_cache(cache, lengths[j])
            return cache, state

        cache = self.transformer.init_cache(lengths[0], dtype)
        steps = (jnp.arange(horizon), jax.random.split(key, horizon))
        _, (states, actions, rewards) = blocked_scan(
            body, (cache, s0), steps, lengths, grow, self._remat(lengths, dtype)
        )
        return Trajectory(states=jnp.concatenate([s0[None], states]), actions=actions, rewards=rewards)

"""The Online Decision Transformer's network, its tanh-squashed Gaussian action head and one episode
conditioned on a return-to-go."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from .._typing import Key, RealScalarLike
from ..envs import Env
from ..nn import CausalTransformer

_LOG_2PI = math.log(2.0 * math.pi)
# Stored actions are tanh outputs and may round to +-1; their log-likelihood needs arctanh inside.
_ACTION_CLIP = 1.0 - 1e-6


class DecisionTransformer(eqx.Module):
    r"""The Online Decision Transformer's network: a causal transformer over interleaved
    ``(R_t, s_t, a_t)`` tokens with a tanh-squashed Gaussian action head (Chen et al., 2021; Zheng et
    al., 2022).

    Each of the three tokens of timestep ``t`` is a linear embedding of the return-to-go
    ``R_t / return_scale``, the normalised state or the action, plus a learned embedding of ``t``;
    after a LayerNorm the ``3K`` tokens go through an [`awmkit.nn.CausalTransformer`][]. The output at
    the state token ``s_t`` (which sees ``R_{<=t}, s_{<=t}, a_{<t}``) gives the mean ``mu_t`` and the
    log standard deviation (softly bounded to ``[-5, 2]``) of ``a_t = tanh(u_t)``,
    ``u_t ~ N(mu_t, sigma_t^2)``.

    **Arguments:**

    - `state_dim`, `action_dim`: sizes of states and actions.
    - `horizon`: the episode length ``H`` (the number of timestep embeddings).
    - `context_length`: ``K``, timesteps per sequence.
    - `width`, `depth`, `num_heads`, `mlp_width`: the transformer.
    - `return_scale`: the divisor of returns-to-go.
    - `key`: PRNG key (keyword-only).
    """

    embed_return: eqx.nn.Linear
    embed_state: eqx.nn.Linear
    embed_action: eqx.nn.Linear
    embed_timestep: eqx.nn.Embedding
    ln_embed: eqx.nn.LayerNorm
    transformer: CausalTransformer
    head: eqx.nn.Linear
    state_mean: Float[Array, " state_dim"]
    state_std: Float[Array, " state_dim"]
    state_dim: int = eqx.field(static=True)
    action_dim: int = eqx.field(static=True)
    horizon: int = eqx.field(static=True)
    context_length: int = eqx.field(static=True)
    return_scale: float = eqx.field(static=True)

    def __init__(
        self,
        state_dim: int,
        action_dim: int,
        horizon: int,
        context_length: int,
        width: int,
        depth: int,
        num_heads: int,
        mlp_width: int,
        return_scale: float,
        *,
        key: Key,
    ):
        for name, value in (
            ("state_dim", state_dim),
            ("action_dim", action_dim),
            ("horizon", horizon),
            ("context_length", context_length),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"`{name}` must be a positive integer, got {value!r}")
        if not return_scale > 0:
            raise ValueError(f"`return_scale` must be positive, got {return_scale!r}")
        k1, k2, k3, k4, k5, k6 = jax.random.split(key, 6)
        self.embed_return = eqx.nn.Linear(1, width, key=k1)
        self.embed_state = eqx.nn.Linear(state_dim, width, key=k2)
        self.embed_action = eqx.nn.Linear(action_dim, width, key=k3)
        self.embed_timestep = eqx.nn.Embedding(horizon, width, key=k4)
        self.ln_embed = eqx.nn.LayerNorm(width)
        self.transformer = CausalTransformer(width, depth, num_heads, mlp_width, 3 * context_length, key=k5)
        self.head = eqx.nn.Linear(width, 2 * action_dim, key=k6)
        self.state_mean = jnp.zeros(state_dim)
        self.state_std = jnp.ones(state_dim)
        self.state_dim, self.action_dim, self.horizon = state_dim, action_dim, horizon
        self.context_length, self.return_scale = context_length, float(return_scale)

    def distribution(
        self,
        returns_to_go: Float[Array, " K"],
        states: Float[Array, "K state_dim"],
        actions: Float[Array, "K action_dim"],
        timesteps: Int[Array, " K"],
    ) -> tuple[Float[Array, "K action_dim"], Float[Array, "K action_dim"]]:
        """The pre-squash Gaussian ``(mu_t, log sigma_t)`` of every action ``a_t`` of a sequence of
        ``K`` timesteps; row ``t`` depends on ``R_{<=t}, s_{<=t}, a_{<t}`` only."""
        dtype = states.dtype
        mean = jax.lax.stop_gradient(self.state_mean).astype(dtype)
        std = jax.lax.stop_gradient(self.state_std).astype(dtype)
        time = jax.vmap(self.embed_timestep)(jnp.clip(timesteps, 0, self.horizon - 1))
        r = jax.vmap(self.embed_return)((returns_to_go / self.return_scale)[:, None]) + time
        s = jax.vmap(self.embed_state)((states - mean[None]) / std[None]) + time
        a = jax.vmap(self.embed_action)(actions) + time
        tokens = jnp.stack([r, s, a], axis=1).reshape(-1, r.shape[-1])
        tokens = jax.vmap(self.ln_embed)(tokens)
        out = self.transformer(tokens)[1::3]
        raw = jax.vmap(self.head)(out)
        mu, raw_std = raw[:, : self.action_dim], raw[:, self.action_dim :]
        return mu, -5.0 + 3.5 * (jnp.tanh(raw_std) + 1.0)


def _log_prob(mu, log_std, action):
    u = jnp.arctanh(jnp.clip(action, -_ACTION_CLIP, _ACTION_CLIP))
    z = (u - mu) * jnp.exp(-log_std)
    correction = 2.0 * (math.log(2.0) - u - jax.nn.softplus(-2.0 * u))
    return jnp.sum(-0.5 * (z**2 + _LOG_2PI) - log_std - correction, axis=-1)


def _sample(mu, log_std, key):
    eps = jax.random.normal(key, mu.shape, mu.dtype)
    u = mu + jnp.exp(log_std) * eps
    correction = 2.0 * (math.log(2.0) - u - jax.nn.softplus(-2.0 * u))
    return jnp.tanh(u), jnp.sum(-0.5 * (eps**2 + _LOG_2PI) - log_std - correction, axis=-1)


def _trainable(model: DecisionTransformer):
    """The filter of trained leaves: every inexact array but the (fixed) state normaliser."""
    spec = jax.tree.map(eqx.is_inexact_array, model)
    return eqx.tree_at(lambda m: (m.state_mean, m.state_std), spec, (False, False))


def episode(
    model: DecisionTransformer, env: Env, target: RealScalarLike, key: Key, mode: str
) -> tuple[Float[Array, "H state_dim"], Float[Array, "H action_dim"], Float[Array, " H"]]:
    """One episode conditioned on the initial return-to-go ``target`` (``R_{t+1} = R_t - r_t``), the
    context the last ``K`` timesteps; ``mode`` is ``"sample"``, ``"mean"`` (``tanh mu``) or
    ``"random"`` (uniform actions). Returns the states before each action, the actions, the rewards."""
    H, K, n, m = env.horizon, model.context_length, env.state_dim, env.action_dim
    k_reset, key = jax.random.split(key)
    s0 = env.reset(k_reset) if env.initial_state_fn is not None else env.reset()
    dtype = model.state_std.dtype
    # K rows of padding at the end keep every window slice in bounds.
    bufs = (jnp.zeros(H + K, dtype), jnp.zeros((H + K, n), dtype), jnp.zeros((H + K, m), dtype))

    def step(carry, inputs):
        state, rtg, (R, S, A) = carry
        k, k_key = inputs
        R, S = R.at[k].set(rtg), S.at[k].set(state)
        if mode == "random":
            action = jax.random.uniform(k_key, (m,), dtype, -1.0, 1.0)
        else:
            start = jnp.maximum(k - K + 1, 0)
            window = [jax.lax.dynamic_slice_in_dim(x, start, K) for x in (R, S, A)]
            mu, log_std = model.distribution(*window, start + jnp.arange(K))
            i = k - start
            if mode == "mean":
                action = jnp.tanh(mu[i])
            else:
                action = _sample(mu[i], log_std[i], k_key)[0]
        nxt = env.step(state, action, k).astype(dtype)
        reward = env.reward(state, action, nxt, k).astype(dtype)
        return (nxt, rtg - reward, (R, S, A.at[k].set(action))), (state, action, reward)

    init = (s0.astype(dtype), jnp.asarray(target, dtype), bufs)
    _, (states, actions, rewards) = jax.lax.scan(step, init, (jnp.arange(H), jax.random.split(key, H)))
    return states, actions, rewards

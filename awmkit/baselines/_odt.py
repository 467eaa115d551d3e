"""The Online Decision Transformer (Zheng et al., 2022), trained purely online as in the paper's
Appendix F.3: compiled end to end, vmapped over seeds, writing the shared run-directory format."""

import dataclasses
import math
import time
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float, Int

from .._typing import Key, RealScalar, RealScalarLike
from .._version import __version__
from ..envs import Env, random_return
from ..nn import CausalTransformer
from ..runs import RunResult
from ..runs._result import (
    EnvArg,
    KeyArg,
    LoggersArg,
    ModelArg,
    OutArg,
    PolicyArg,
    SeedsArg,
    check_config,
    check_env,
)
from ._common import check_common, train_chunked
from ._sac import _filter_scan

_LOG_2PI = math.log(2.0 * math.pi)
_CHECKPOINT_FORMAT = "awmkit-odt-checkpoint-v2"
# Stored actions are tanh outputs and may round to +-1; their log-likelihood needs arctanh inside.
_ACTION_CLIP = 1.0 - 1e-6


#: Help of the ``awmkit train --algo odt`` flags.
FLAG_HELP = {
    "steps": "environment steps per seed, warm-up included",
    "rtg": "target return-to-go: the optimal return (expert) or twice it in normalised terms (overshot)",
    "target_return": "the expert return-to-go (default: the shipped optimal return of the env and horizon)",
    "random_return": "the random-policy return of the overshot target (default: the shipped one, else "
    "1000 random episodes)",
    "warmup_steps": "environment steps of uniformly random actions first",
    "episodes_per_iteration": "trajectories gathered per iteration (the paper sweeps it)",
    "updates_per_iteration": "gradient steps per iteration",
    "batch_size": "trajectory segments per update",
    "context_length": "timesteps K in the transformer's context",
    "embed_width": "token width of the transformer",
    "depth": "transformer blocks",
    "num_heads": "attention heads per block",
    "mlp_width": "hidden width of each block's MLP",
    "lr": "LAMB learning rate of the transformer",
    "weight_decay": "LAMB weight decay",
    "lr_warmup_updates": "updates of linear learning-rate warm-up",
    "grad_clip": "global-norm clip of the transformer's gradient",
    "init_temperature": "initial entropy temperature",
    "temperature_lr": "Adam learning rate of the log-temperature",
    "buffer_episodes": "replay buffer capacity in trajectories",
    "return_scale": "returns-to-go are divided by it (default max(|expert return|, 1))",
    "eval_interval": "environment steps between evaluations",
    "eval_episodes": "episodes per evaluation",
}


@dataclasses.dataclass(frozen=True)
class ODTConfig:
    """Every hyper-parameter of [`awmkit.baselines.train_odt`][]; the network and optimiser defaults are
    those of Zheng et al.'s code (which the paper uses, Appendix F.3).

    **Arguments:**

    - `steps`: environment steps per seed, warm-up included (200 000).
    - `rtg`: the return-to-go the policy is conditioned on when acting: ``"expert"``, the optimal return
      ``R*`` of the (environment, horizon) pair, or ``"overshot"``, twice it in normalised terms,
      ``R_rand + 2 (R* - R_rand)`` (a normalised return of 2; for positive returns with
      ``R_rand = 0`` exactly ``2 R*``, and it stays an over-shoot for the negative returns of cost
      problems, where ``2 R*`` would be an under-shoot).
    - `target_return`: ``R*`` itself. [`awmkit.baselines.train_odt`][] needs it: its callers resolve
      it (``awmkit train``, the experiments and [`awmkit.evaluation.resolve_odt_config`][] read the
      optimal return shipped by [`awmkit.evaluation.reference`][] for the Myriad systems at H = 20,
      50, 100).
    - `random_return`: ``R_rand`` of the ``"overshot"`` target (``None``: 1 000 episodes of uniformly
      random actions, computed when the run starts; the resolvers fill in the shipped one).
    - `warmup_steps`: uniformly random steps first, rounded up to whole episodes (1 500, as SAC and
      BPO); the state normaliser is fitted to them.
    - `episodes_per_iteration`: trajectories gathered with the stochastic policy per iteration (1; the
      paper sweeps it).
    - `updates_per_iteration`: gradient steps per iteration (300).
    - `batch_size`: segments of `context_length` timesteps per update (256).
    - `context_length`: ``K``, the timesteps in context, ``3K`` tokens (20).
    - `embed_width`, `depth`, `num_heads`, `mlp_width`: the causal transformer (512, 4, 4, 2048).
    - `lr`, `weight_decay`, `lr_warmup_updates`, `grad_clip`: LAMB with a linear warm-up and global
      norm clipping (1e-4, 5e-4, 10 000, 0.25).
    - `init_temperature`, `temperature_lr`: the entropy temperature ``lambda`` and the Adam rate of
      ``log lambda`` (0.1, 1e-4); the target entropy is ``-action_dim``.
    - `buffer_episodes`: replay capacity in trajectories, first in first out (1 000).
    - `return_scale`: returns-to-go are divided by it before embedding (``None``: ``max(|R*|, 1)``).
    - `eval_interval`: environment steps between evaluations of the deterministic policy (5 000),
      rounded to whole iterations.
    - `eval_episodes`: episodes per evaluation (1).
    - `float64`: run in double precision.

    Raises ``ValueError`` naming the field for a bad value.
    """

    steps: int = 200_000
    rtg: str = "expert"
    target_return: float | None = None
    random_return: float | None = None
    warmup_steps: int = 1500
    episodes_per_iteration: int = 1
    updates_per_iteration: int = 300
    batch_size: int = 256
    context_length: int = 20
    embed_width: int = 512
    depth: int = 4
    num_heads: int = 4
    mlp_width: int = 2048
    lr: float = 1e-4
    weight_decay: float = 5e-4
    lr_warmup_updates: int = 10_000
    grad_clip: float = 0.25
    init_temperature: float = 0.1
    temperature_lr: float = 1e-4
    buffer_episodes: int = 1000
    return_scale: float | None = None
    eval_interval: int = 5000
    eval_episodes: int = 1
    float64: bool = False

    def __post_init__(self):
        ints = (
            "steps",
            "warmup_steps",
            "episodes_per_iteration",
            "updates_per_iteration",
            "batch_size",
            "context_length",
            "embed_width",
            "depth",
            "num_heads",
            "mlp_width",
            "lr_warmup_updates",
            "buffer_episodes",
            "eval_interval",
            "eval_episodes",
        )
        for name in ints:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"`{name}` must be a positive integer, got {value!r}")
        for name in ("lr", "grad_clip", "init_temperature", "temperature_lr"):
            if not getattr(self, name) > 0:
                raise ValueError(f"`{name}` must be positive, got {getattr(self, name)!r}")
        if not self.weight_decay >= 0:
            raise ValueError(f"`weight_decay` must be non-negative, got {self.weight_decay!r}")
        if self.rtg not in ("expert", "overshot"):
            raise ValueError(f"`rtg` must be 'expert' or 'overshot', got {self.rtg!r}")
        if self.target_return is not None and not math.isfinite(self.target_return):
            raise ValueError(f"`target_return` must be a finite number or None, got {self.target_return!r}")
        if self.random_return is not None and not math.isfinite(self.random_return):
            raise ValueError(f"`random_return` must be a finite number or None, got {self.random_return!r}")
        if self.return_scale is not None and not self.return_scale > 0:
            raise ValueError(f"`return_scale` must be positive or None, got {self.return_scale!r}")
        if self.embed_width % self.num_heads:
            raise ValueError(
                f"`embed_width` ({self.embed_width}) must be a multiple of `num_heads` ({self.num_heads})"
            )
        if self.warmup_steps >= self.steps:
            raise ValueError(f"`warmup_steps` ({self.warmup_steps}) must be below `steps` ({self.steps})")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def warmup_episodes(self, horizon: int) -> int:
        return -(-self.warmup_steps // horizon)

    def iterations(self, horizon: int) -> int:
        """Training iterations that fit in the budget after the warm-up."""
        return (self.steps - self.warmup_episodes(horizon) * horizon) // (
            self.episodes_per_iteration * horizon
        )

    def check_horizon(self, horizon: int) -> None:
        """Refuses a budget that leaves no training iteration at this horizon."""
        if self.iterations(horizon) < 1:
            raise ValueError(
                f"`steps` ({self.steps}) leaves no training iteration at horizon {horizon}: the warm-up takes "
                f"{self.warmup_episodes(horizon) * horizon} steps and an iteration "
                f"{self.episodes_per_iteration * horizon}"
            )

    def target(self, env: Env) -> float:
        """The return-to-go the policy is conditioned on for ``env`` (see `rtg`); `target_return` must
        be set (a one-line ``ValueError`` says how to resolve it)."""
        if self.target_return is None:
            raise ValueError(
                f"the Online DT needs the optimal return of {env.name} at H = {env.horizon} as its expert "
                "return-to-go: set `target_return` (--target-return), or resolve it from the shipped "
                "reference with awmkit.evaluation.resolve_odt_config(config, env)"
            )
        expert = float(self.target_return)
        if self.rtg == "expert":
            return expert
        rand = self.random_return
        if rand is None:
            rand = float(random_return(env, jax.random.key(0), 1000))
        return rand + 2.0 * (expert - rand)

    def scale(self, env: Env) -> float:
        if self.return_scale is not None:
            return float(self.return_scale)
        if self.target_return is None:
            self.target(env)  # raises, saying how to resolve it
        return max(abs(float(self.target_return)), 1.0)


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


class _Carry(eqx.Module):
    model: DecisionTransformer
    opt: Any
    log_temperature: Array
    temperature_opt: Any
    buf_s: Array
    buf_a: Array
    buf_r: Array
    ptr: Array
    size: Array
    key: Array


def _optimisers(config: ODTConfig):
    schedule = lambda t: config.lr * jnp.minimum((t + 1) / config.lr_warmup_updates, 1.0)
    model_opt = optax.chain(
        optax.clip_by_global_norm(config.grad_clip), optax.lamb(schedule, weight_decay=config.weight_decay)
    )
    return model_opt, optax.adam(config.temperature_lr)


def _store(carry: _Carry, states, actions, rewards) -> _Carry:
    """Appends a batch of episodes to the first-in-first-out trajectory buffer."""
    cap = carry.buf_r.shape[0]

    def one(c, episode):
        s, a, r = episode
        i = c.ptr
        c = eqx.tree_at(
            lambda c: (c.buf_s, c.buf_a, c.buf_r, c.ptr, c.size),
            c,
            (
                c.buf_s.at[i].set(s),
                c.buf_a.at[i].set(a),
                c.buf_r.at[i].set(r),
                (i + 1) % cap,
                jnp.minimum(c.size + 1, cap),
            ),
        )
        return c, None

    return _filter_scan_xs(one, carry, (states, actions, rewards))


def _filter_scan_xs(body, carry, xs):
    dynamic, static = eqx.partition(carry, eqx.is_array)

    def f(d, x):
        c, out = body(eqx.combine(d, static), x)
        return eqx.partition(c, eqx.is_array)[0], out

    dynamic, out = jax.lax.scan(f, dynamic, xs)
    return eqx.combine(dynamic, static)


def _init(env: Env, config: ODTConfig, key: Key, dtype, target, scale) -> _Carry:
    """A fresh model, the warm-up episodes of uniform random actions in the buffer and the state
    normaliser fitted to them."""
    H = env.horizon
    k_model, k_warm, key = jax.random.split(key, 3)
    model = DecisionTransformer(
        env.state_dim,
        env.action_dim,
        H,
        config.context_length,
        config.embed_width,
        config.depth,
        config.num_heads,
        config.mlp_width,
        scale,
        key=k_model,
    )
    model = jax.tree.map(lambda x: x.astype(dtype) if eqx.is_inexact_array(x) else x, model)
    model_opt, temperature_opt = _optimisers(config)
    log_temperature = jnp.asarray(math.log(config.init_temperature), dtype)
    cap = config.buffer_episodes
    carry = _Carry(
        model=model,
        opt=model_opt.init(eqx.filter(model, _trainable(model))),
        log_temperature=log_temperature,
        temperature_opt=temperature_opt.init(log_temperature),
        buf_s=jnp.zeros((cap, H, env.state_dim), dtype),
        buf_a=jnp.zeros((cap, H, env.action_dim), dtype),
        buf_r=jnp.zeros((cap, H), dtype),
        ptr=jnp.zeros((), jnp.int32),
        size=jnp.zeros((), jnp.int32),
        key=key,
    )
    warm = config.warmup_episodes(H)
    states, actions, rewards = jax.vmap(lambda k: episode(model, env, target, k, "random"))(
        jax.random.split(k_warm, warm)
    )
    carry = _store(carry, states, actions, rewards)
    flat = states.reshape(-1, env.state_dim)
    model = eqx.tree_at(
        lambda m: (m.state_mean, m.state_std),
        model,
        (jnp.mean(flat, axis=0), jnp.maximum(jnp.std(flat, axis=0), 1e-6)),
    )
    return eqx.tree_at(lambda c: c.model, carry, model)


def _update(env: Env, config: ODTConfig, carry: _Carry) -> tuple[_Carry, dict]:
    """One gradient step on a batch of segments with hindsight returns-to-go: maximum likelihood of
    the stored actions plus the temperature-weighted entropy, then the temperature step."""
    H, K = env.horizon, config.context_length
    key, k_idx, k_start, k_sample = jax.random.split(carry.key, 4)
    idx = jax.random.randint(k_idx, (config.batch_size,), 0, carry.size)
    starts = jax.random.randint(k_start, (config.batch_size,), 0, H)

    def segment(i, t):
        r = carry.buf_r[i]
        # Hindsight relabelling: the return-to-go actually achieved from each step on.
        rtg = jnp.cumsum(r[::-1])[::-1]
        pad = lambda x: jnp.concatenate([x, jnp.zeros((K,) + x.shape[1:], x.dtype)])
        cut = lambda x: jax.lax.dynamic_slice_in_dim(pad(x), t, K)
        steps = t + jnp.arange(K)
        return cut(rtg), cut(carry.buf_s[i]), cut(carry.buf_a[i]), steps, steps < H

    rtg, s, a, steps, mask = jax.vmap(segment)(idx, starts)
    weight = mask.astype(rtg.dtype) / jnp.sum(mask)
    temperature = jnp.exp(carry.log_temperature)
    model_opt, temperature_opt = _optimisers(config)
    spec = _trainable(carry.model)
    params, static = eqx.partition(carry.model, spec)

    def loss_fn(p):
        model = eqx.combine(p, static)
        mu, log_std = jax.vmap(model.distribution)(rtg, s, a, steps)
        log_lik = jnp.sum(weight * _log_prob(mu, log_std, a))
        keys = jax.random.split(k_sample, mu.shape[0] * mu.shape[1]).reshape(mu.shape[:2])
        _, logp = jax.vmap(jax.vmap(_sample))(mu, log_std, keys)
        entropy = -jnp.sum(weight * logp)
        return -(log_lik + jax.lax.stop_gradient(temperature) * entropy), (log_lik, entropy)

    (loss, (log_lik, entropy)), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    updates, opt = model_opt.update(grads, carry.opt, params)
    model = eqx.combine(optax.apply_updates(params, updates), static)
    target_entropy = -env.action_dim
    t_grad = jax.grad(lambda lt: jnp.exp(lt) * jax.lax.stop_gradient(entropy - target_entropy))(
        carry.log_temperature
    )
    t_update, t_opt = temperature_opt.update(t_grad, carry.temperature_opt, carry.log_temperature)
    carry = eqx.tree_at(
        lambda c: (c.model, c.opt, c.log_temperature, c.temperature_opt, c.key),
        carry,
        (model, opt, carry.log_temperature + t_update, t_opt, key),
    )
    return carry, {"loss": loss, "log_likelihood": log_lik, "entropy": entropy, "temperature": temperature}


def _train_chunk(
    env: Env, config: ODTConfig, target, carry: _Carry, iterations: Array
) -> tuple[_Carry, dict]:
    """``iterations`` (traced, so every chunk length shares one compilation) online iterations:
    gather `episodes_per_iteration` trajectories with the stochastic policy conditioned on ``target``,
    store them, take `updates_per_iteration` gradient steps. Returns the mean statistics."""

    def iteration(c: _Carry):
        key, k_roll = jax.random.split(c.key)
        c = eqx.tree_at(lambda c: c.key, c, key)
        states, actions, rewards = jax.vmap(lambda k: episode(c.model, env, target, k, "sample"))(
            jax.random.split(k_roll, config.episodes_per_iteration)
        )
        c = _store(c, states, actions, rewards)
        c, stats = _filter_scan(lambda c, _: _update(env, config, c), c, config.updates_per_iteration)
        return c, {**jax.tree.map(jnp.mean, stats), "train_return": jnp.mean(jnp.sum(rewards, axis=-1))}

    dynamic, static = eqx.partition(carry, eqx.is_array)
    zero = jnp.zeros((), carry.buf_r.dtype)
    names = ("loss", "log_likelihood", "entropy", "temperature", "train_return")
    totals = {k: zero for k in names}

    def body(_, state):
        d, sums = state
        c, stats = iteration(eqx.combine(d, static))
        return eqx.partition(c, eqx.is_array)[0], jax.tree.map(
            lambda a, b: a + b.astype(a.dtype), sums, stats
        )

    dynamic, totals = jax.lax.fori_loop(0, iterations, body, (dynamic, totals))
    count = jnp.maximum(iterations, 1).astype(zero.dtype)
    return eqx.combine(dynamic, static), jax.tree.map(lambda x: x / count, totals)


def _evaluate(env: Env, config: ODTConfig, model: DecisionTransformer, target, key) -> RealScalar:
    keys = jax.random.split(key, config.eval_episodes)
    return jnp.mean(jax.vmap(lambda k: jnp.sum(episode(model, env, target, k, "mean")[2]))(keys))


def train_odt(
    env: EnvArg,
    config: ODTConfig | None = None,
    *,
    model: ModelArg = None,
    policy: PolicyArg = None,
    horizon: int | None = None,
    seeds: SeedsArg = 1,
    key: KeyArg = 0,
    out: OutArg = None,
    resume: bool = False,
    progress: bool = False,
    loggers: LoggersArg = (),
) -> RunResult:
    r"""Trains the Online Decision Transformer purely online (paper, Appendix F.3), all seeds at once.

    After `warmup_steps` of uniformly random actions, each iteration gathers
    `episodes_per_iteration` trajectories with the stochastic policy conditioned on the target
    return-to-go (see [`awmkit.baselines.ODTConfig`][]: `rtg`), stores them with their rewards in a
    first-in-first-out buffer of trajectories, and takes `updates_per_iteration` steps on segments of
    `context_length` timesteps whose returns-to-go are relabelled in hindsight with the returns actually
    achieved, ``R_t = \sum_{j \ge t} r_j``. The loss of Zheng et al. (2022) is

    $$-\frac{1}{|\mathcal{B}|}\sum_{t \in \mathcal{B}} \log \pi_\theta(a_t \mid R_{\le t}, s_{\le t},
    a_{<t}) - \mathrm{sg}[\lambda] \, \hat{\mathcal{H}}[\pi_\theta], \qquad
    \min_{\lambda \ge 0} \lambda \, \mathrm{sg}[\hat{\mathcal{H}}[\pi_\theta] - \beta],$$

    with the entropy ``H`` estimated from one sample per timestep and the target entropy
    ``beta = -action_dim``. The deterministic policy (``tanh mu``) is evaluated after the warm-up
    and after every chunk of about `eval_interval` steps; each chunk is one compiled loop,
    ``jax.vmap``-ed over seeds.

    The signature is every awmkit trainer's ([`awmkit.bpo.train`][]); the host loop is the shared one
    ([Runs](../runs.md)).

    **Arguments:**

    - `env`: an [`awmkit.envs.Env`][] or an environment name (with `horizon`).
    - `config`: an [`awmkit.baselines.ODTConfig`][] whose `target_return` is set (resolved by the
      caller: [`awmkit.evaluation.resolve_odt_config`][] reads the shipped optimal return).
    - `model`, `policy`: must be ``None`` (the Online DT learns without a world model and builds its
      transformer from `config`).
    - `horizon`: the number of steps ``H`` when `env` is a name.
    - `seeds`: the number of seeds or explicit seed indices (seed ``i`` uses ``fold_in(key, i)``).
    - `key`: an int or a JAX PRNG key.
    - `out`: the run directory (``config.json`` with ``"algo": "odt"``, the RTG mode and the target,
      and ``checkpoints/models.eqx``, the final transformers); ``None`` writes nothing.
    - `resume`: continue the run in `out` from its last checkpoint, bit-identical to an
      uninterrupted run.
    - `progress`: draw a progress bar on stderr.
    - `loggers`: [`awmkit.runs.AbstractLogger`][]s receiving the configuration and metric rows.

    **Returns:** an [`awmkit.runs.RunResult`][] whose `policy` is the trained
    [`awmkit.baselines.DecisionTransformer`][]s (leading seed axis) and whose `info` holds ``rtg`` and
    ``target_return``.

    **Raises:** as every trainer ([`awmkit.bpo.train`][]); a `config` without `target_return` is a
    ``ValueError`` before anything is compiled.
    """
    t0 = time.perf_counter()
    env = check_env(env, horizon)
    config = check_config(config, ODTConfig, "awmkit.baselines.ODTConfig")
    seed_ids, root, key_record, loggers, run_dir = check_common(
        "the Online DT", model, policy, seeds, key, loggers, out, resume
    )
    config.check_horizon(env.horizon)
    target = config.target(env)
    scale = config.scale(env)
    H = env.horizon
    run_config = {
        "awmkit_version": __version__,
        "algo": "odt",
        "env": env.name,
        "model": None,
        "horizon": H,
        "seeds": len(seed_ids),
        "seed_indices": list(seed_ids),
        "steps": config.steps,
        "key": key_record,
        **config.to_dict(),
        "rtg_target": target,
        "rtg_scale": scale,
    }
    per_chunk = max(1, config.eval_interval // (config.episodes_per_iteration * H))
    chunks, rest = divmod(config.iterations(H), per_chunk)
    chunk_sizes = [per_chunk] * chunks + ([rest] if rest else [])
    warm = config.warmup_episodes(H) * H
    eval_steps = list(np.cumsum([warm] + [n * config.episodes_per_iteration * H for n in chunk_sizes]))

    with jax.enable_x64(config.float64), jax.numpy_dtype_promotion("standard"):
        dtype = jnp.float64 if config.float64 else jnp.float32
        init = eqx.filter_vmap(lambda k: _init(env, config, k, dtype, target, scale))
        evaluate = eqx.filter_jit(
            eqx.filter_vmap(
                lambda m, k: _evaluate(env, config, m, target, k), in_axes=(eqx.if_array(0), None)
            )
        )
        eval_key = jax.random.fold_in(root, 2**31 - 1)
        train = eqx.filter_jit(
            eqx.filter_vmap(
                lambda c, n: _train_chunk(env, config, target, c, n), in_axes=(eqx.if_array(0), None)
            )
        )
        return train_chunked(
            algo="odt",
            label="Online DT",
            title=f"Online DT on {env.name}, H = {H}, {config.rtg} RTG {target:.6g}",
            env=env,
            run_config=run_config,
            checkpoint_format=_CHECKPOINT_FORMAT,
            seed_ids=seed_ids,
            root=root,
            init=init,
            train_chunk=train,
            evaluate=lambda c: evaluate(c.model, eval_key),
            chunk_sizes=chunk_sizes,
            eval_steps=eval_steps,
            result_extra={"rtg": config.rtg, "target_return": target},
            artifacts=lambda c: {"models.eqx": c.model},
            policy_of=lambda c: c.model,
            config=config,
            out=run_dir,
            resume=resume,
            progress=progress,
            loggers=loggers,
            t0=t0,
        )

"""The Online Decision Transformer (Zheng et al., 2022), trained purely online as in the paper's
Appendix F.3: compiled end to end, vmapped over seeds, run by the shared host loop (``awmkit.runs``).
The network is in ``_odt_network.py``, the configuration in ``_odt_config.py``."""

import math
import time
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array

from .._typing import Key, RealScalar
from .._version import __version__
from ..envs import Env
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
from ._common import check_common, filter_scan, filter_scan_xs, train_chunked
from ._odt_config import ODTConfig
from ._odt_network import DecisionTransformer, _log_prob, _sample, _trainable, episode

_CHECKPOINT_FORMAT = "awmkit-odt-checkpoint-v2"


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

    return filter_scan_xs(one, carry, (states, actions, rewards))


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
        c, stats = filter_scan(lambda c, _: _update(env, config, c), c, config.updates_per_iteration)
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

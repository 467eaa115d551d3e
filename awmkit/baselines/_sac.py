"""Soft Actor-Critic (Haarnoja et al., 2018): the model-free baseline of the Myriad experiments (paper,
Appendix C.2, Table 2), compiled end to end and vmapped over seeds."""

import dataclasses
import math
import time
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float

from .._typing import Key, RealScalar
from .._version import __version__
from ..envs import Env, rollout
from ..policies import TanhGaussianPolicy
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
from ._common import check_common, check_config_fields, filter_scan, train_chunked

_LOG_2PI = math.log(2.0 * math.pi)


@dataclasses.dataclass(frozen=True)
class SACConfig:
    """Every hyper-parameter of [`awmkit.baselines.train_sac`][]; defaults are the paper's Table 2.

    **SAC's replay ratios count environment steps per gradient update** (BPO's,
    [`awmkit.bpo.BPOConfig`][], count updates per collected episode: the two readings differ on
    purpose): the critics take one Adam step every `critic_replay_ratio` environment steps and the
    actor one every `policy_replay_ratio` steps (a delayed actor, as in TD3). Over the paper's 200 000
    steps that is 100 000 critic and 12 500 actor updates. The other reading, updates per environment
    step, would update the actor 3.2 million times, eight times as often as the critics it follows,
    which no actor-critic method does (the actor chases a critic that has not moved); Table 2's
    ratios 2 and 16 are only sensible as steps per update.

    **Arguments:**

    - `steps`: environment steps per seed, warm-up included (200 000).
    - `warmup_steps`: uniformly random steps before learning (1 500); the state normaliser is fitted
      to them.
    - `batch_size`: transitions per update (128).
    - `discount`: ``gamma`` (0.995). The last step of an episode does not bootstrap.
    - `polyak`: target-critic averaging ``theta' <- polyak theta' + (1 - polyak) theta`` after every
      critic update (0.995).
    - `critic_replay_ratio`, `policy_replay_ratio`: environment steps per critic / actor update (2, 16);
      `policy_replay_ratio` must be a multiple of `critic_replay_ratio`.
    - `buffer_size`: replay capacity in transitions (1e6; capped at `steps`).
    - `critic_width`, `critic_depth`: the two Q-networks' MLPs (256, 2 hidden layers).
    - `policy_width`, `policy_depth`: the tanh-Gaussian actor's MLP (256, 2).
    - `critic_lr`, `policy_lr`: Adam learning rates (1e-4; the paper sweeps 1e-3, 1e-4, 1e-5).
    - `entropy_coef`: the constant ``alpha`` (0.01; the paper sweeps 1, 0.01, 0.001).
    - `reward_scale`: rewards are multiplied by it before learning (1: the paper's setting; returned
      and logged returns are always unscaled).
    - `eval_interval`: environment steps between evaluations of the deterministic policy (5 000),
      rounded down to whole actor-update blocks of `policy_replay_ratio` steps (4 992 by default).
    - `eval_episodes`: episodes per evaluation (1 suffices for a fixed initial state).
    - `float64`: run in double precision.

    Raises ``ValueError`` naming the field for a bad value.
    """

    steps: int = 200_000
    warmup_steps: int = 1500
    batch_size: int = 128
    discount: float = 0.995
    polyak: float = 0.995
    critic_replay_ratio: int = 2
    policy_replay_ratio: int = 16
    buffer_size: int = 1_000_000
    critic_width: int = 256
    critic_depth: int = 2
    policy_width: int = 256
    policy_depth: int = 2
    critic_lr: float = 1e-4
    policy_lr: float = 1e-4
    entropy_coef: float = 0.01
    reward_scale: float = 1.0
    eval_interval: int = 5000
    eval_episodes: int = 1
    float64: bool = False

    def __post_init__(self):
        check_config_fields(
            self,
            positive_ints=(
                "steps",
                "warmup_steps",
                "batch_size",
                "critic_replay_ratio",
                "policy_replay_ratio",
                "buffer_size",
                "critic_width",
                "policy_width",
                "eval_interval",
                "eval_episodes",
            ),
            non_negative_ints=("critic_depth", "policy_depth"),
            unit_interval=("discount", "polyak"),
            positive=("critic_lr", "policy_lr", "reward_scale"),
            non_negative=("entropy_coef",),
        )
        if self.policy_replay_ratio % self.critic_replay_ratio:
            raise ValueError(
                f"`policy_replay_ratio` ({self.policy_replay_ratio}) must be a multiple of "
                f"`critic_replay_ratio` ({self.critic_replay_ratio})"
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _critic_apply(critics, x, a) -> Float[Array, " 2"]:
    xa = jnp.concatenate([x, a])
    return eqx.filter_vmap(lambda c: c(xa)[0])(critics)


class _Carry(eqx.Module):
    policy: TanhGaussianPolicy
    critics: eqx.nn.MLP
    target: eqx.nn.MLP
    policy_opt: Any
    critic_opt: Any
    state: Float[Array, " state_dim"]
    k: Array
    buf_s: Array
    buf_k: Array
    buf_a: Array
    buf_r: Array
    buf_s2: Array
    buf_done: Array
    ptr: Array
    size: Array
    key: Array


def _init(env: Env, config: SACConfig, key: Key, dtype) -> _Carry:
    n, m = env.state_dim, env.action_dim
    k_actor, k_critic, k_reset, key = jax.random.split(key, 4)
    actor = TanhGaussianPolicy(
        n, m, env.horizon, config.policy_width, config.policy_depth, activation=jax.nn.relu, key=k_actor
    )
    critics = eqx.filter_vmap(
        lambda k: eqx.nn.MLP(
            n + 1 + m, 1, config.critic_width, config.critic_depth, activation=jax.nn.relu, key=k
        )
    )(jax.random.split(k_critic, 2))
    to_dtype = lambda tree: jax.tree.map(lambda x: x.astype(dtype) if eqx.is_inexact_array(x) else x, tree)
    actor, critics = to_dtype(actor), to_dtype(critics)
    policy = actor
    cap = min(config.buffer_size, config.steps)
    s0 = env.reset(k_reset) if env.initial_state_fn is not None else env.reset()
    return _Carry(
        policy=policy,
        critics=critics,
        target=critics,
        policy_opt=optax.adam(config.policy_lr).init(eqx.filter(policy, eqx.is_inexact_array)),
        critic_opt=optax.adam(config.critic_lr).init(eqx.filter(critics, eqx.is_inexact_array)),
        state=s0.astype(dtype),
        k=jnp.zeros((), jnp.int32),
        buf_s=jnp.zeros((cap, n), dtype),
        buf_k=jnp.zeros((cap,), jnp.int32),
        buf_a=jnp.zeros((cap, m), dtype),
        buf_r=jnp.zeros((cap,), dtype),
        buf_s2=jnp.zeros((cap, n), dtype),
        buf_done=jnp.zeros((cap,), dtype),
        ptr=jnp.zeros((), jnp.int32),
        size=jnp.zeros((), jnp.int32),
        key=key,
    )


def _env_steps(env: Env, config: SACConfig, carry: _Carry, count: int, random: bool) -> tuple[_Carry, Array]:
    """``count`` environment steps (random actions, or the current policy's samples), stored in the
    buffer. Returns the new carry and the (unscaled) rewards."""
    cap = carry.buf_r.shape[0]

    def body(c: _Carry, _):
        key, k_act, k_reset = jax.random.split(c.key, 3)
        if random:
            action = jax.random.uniform(k_act, (env.action_dim,), c.state.dtype, -1.0, 1.0)
        else:
            action = c.policy(c.state, c.k, k_act)
        nxt = env.step(c.state, action, c.k)
        reward = env.reward(c.state, action, nxt, c.k)
        done = c.k == env.horizon - 1
        i = c.ptr
        c = eqx.tree_at(
            lambda c: (c.buf_s, c.buf_k, c.buf_a, c.buf_r, c.buf_s2, c.buf_done),
            c,
            (
                c.buf_s.at[i].set(c.state),
                c.buf_k.at[i].set(c.k),
                c.buf_a.at[i].set(action),
                c.buf_r.at[i].set(reward),
                c.buf_s2.at[i].set(nxt),
                c.buf_done.at[i].set(done.astype(c.state.dtype)),
            ),
        )
        s0 = env.reset(k_reset) if env.initial_state_fn is not None else env.reset()
        state = jnp.where(done, s0.astype(nxt.dtype), nxt)
        k = jnp.where(done, 0, c.k + 1)
        c = eqx.tree_at(
            lambda c: (c.state, c.k, c.ptr, c.size, c.key),
            c,
            (state, k, (i + 1) % cap, jnp.minimum(c.size + 1, cap), key),
        )
        return c, reward

    return filter_scan(body, carry, count)


def _batch(carry: _Carry, key, batch_size):
    idx = jax.random.randint(key, (batch_size,), 0, carry.size)
    return (
        carry.buf_s[idx],
        carry.buf_k[idx],
        carry.buf_a[idx],
        carry.buf_r[idx],
        carry.buf_s2[idx],
        carry.buf_done[idx],
    )


def _critic_update(env: Env, config: SACConfig, carry: _Carry) -> tuple[_Carry, dict]:
    key, k_batch, k_next = jax.random.split(carry.key, 3)
    s, k, a, r, s2, done = _batch(carry, k_batch, config.batch_size)
    policy = carry.policy
    x = jax.vmap(policy.features)(s, k)
    k2 = jnp.minimum(k + 1, env.horizon - 1)
    x2 = jax.vmap(policy.features)(s2, k2)
    a2, logp2 = jax.vmap(policy.sample_and_log_prob)(s2, k2, jax.random.split(k_next, config.batch_size))
    q_next = jnp.min(jax.vmap(_critic_apply, in_axes=(None, 0, 0))(carry.target, x2, a2), axis=-1)
    soft = q_next - config.entropy_coef * logp2
    y = jax.lax.stop_gradient(config.reward_scale * r + config.discount * (1.0 - done) * soft)

    def loss_fn(critics):
        q = jax.vmap(_critic_apply, in_axes=(None, 0, 0))(critics, x, a)
        return jnp.mean(jnp.sum((q - y[:, None]) ** 2, axis=-1)), jnp.mean(q)

    params, static = eqx.partition(carry.critics, eqx.is_inexact_array)
    (loss, q_mean), grads = jax.value_and_grad(lambda p: loss_fn(eqx.combine(p, static)), has_aux=True)(
        params
    )
    updates, opt = optax.adam(config.critic_lr).update(grads, carry.critic_opt, params)
    critics = eqx.combine(optax.apply_updates(params, updates), static)
    target = jax.tree.map(
        lambda t, o: config.polyak * t + (1.0 - config.polyak) * o if eqx.is_inexact_array(t) else t,
        carry.target,
        critics,
    )
    carry = eqx.tree_at(
        lambda c: (c.critics, c.target, c.critic_opt, c.key), carry, (critics, target, opt, key)
    )
    return carry, {"critic_loss": loss, "q_mean": q_mean}


def _policy_update(config: SACConfig, carry: _Carry) -> tuple[_Carry, dict]:
    key, k_batch, k_act = jax.random.split(carry.key, 3)
    s, k, *_ = _batch(carry, k_batch, config.batch_size)
    x = jax.vmap(carry.policy.features)(s, k)
    # The normaliser statistics are leaves too, but behind a stop_gradient: their zero gradients leave
    # Adam's moments, hence their values, at zero change.
    params, static = eqx.partition(carry.policy, eqx.is_inexact_array)

    def loss_fn(p):
        actor = eqx.combine(p, static)
        a, logp = jax.vmap(actor.sample_and_log_prob)(s, k, jax.random.split(k_act, config.batch_size))
        q = jnp.min(jax.vmap(_critic_apply, in_axes=(None, 0, 0))(carry.critics, x, a), axis=-1)
        return jnp.mean(config.entropy_coef * logp - q), -jnp.mean(logp)

    (loss, entropy), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    updates, opt = optax.adam(config.policy_lr).update(grads, carry.policy_opt, params)
    actor = eqx.combine(optax.apply_updates(params, updates), static)
    carry = eqx.tree_at(lambda c: (c.policy, c.policy_opt, c.key), carry, (actor, opt, key))
    return carry, {"policy_loss": loss, "entropy": entropy}


def _train_chunk(env: Env, config: SACConfig, carry: _Carry, blocks: Array) -> tuple[_Carry, dict]:
    """``blocks`` (a traced integer, so every chunk length shares one compilation) blocks of
    ``policy_replay_ratio`` environment steps: within a block, a critic update after every
    ``critic_replay_ratio`` steps, and an actor update at its end. Returns the mean statistics."""
    per_block = config.policy_replay_ratio // config.critic_replay_ratio

    def critic_block(c, _):
        c, _ = _env_steps(env, config, c, config.critic_replay_ratio, random=False)
        return _critic_update(env, config, c)

    def block(c):
        c, critic_stats = filter_scan(critic_block, c, per_block)
        c, policy_stats = _policy_update(config, c)
        return c, {**jax.tree.map(jnp.mean, critic_stats), **policy_stats}

    dynamic, static = eqx.partition(carry, eqx.is_array)
    zero = jnp.zeros((), carry.buf_r.dtype)
    totals = {"critic_loss": zero, "q_mean": zero, "policy_loss": zero, "entropy": zero}

    def body(_, state):
        d, sums = state
        c, stats = block(eqx.combine(d, static))
        return eqx.partition(c, eqx.is_array)[0], jax.tree.map(
            lambda a, b: a + b.astype(a.dtype), sums, stats
        )

    dynamic, totals = jax.lax.fori_loop(0, blocks, body, (dynamic, totals))
    count = jnp.maximum(blocks, 1).astype(zero.dtype)
    return eqx.combine(dynamic, static), jax.tree.map(lambda x: x / count, totals)


def _warmup(env: Env, config: SACConfig, carry: _Carry) -> _Carry:
    carry, _ = _env_steps(env, config, carry, config.warmup_steps, random=True)
    # Fit the input normaliser to the warm-up states (fixed afterwards, like the paper's BPO models).
    n = carry.size
    valid = (jnp.arange(carry.buf_s.shape[0]) < n)[:, None]
    mean = jnp.sum(jnp.where(valid, carry.buf_s, 0.0), axis=0) / n
    var = jnp.sum(jnp.where(valid, (carry.buf_s - mean[None]) ** 2, 0.0), axis=0) / n
    return eqx.tree_at(lambda c: c.policy, carry, carry.policy.with_normaliser(mean, jnp.sqrt(var)))


def _evaluate(env: Env, config: SACConfig, policy: TanhGaussianPolicy, key) -> RealScalar:
    keys = jax.random.split(key, config.eval_episodes)
    returns = jax.vmap(lambda k: rollout(env, lambda s, t, _: policy(s, t, None), k).total_return)(keys)
    return jnp.mean(returns)


_CHECKPOINT_FORMAT = "awmkit-sac-checkpoint-v2"


def train_sac(
    env: EnvArg,
    config: SACConfig | None = None,
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
    """Trains Soft Actor-Critic on one environment, all seeds at once.

    The actor is an [`awmkit.policies.TanhGaussianPolicy`][] on ``[normalised state, k / H]`` (the
    time input makes the finite-horizon problem Markov); two Q-networks with a Polyak-averaged target,
    the clipped double-Q target

    $$y = r + \\gamma (1 - d) \\Big(\\min_{j=1,2} Q'_j(s', a') - \\alpha \\log \\pi(a' \\mid s')\\Big),
    \\qquad a' \\sim \\pi(\\cdot \\mid s'),$$

    and a constant entropy coefficient ``alpha`` (paper, Appendix C.2). After `warmup_steps` uniformly
    random steps, each chunk of `eval_interval` environment steps is one compiled loop,
    ``jax.vmap``-ed over seeds; the deterministic policy (``tanh`` of the mean) is evaluated after the
    warm-up and after every chunk.

    With `out`, a checkpoint of the whole training state (networks, optimisers, replay buffer,
    keys) is written atomically after every chunk by the shared host loop ([Runs](../runs.md)), with a
    JSON header naming the run; `resume` continues from it and finishes bit-identical to an
    uninterrupted run. The signature is every awmkit trainer's ([`awmkit.bpo.train`][]).

    **Arguments:**

    - `env`: an [`awmkit.envs.Env`][] or an environment name (with `horizon`).
    - `config`: a [`awmkit.baselines.SACConfig`][] (Table 2 defaults).
    - `model`, `policy`: must be ``None`` (SAC learns without a world model and builds its actor from
      `config`); they are in the signature every trainer shares.
    - `horizon`: the number of steps ``H`` when `env` is a name.
    - `seeds`: the number of seeds ``N`` (indices ``0..N-1``) or explicit seed indices, trained in
      parallel; seed ``i`` uses ``jax.random.fold_in(key, i)``.
    - `key`: an int or a JAX PRNG key.
    - `out`: the run directory ([Runs](../runs.md); ``config.json`` with ``"algo": "sac"``, and
      ``checkpoints/policies.eqx``, the final actors); ``None`` writes nothing.
    - `resume`: continue the run in `out` from its last checkpoint (a finished run is returned
      without training). A checkpoint of a different run is refused with what differs.
    - `progress`: draw a progress bar on stderr.
    - `loggers`: [`awmkit.runs.AbstractLogger`][]s receiving the configuration and metric rows.

    **Returns:** an [`awmkit.runs.RunResult`][] whose `policy` is the trained actors, an
    [`awmkit.policies.TanhGaussianPolicy`][] (ReLU MLP, state normaliser fitted after the warm-up)
    with a leading seed axis.

    **Raises:** as every trainer ([`awmkit.bpo.train`][]): ``ValueError`` for bad arguments (before
    anything is compiled), [`awmkit.runs.RunExistsError`][], [`awmkit.runs.RunLockedError`][],
    [`awmkit.runs.CheckpointError`][] and ``OSError`` naming the file.
    """
    t0 = time.perf_counter()
    env = check_env(env, horizon)
    config = check_config(config, SACConfig, "awmkit.baselines.SACConfig")
    seed_ids, root, key_record, loggers, run_dir = check_common(
        "SAC", model, policy, seeds, key, loggers, out, resume
    )
    run_config = {
        "awmkit_version": __version__,
        "algo": "sac",
        "env": env.name,
        "model": None,
        "horizon": env.horizon,
        "seeds": len(seed_ids),
        "seed_indices": list(seed_ids),
        "steps": config.steps,
        "key": key_record,
        **config.to_dict(),
    }
    blocks_per_chunk = max(1, config.eval_interval // config.policy_replay_ratio)
    train_steps = config.steps - config.warmup_steps
    chunks, rest = divmod(train_steps // config.policy_replay_ratio, blocks_per_chunk)
    chunk_sizes = [blocks_per_chunk] * chunks + ([rest] if rest else [])
    # Env steps at each evaluation: after the warm-up, then after every chunk.
    eval_steps = list(
        np.cumsum([config.warmup_steps] + [n * config.policy_replay_ratio for n in chunk_sizes])
    )

    with jax.enable_x64(config.float64), jax.numpy_dtype_promotion("standard"):
        dtype = jnp.float64 if config.float64 else jnp.float32
        init = eqx.filter_vmap(lambda k: _warmup(env, config, _init(env, config, k, dtype)))
        evaluate = eqx.filter_jit(
            eqx.filter_vmap(lambda p, k: _evaluate(env, config, p, k), in_axes=(eqx.if_array(0), None))
        )
        eval_key = jax.random.fold_in(root, 2**31 - 1)
        train = eqx.filter_jit(
            eqx.filter_vmap(lambda c, n: _train_chunk(env, config, c, n), in_axes=(eqx.if_array(0), None))
        )
        return train_chunked(
            algo="sac",
            label="SAC",
            title=f"SAC on {env.name}, H = {env.horizon}",
            env=env,
            run_config=run_config,
            checkpoint_format=_CHECKPOINT_FORMAT,
            seed_ids=seed_ids,
            root=root,
            init=init,
            train_chunk=train,
            evaluate=lambda c: evaluate(c.policy, eval_key),
            chunk_sizes=chunk_sizes,
            eval_steps=eval_steps,
            result_extra={},
            artifacts=lambda c: {"policies.eqx": c.policy},
            policy_of=lambda c: c.policy,
            config=config,
            out=run_dir,
            resume=resume,
            progress=progress,
            loggers=loggers,
            t0=t0,
        )

"""Soft Actor-Critic (Haarnoja et al., 2018): the model-free baseline of the Myriad experiments (paper,
Appendix C.2, Table 2), compiled end to end and vmapped over seeds."""

import dataclasses
import json
import math
import pathlib
import time
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float

from .._typing import IntScalarLike, Key, RealScalar
from ..envs import Env, make, rollout

_LOG_2PI = math.log(2.0 * math.pi)


@dataclasses.dataclass(frozen=True)
class SACConfig:
    """Every hyper-parameter of [`awmkit.baselines.train_sac`][]; defaults are the paper's Table 2.

    **Replay ratios count environment steps per gradient update**: the critics take one Adam step
    every `critic_replay_ratio` environment steps and the actor one every `policy_replay_ratio` steps
    (a delayed actor, as in TD3). Over the paper's 200 000 steps that is 100 000 critic and 12 500
    actor updates; the other reading, updates per environment step, would update the actor 3.2
    million times, eight times as often as the critics it follows.

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
        ints = (
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
        )
        for name in ints:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"`{name}` must be a positive integer, got {value!r}")
        for name in ("critic_depth", "policy_depth"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"`{name}` must be a non-negative integer, got {value!r}")
        for name in ("discount", "polyak"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"`{name}` must lie in [0, 1], got {getattr(self, name)!r}")
        for name in ("critic_lr", "policy_lr", "reward_scale"):
            if not getattr(self, name) > 0:
                raise ValueError(f"`{name}` must be positive, got {getattr(self, name)!r}")
        if not self.entropy_coef >= 0:
            raise ValueError(f"`entropy_coef` must be non-negative, got {self.entropy_coef!r}")
        if self.policy_replay_ratio % self.critic_replay_ratio:
            raise ValueError(
                f"`policy_replay_ratio` ({self.policy_replay_ratio}) must be a multiple of "
                f"`critic_replay_ratio` ({self.critic_replay_ratio})"
            )
        if self.warmup_steps >= self.steps:
            raise ValueError(f"`warmup_steps` ({self.warmup_steps}) must be below `steps` ({self.steps})")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class _Actor(eqx.Module):
    """Tanh-squashed Gaussian actor on ``[normalised state, k / H]``."""

    mlp: eqx.nn.MLP
    action_dim: int = eqx.field(static=True)

    def __init__(self, in_size: int, action_dim: int, width: int, depth: int, *, key: Key):
        self.mlp = eqx.nn.MLP(in_size, 2 * action_dim, width, depth, activation=jax.nn.relu, key=key)
        self.action_dim = action_dim

    def _dist(self, x):
        out = self.mlp(x)
        mean, raw = out[: self.action_dim], out[self.action_dim :]
        log_std = -5.0 + 3.5 * (jnp.tanh(raw) + 1.0)  # softly bounded to [-5, 2]
        return mean, log_std

    def sample(self, x, key):
        mean, log_std = self._dist(x)
        eps = jax.random.normal(key, mean.shape, mean.dtype)
        u = mean + jnp.exp(log_std) * eps
        gaussian = -0.5 * (eps**2 + _LOG_2PI) - log_std
        # log(1 - tanh(u)^2) in a stable form.
        correction = 2.0 * (math.log(2.0) - u - jax.nn.softplus(-2.0 * u))
        return jnp.tanh(u), jnp.sum(gaussian - correction)

    def mode(self, x):
        return jnp.tanh(self._dist(x)[0])


class SACPolicy(eqx.Module):
    """A trained SAC actor as an awmkit policy: ``policy(state, k, key)`` samples, ``key=None`` acts
    deterministically (``tanh`` of the mean). Holds the state normaliser fitted after the warm-up.

    **Fields:** `actor` (the MLP), `state_mean`, `state_std`, `horizon`.
    """

    actor: _Actor
    state_mean: Float[Array, " state_dim"]
    state_std: Float[Array, " state_dim"]
    horizon: int = eqx.field(static=True)

    def features(self, state: Float[Array, " state_dim"], k: IntScalarLike) -> Float[Array, " features"]:
        normalised = (state - self.state_mean.astype(state.dtype)) / self.state_std.astype(state.dtype)
        return jnp.concatenate([normalised, (jnp.asarray(k, state.dtype) / self.horizon)[None]])

    def __call__(
        self, state: Float[Array, " state_dim"], k: IntScalarLike, key: Key | None = None
    ) -> Float[Array, " action_dim"]:
        x = self.features(state, k)
        if key is None:
            return self.actor.mode(x)
        return self.actor.sample(x, key)[0]


def _critic_apply(critics, x, a) -> Float[Array, " 2"]:
    xa = jnp.concatenate([x, a])
    return eqx.filter_vmap(lambda c: c(xa)[0])(critics)


class _Carry(eqx.Module):
    policy: SACPolicy
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
    actor = _Actor(n + 1, m, config.policy_width, config.policy_depth, key=k_actor)
    critics = eqx.filter_vmap(
        lambda k: eqx.nn.MLP(
            n + 1 + m, 1, config.critic_width, config.critic_depth, activation=jax.nn.relu, key=k
        )
    )(jax.random.split(k_critic, 2))
    to_dtype = lambda tree: jax.tree.map(lambda x: x.astype(dtype) if eqx.is_inexact_array(x) else x, tree)
    actor, critics = to_dtype(actor), to_dtype(critics)
    policy = SACPolicy(actor, jnp.zeros(n, dtype), jnp.ones(n, dtype), env.horizon)
    cap = min(config.buffer_size, config.steps)
    s0 = env.reset(k_reset) if env.initial_state_fn is not None else env.reset()
    return _Carry(
        policy=policy,
        critics=critics,
        target=critics,
        policy_opt=optax.adam(config.policy_lr).init(eqx.filter(actor, eqx.is_inexact_array)),
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


def _filter_scan(body, carry, length: int):
    """``lax.scan`` over a carry that holds non-array leaves (activation functions in the MLPs)."""
    dynamic, static = eqx.partition(carry, eqx.is_array)

    def f(d, x):
        c, out = body(eqx.combine(d, static), x)
        return eqx.partition(c, eqx.is_array)[0], out

    dynamic, out = jax.lax.scan(f, dynamic, None, length=length)
    return eqx.combine(dynamic, static), out


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

    return _filter_scan(body, carry, count)


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
    x2 = jax.vmap(policy.features)(s2, jnp.minimum(k + 1, env.horizon - 1))
    a2, logp2 = jax.vmap(policy.actor.sample)(x2, jax.random.split(k_next, config.batch_size))
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
    params, static = eqx.partition(carry.policy.actor, eqx.is_inexact_array)

    def loss_fn(p):
        actor = eqx.combine(p, static)
        a, logp = jax.vmap(actor.sample)(x, jax.random.split(k_act, config.batch_size))
        q = jnp.min(jax.vmap(_critic_apply, in_axes=(None, 0, 0))(carry.critics, x, a), axis=-1)
        return jnp.mean(config.entropy_coef * logp - q), -jnp.mean(logp)

    (loss, entropy), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    updates, opt = optax.adam(config.policy_lr).update(grads, carry.policy_opt, params)
    actor = eqx.combine(optax.apply_updates(params, updates), static)
    carry = eqx.tree_at(lambda c: (c.policy.actor, c.policy_opt, c.key), carry, (actor, opt, key))
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
        c, critic_stats = _filter_scan(critic_block, c, per_block)
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
    std = jnp.maximum(jnp.sqrt(var), 1e-6)
    return eqx.tree_at(lambda c: (c.policy.state_mean, c.policy.state_std), carry, (mean, std))


def _evaluate(env: Env, config: SACConfig, policy: SACPolicy, key) -> RealScalar:
    keys = jax.random.split(key, config.eval_episodes)
    returns = jax.vmap(lambda k: rollout(env, lambda s, t, _: policy(s, t, None), k).total_return)(keys)
    return jnp.mean(returns)


@dataclasses.dataclass(frozen=True)
class SACResult:
    """What [`awmkit.baselines.train_sac`][] returns.

    **Fields:** `final_return` (one evaluation return per seed, the last evaluation), `env_steps` and
    `eval_returns` (the learning curves, shape ``(evaluations,)`` and ``(evaluations, seeds)``),
    `policies` (the trained [`awmkit.baselines.SACPolicy`][] with a leading seed axis on every array;
    ``jax.tree.map(lambda x: x[i], policies)`` is seed ``i``'s), `run_dir` (or ``None``),
    `wall_time_s`.
    """

    final_return: np.ndarray
    env_steps: np.ndarray
    eval_returns: np.ndarray
    policies: SACPolicy
    run_dir: pathlib.Path | None
    wall_time_s: float


def train_sac(
    env: str | Env,
    horizon: int | None = None,
    config: SACConfig | None = None,
    *,
    seeds: int = 1,
    key: int = 0,
    run_dir: str | pathlib.Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> SACResult:
    """Trains Soft Actor-Critic on one environment, all seeds at once.

    The actor is a tanh-squashed Gaussian on ``[normalised state, k / H]`` (the time input makes the
    finite-horizon problem Markov); two Q-networks with a Polyak-averaged target, the clipped double-Q
    target ``r + gamma (1 - done) (min_j Q'_j(s', a') - alpha log pi(a' | s'))`` with ``a' ~ pi(s')``,
    and a constant entropy coefficient ``alpha`` (paper, Appendix C.2). Each chunk of
    `eval_interval` environment steps is one compiled ``lax.scan``, ``jax.vmap``-ed over seeds; the
    deterministic policy is evaluated after the warm-up and after every chunk.

    **Arguments:**

    - `env`: an environment name (with `horizon`) or an [`awmkit.envs.Env`][].
    - `horizon`: the number of steps ``H`` when `env` is a name.
    - `config`: a [`awmkit.baselines.SACConfig`][] (Table 2 defaults).
    - `seeds`: independent seeds trained in parallel.
    - `key`: integer seed of the whole run (seed ``i`` uses ``jax.random.fold_in(key, i)``).
    - `run_dir`: where to write the shared run-directory format (``config.json``, ``metrics.jsonl``,
      ``result.json``, ``checkpoints/policies.eqx``, ``learning_curve.png`` when matplotlib is
      installed); ``None`` writes nothing.
    - `progress`: called with a one-line status after every chunk (e.g. ``print``).

    **Returns:** a [`awmkit.baselines.SACResult`][].
    """
    from .. import __version__

    if isinstance(env, str):
        if horizon is None:
            raise ValueError("`horizon` is required when `env` is a name")
        env_name = env
        env = make(env, horizon)
    elif isinstance(env, Env):
        env_name = env.name
        if horizon is not None and horizon != env.horizon:
            raise ValueError(f"`horizon` ({horizon}) differs from the environment's ({env.horizon})")
    else:
        raise TypeError(f"`env` must be an environment name or an awmkit.envs.Env, got {type(env).__name__}")
    config = SACConfig() if config is None else config
    if not isinstance(config, SACConfig):
        raise TypeError(f"`config` must be an awmkit.baselines.SACConfig, got {type(config).__name__}")
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds <= 0:
        raise ValueError(f"`seeds` must be a positive integer, got {seeds!r}")
    if isinstance(key, bool) or not isinstance(key, int):
        raise TypeError(f"`key` must be an integer seed, got {key!r}")
    run_path = None if run_dir is None else pathlib.Path(run_dir)
    if run_path is not None:
        if (run_path / "config.json").exists():
            raise FileExistsError(f"run directory {str(run_path)!r} already holds a run (config.json exists)")
        (run_path / "checkpoints").mkdir(parents=True, exist_ok=True)
        run_config = {
            "awmkit_version": __version__,
            "algo": "sac",
            "env": env_name,
            "model": None,
            "horizon": env.horizon,
            "seeds": seeds,
            "steps": config.steps,
            "key": key,
            **config.to_dict(),
        }
        (run_path / "config.json").write_text(json.dumps(run_config, indent=2) + "\n")
        (run_path / "metrics.jsonl").write_text("")

    start = time.perf_counter()
    blocks_per_chunk = max(1, config.eval_interval // config.policy_replay_ratio)
    train_steps = config.steps - config.warmup_steps
    chunks, rest = divmod(train_steps // config.policy_replay_ratio, blocks_per_chunk)
    chunk_sizes = [blocks_per_chunk] * chunks + ([rest] if rest else [])
    with jax.enable_x64(config.float64), jax.numpy_dtype_promotion("standard"):
        dtype = jnp.float64 if config.float64 else jnp.float32
        root = jax.random.key(key)
        seed_keys = jax.vmap(lambda i: jax.random.fold_in(root, i))(jnp.arange(seeds))
        carry = eqx.filter_jit(eqx.filter_vmap(lambda k: _init(env, config, k, dtype)))(seed_keys)
        carry = eqx.filter_jit(eqx.filter_vmap(lambda c: _warmup(env, config, c)))(carry)
        evaluate = eqx.filter_jit(
            eqx.filter_vmap(lambda p, k: _evaluate(env, config, p, k), in_axes=(eqx.if_array(0), None))
        )
        eval_key = jax.random.fold_in(root, 2**31 - 1)
        train = eqx.filter_jit(
            eqx.filter_vmap(lambda c, n: _train_chunk(env, config, c, n), in_axes=(eqx.if_array(0), None))
        )
        steps_done = config.warmup_steps
        history_steps, history_returns = [], []

        def record(stats: dict | None):
            returns = np.asarray(evaluate(carry.policy, eval_key), dtype=np.float64)
            history_steps.append(steps_done)
            history_returns.append(returns)
            if run_path is not None:
                with open(run_path / "metrics.jsonl", "a") as f:
                    for s in range(seeds):
                        rec = {"env_steps": steps_done, "seed": s, "eval_return": float(returns[s])}
                        if stats is not None:
                            rec.update({k: float(v[s]) for k, v in stats.items()})
                        f.write(json.dumps(rec) + "\n")
            if progress is not None:
                progress(
                    f"sac {env_name} H={env.horizon}: {steps_done}/{config.steps} steps, eval return "
                    f"mean {returns.mean():.6g} over {seeds} seeds, {time.perf_counter() - start:.0f} s"
                )

        record(None)
        for n in chunk_sizes:
            carry, stats = train(carry, jnp.asarray(n, jnp.int32))
            steps_done += n * config.policy_replay_ratio
            record(jax.tree.map(np.asarray, stats))
    wall = time.perf_counter() - start
    final = history_returns[-1]
    if run_path is not None:
        eqx.tree_serialise_leaves(run_path / "checkpoints" / "policies.eqx", carry.policy)
        result = {
            "algo": "sac",
            "env": env_name,
            "model": None,
            "horizon": env.horizon,
            "seeds": seeds,
            "env_steps": steps_done,
            "final_return": [float(x) for x in final],
            "wall_time_s": wall,
        }
        (run_path / "result.json").write_text(json.dumps(result, indent=2) + "\n")
        _plot_curve(run_path, env_name, env.horizon, np.asarray(history_steps), np.stack(history_returns))
    return SACResult(
        final_return=final,
        env_steps=np.asarray(history_steps),
        eval_returns=np.stack(history_returns),
        policies=carry.policy,
        run_dir=run_path,
        wall_time_s=wall,
    )


def _plot_curve(run_path: pathlib.Path, env_name: str, horizon: int, steps: np.ndarray, returns: np.ndarray):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # plotting is an optional extra
        return
    fig, ax = plt.subplots(figsize=(5, 3.5))
    mean, std = returns.mean(axis=1), returns.std(axis=1)
    ax.plot(steps, mean, label=f"SAC ({returns.shape[1]} seeds)")
    ax.fill_between(steps, mean - std, mean + std, alpha=0.3)
    ax.set_xlabel("environment steps")
    ax.set_ylabel("evaluation return")
    ax.set_title(f"{env_name}, H = {horizon}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(run_path / "learning_curve.png", dpi=120)
    plt.close(fig)

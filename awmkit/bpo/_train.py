"""Algorithm 1 (BPO) as one compiled program: ``lax.scan`` over iterations, ``vmap`` over seeds."""

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Bool, Float, Int, PyTree, UInt32

from .._typing import Key, RealScalar
from ..envs import Env, rollout
from ..models import AbstractWorldModel, MarkovianModel, fit_normaliser, trainable_filter
from ..policies import AbstractPolicy
from ._buffer import EpisodeBuffer
from ._config import BPOConfig
from ._hyper import PER_RUN_FIELDS, Hyper
from ._profile import damped_policy_objective
from ._tree import _all_finite, _global_norm, _select, cast_floats, is_float_dtype  # noqa: F401 (re-exported)

#: Which quantity went non-finite, as stored in ``TrainState.nan_code``.
NAN_QUANTITIES = {
    0: "none",
    1: "model loss",
    2: "model gradient",
    3: "model parameters",
    4: "policy objective",
    5: "policy gradient",
    6: "policy parameters",
}

#: Per-iteration training quantities returned by a chunk (besides ``env_steps`` and ``alive``).
METRIC_KEYS = (
    "episode_return",
    "model_loss",
    "model_grad_norm",
    "policy_objective",
    "policy_grad_norm",
    "entropy",
    "eval_return",
)


class TrainState(eqx.Module):
    """Everything one seed's run carries from iteration to iteration (and what a checkpoint holds).

    **Fields:** `model`, `policy`, their Optax states `model_opt` and `policy_opt`, the replay
    `buffer`, the seed's raw `key` data (iteration ``i`` uses ``fold_in(key, i)``, so that a resumed run
    draws exactly the keys of an uninterrupted one), `env_steps` collected so far, `alive` (false
    once the NaN guard stopped this seed), `nan_step` / `nan_code`: the environment step and the
    quantity (see ``NAN_QUANTITIES``) that went non-finite, `dynamics_updates` /
    `policy_updates`: the Adam steps applied to the model and the policy so far, and `hyper`: the
    run's per-run hyper-parameters (``Hyper``; rows of a packed state differ in them).
    """

    model: AbstractWorldModel
    policy: AbstractPolicy
    model_opt: PyTree
    policy_opt: PyTree
    buffer: EpisodeBuffer
    key: UInt32[Array, "..."]
    env_steps: Int[Array, ""]
    alive: Bool[Array, ""]
    nan_step: Int[Array, ""]
    nan_code: Int[Array, ""]
    dynamics_updates: Int[Array, ""]
    policy_updates: Int[Array, ""]
    hyper: Hyper


#: How the variable number of updates after an episode is looped (see ``Program``).
UPDATE_LOOPS = ("while", "masked")


class Program(eqx.Module):
    """The static description of a BPO run that the compiled functions take: the environment and
    the configuration. Two runs with equal programs (and state shapes) share one compilation.

    `update_loop` says how the updates due after an episode (a number that varies from episode to
    episode, see ``BPOConfig.updates_per_iteration``) are looped: ``"while"`` (default) runs a
    ``lax.while_loop`` with that trip count; ``"masked"`` scans over the largest count of the run and
    skips the surplus with ``lax.cond``. The count depends only on the iteration index, which is not
    seed-vmapped, so under ``vmap`` neither computes skipped updates; ``benchmarks/bpo_throughput.py``
    measures the two (no difference it can resolve), and ``"while"`` needs no precomputed maximum.

    The per-run fields (``PER_RUN_FIELDS``) are not part of the static `config` (they are reset to
    their defaults there): `hyper` holds the given values as arrays, the initial state copies them, and
    the training step reads them from the state, so runs that differ only in them share one compiled
    program. `entropy_bonus` (static) says whether the entropy estimate is computed at all: false when
    the coefficient is 0 (for a packed program: when every run's is 0)."""

    env: Env
    config: BPOConfig = eqx.field(static=True)
    learn_model: bool = eqx.field(static=True)
    update_loop: str = eqx.field(static=True)
    max_updates: tuple[int, int] = eqx.field(static=True)
    entropy_bonus: bool = eqx.field(static=True)
    hyper: Hyper

    def __init__(
        self,
        env: Env,
        config: BPOConfig,
        learn_model: bool,
        update_loop: str = "while",
        entropy_bonus: bool | None = None,
    ):
        if update_loop not in UPDATE_LOOPS:
            raise ValueError(f"`update_loop` must be one of {', '.join(UPDATE_LOOPS)}, got {update_loop!r}")
        self.env = env
        self.hyper = Hyper.of(config)
        self.entropy_bonus = config.entropy_coef != 0 if entropy_bonus is None else bool(entropy_bonus)
        # Host-only and per-run fields must not key the compilation cache.
        defaults = {name: getattr(BPOConfig, name) for name in PER_RUN_FIELDS}
        self.config = dataclasses.replace(
            config, nan_policy=BPOConfig.nan_policy, seed_group_size=None, **defaults
        )
        self.learn_model = learn_model and config.dynamics_update_every > 0
        self.update_loop = update_loop
        if update_loop == "masked":
            h = env.horizon
            self.max_updates = tuple(
                max(config.updates_per_iteration(e, h), default=0)
                for e in (config.dynamics_update_every, config.policy_update_every)
            )
        else:
            self.max_updates = (0, 0)

    # Built on demand (inside the trace) rather than stored: fresh optax closures would defeat the
    # jit cache across runs of the same program. The learning rates and the clip are traced scalars
    # (one per run); the optimiser states do not depend on them.
    def model_optimiser(self, hyper: Hyper | None = None) -> optax.GradientTransformation:
        return optax.adam((self.hyper if hyper is None else hyper).dynamics_lr)

    def policy_optimiser(self, hyper: Hyper | None = None) -> optax.GradientTransformation:
        hyper = self.hyper if hyper is None else hyper
        return optax.chain(optax.clip_by_global_norm(hyper.policy_grad_clip), optax.adam(hyper.policy_lr))

    @property
    def horizon(self) -> int:
        return self.env.horizon

    @property
    def iterations(self) -> int:
        return self.config.iterations(self.horizon)

    @property
    def eval_every(self) -> int:
        return self.config.eval_every(self.horizon)

    def updates_after(self, every: int, i: Int[Array, ""]) -> Int[Array, ""]:
        """Updates of cadence `every` due after iteration ``i`` (traced version of
        ``BPOConfig.updates_per_iteration``): the authors' count over the steps collected by the end
        of episode ``i`` minus the count by the end of episode ``i - 1`` (zero before the first)."""
        config, h = self.config, self.horizon
        if every <= 0:
            return jnp.zeros((), jnp.int32)
        warm = config.warmup_episodes(h) * h

        def due(n):
            last = jnp.minimum(n, config.steps) - 1
            return jnp.maximum(0, last // every - config.warmup_steps // every)

        i = jnp.asarray(i, jnp.int32)
        return due(warm + (i + 1) * h) - jnp.where(i == 0, 0, due(warm + i * h))


def _optax_promotion():
    # Optax's Adam mixes its int32 step count with float decay rates, which strict dtype promotion
    # (our test-suite's setting, and some users') refuses; the arithmetic is safe under "standard".
    return jax.numpy_dtype_promotion("standard")


def _wrap(key_data) -> Key:
    return jax.random.wrap_key_data(key_data)


def _evaluate(program: Program, policy: AbstractPolicy, key: Key) -> RealScalar:
    """Mean return of the deterministic policy over ``eval_episodes`` episodes of the real env."""
    keys = jax.random.split(key, program.config.eval_episodes)

    def deterministic(state, k, step_key):
        return policy.deterministic(state, k)

    returns = jax.vmap(lambda k: rollout(program.env, deterministic, k).total_return)(keys)
    return jnp.mean(returns)


def _normaliser(states: Float[Array, "n state_dim"]):
    return jnp.mean(states, axis=0), jnp.std(states, axis=0)


def init_state(
    program: Program, model: AbstractWorldModel, policy: AbstractPolicy, key: Key, hyper: Hyper | None = None
) -> tuple[TrainState, RealScalar]:
    """One seed's state after the warm-up (``ceil(warmup_steps / H)`` episodes of uniformly random
    actions, stored in the buffer, used to fit the model's and the policy's input normalisers), and
    the evaluation return of the untrained policy. `hyper`: the run's per-run values (default
    ``program.hyper``)."""
    config, env = program.config, program.env
    horizon = program.horizon
    warm_key, eval_key, run_key = jax.random.split(key, 3)
    n_warm = config.warmup_episodes(horizon)
    dtype = policy.state_mean.dtype
    action_key, reset_key = jax.random.split(warm_key)
    actions = jax.random.uniform(action_key, (n_warm, horizon, env.action_dim), dtype, -1.0, 1.0)
    warm = jax.vmap(lambda a, k: rollout(env, a, k))(actions, jax.random.split(reset_key, n_warm))
    buffer = EpisodeBuffer(config.buffer_episodes(horizon), horizon, env.state_dim, env.action_dim, dtype)
    buffer = buffer.add_batch(warm)
    policy = policy.with_normaliser(*_normaliser(warm.states.reshape(-1, env.state_dim)))
    model = fit_normaliser(model, warm)
    state = TrainState(
        model=model,
        policy=policy,
        model_opt=program.model_optimiser().init(eqx.filter(model, trainable_filter(model))),
        policy_opt=program.policy_optimiser().init(eqx.filter(policy, eqx.is_inexact_array)),
        buffer=buffer,
        key=jax.random.key_data(run_key),
        env_steps=jnp.asarray(n_warm * horizon, jnp.int32),
        alive=jnp.array(True),
        nan_step=jnp.asarray(-1, jnp.int32),
        nan_code=jnp.asarray(0, jnp.int32),
        dynamics_updates=jnp.asarray(0, jnp.int32),
        policy_updates=jnp.asarray(0, jnp.int32),
        hyper=program.hyper if hyper is None else hyper,
    )
    return state, _evaluate(program, policy, eval_key)


def _repeat(program: Program, step, carry, count, max_count: int, key: Key):
    """Applies ``step(carry, key_j) -> (carry, outputs)`` ``count`` times (``count`` a traced scalar,
    ``key_j = fold_in(key, j)``) and returns the final carry and the sums of the outputs."""
    template = jax.eval_shape(step, carry, key)[1]
    zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), template)

    def body(j, carry, sums):
        carry, outputs = step(carry, jax.random.fold_in(key, j))
        return carry, jax.tree.map(jnp.add, sums, outputs)

    if program.update_loop == "while":

        def loop_body(state):
            j, carry, sums = state
            return (j + 1, *body(j, carry, sums))

        _, carry, sums = jax.lax.while_loop(
            lambda state: state[0] < count, loop_body, (jnp.zeros((), jnp.int32), carry, zeros)
        )
        return carry, sums

    def scan_body(state, j):
        carry, sums = state
        return jax.lax.cond(j < count, lambda: body(j, carry, sums), lambda: (carry, sums)), None

    (carry, sums), _ = jax.lax.scan(scan_body, (carry, zeros), jnp.arange(max_count, dtype=jnp.int32))
    return carry, sums


def _mean(total, count, dtype):
    """``total / count``, NaN when no update happened."""
    mean = total / jnp.maximum(count, 1).astype(total.dtype)
    return jnp.where(count > 0, mean, jnp.nan).astype(dtype)


def _model_updates(program: Program, state: TrainState, count: Int[Array, ""], key: Key):
    """``count`` Adam steps on the mean teacher-forced loss of sampled episodes."""
    config = program.config
    # The model's normalisation statistics are data, not parameters: trainable_filter leaves them out.
    params, static = eqx.partition(state.model, trainable_filter(state.model))
    buffer = state.buffer

    def loss_fn(params, batch):
        model = eqx.combine(params, static)
        return jnp.mean(jax.vmap(model.loss)(batch))

    def step(carry, step_key):
        params, opt_state, ok, code = carry
        batch = buffer.sample(step_key, config.dynamics_batch_size)
        loss, grads = jax.value_and_grad(loss_fn)(params, batch)
        with _optax_promotion():
            updates, new_opt = program.model_optimiser(state.hyper).update(grads, opt_state, params)
        new_params = optax.apply_updates(params, updates)
        loss_ok, grad_ok, param_ok = jnp.isfinite(loss), _all_finite(grads), _all_finite(new_params)
        step_ok = loss_ok & grad_ok & param_ok
        new_code = jnp.where(loss_ok, jnp.where(grad_ok, 3, 2), 1)
        code = jnp.where(ok & ~step_ok, new_code, code)
        apply = ok & step_ok
        params, opt_state = _select(apply, (new_params, new_opt), (params, opt_state))
        return (params, opt_state, apply, code), (apply.astype(jnp.int32), loss, _global_norm(grads))

    carry = (params, state.model_opt, state.alive, state.nan_code)
    (params, opt_state, ok, code), (applied, loss, norm) = _repeat(
        program, step, carry, count, program.max_updates[0], key
    )
    model = eqx.combine(params, static)
    return model, opt_state, ok, code, applied, _mean(loss, count, loss.dtype), _mean(norm, count, norm.dtype)


def _policy_objective(
    program: Program, model: AbstractWorldModel, params, static, s0, keys, entropy_coef=None
):
    """Minus the authors' objective: the batch mean of ``J^W`` plus ``alpha`` times the batch mean of
    the time-averaged entropy estimate ``-(1/H) sum_k log pi(a_k | sg[s_k])``.

    The single-sample estimate ``-log pi(a_k)`` has the same gradient as the authors' (Gaussian
    entropy in closed form plus the tanh log-determinant at the sampled action): the two differ by
    ``(eps^2 - 1) / 2`` per action coordinate, which does not depend on the parameters under the
    reparameterisation ``u = mu + sigma eps``. The log-probabilities are recomputed from the imagined trajectory's stop-gradiented states with
    the same per-step keys, so they are those of exactly the imagined actions (reparameterised,
    hence differentiable in the policy's parameters). `entropy_coef`: the run's ``alpha`` (a traced
    scalar, ``Hyper.entropy_coef``; default ``program.hyper``'s)."""
    config, env, horizon = program.config, program.env, program.horizon
    alpha = program.hyper.entropy_coef if entropy_coef is None else entropy_coef
    policy = eqx.combine(params, static)
    markovian = isinstance(model, MarkovianModel)  # the profile's per-model settings (BPOConfig.profile)
    discount, reduce = config.bp_discount(markovian), config.entropy_reduction(markovian)

    def one(s, key):
        if discount != 1.0:
            objective, trajectory = damped_policy_objective(
                model, policy, s, env.reward, horizon, key, discount
            )
        else:
            objective, trajectory = model.policy_objective(
                policy, s, env.reward, horizon, key, stop_gradient=config.stop_gradient
            )
        if not program.entropy_bonus:
            return objective, (objective, jnp.zeros_like(objective))
        states = jax.lax.stop_gradient(trajectory.states[:-1])
        _, log_probs = jax.vmap(policy.sample_and_log_prob)(
            states, jnp.arange(horizon), jax.random.split(key, horizon)
        )
        entropy = -(jnp.sum(log_probs) if reduce == "sum" else jnp.mean(log_probs))
        return objective + alpha * entropy, (objective, entropy)

    totals, (objectives, entropies) = jax.vmap(one)(s0, keys)
    return -jnp.mean(totals), (jnp.mean(objectives), jnp.mean(entropies))


def _policy_updates(program: Program, state: TrainState, model, ok, code, count, key: Key):
    config = program.config
    params, static = eqx.partition(state.policy, eqx.is_inexact_array)
    grad_fn = jax.value_and_grad(
        lambda p, s0, keys: _policy_objective(program, model, p, static, s0, keys, state.hyper.entropy_coef),
        has_aux=True,
    )

    def step(carry, step_key):
        params, opt_state, ok, code = carry
        state_key, rollout_key = jax.random.split(step_key)
        s0 = state.buffer.sample_initial_states(state_key, config.policy_batch_size)
        keys = jax.random.split(rollout_key, config.policy_batch_size)
        (loss, (objective, entropy)), grads = grad_fn(params, s0, keys)
        with _optax_promotion():
            updates, new_opt = program.policy_optimiser(state.hyper).update(grads, opt_state, params)
        new_params = optax.apply_updates(params, updates)
        loss_ok, grad_ok, param_ok = jnp.isfinite(loss), _all_finite(grads), _all_finite(new_params)
        step_ok = loss_ok & grad_ok & param_ok
        new_code = jnp.where(loss_ok, jnp.where(grad_ok, 6, 5), 4)
        code = jnp.where(ok & ~step_ok, new_code, code)
        apply = ok & step_ok
        params, opt_state = _select(apply, (new_params, new_opt), (params, opt_state))
        return (params, opt_state, apply, code), (
            apply.astype(jnp.int32),
            objective,
            _global_norm(grads),
            entropy,
        )

    (params, opt_state, ok, code), (applied, objective, norm, entropy) = _repeat(
        program, step, (params, state.policy_opt, ok, code), count, program.max_updates[1], key
    )
    policy = eqx.combine(params, static)
    means = (_mean(x, count, x.dtype) for x in (objective, norm, entropy))
    return (policy, opt_state, ok, code, applied, *means)


def iteration(program: Program, state: TrainState, i: Int[Array, ""]) -> tuple[TrainState, dict]:
    """One pass of Algorithm 1's loop for one seed: collect an episode with the stochastic policy,
    take the model updates and then the policy updates due during it (``Program.updates_after``), and
    evaluate when ``i`` is an evaluation iteration."""
    env = program.env
    collect_key, model_key, policy_key, eval_key = jax.random.split(
        jax.random.fold_in(_wrap(state.key), i), 4
    )
    trajectory = rollout(env, state.policy, collect_key)
    buffer = state.buffer.add(trajectory)
    env_steps = state.env_steps + program.horizon
    collected = eqx.tree_at(lambda s: s.buffer, state, buffer)
    nan = jnp.asarray(jnp.nan, trajectory.rewards.dtype)

    config = program.config
    if program.learn_model:
        n_model = program.updates_after(config.dynamics_update_every, i)
        model, model_opt, ok, code, model_applied, model_loss, model_grad_norm = _model_updates(
            program, collected, n_model, model_key
        )
    else:
        model, model_opt, ok, code = state.model, state.model_opt, state.alive, state.nan_code
        model_loss = model_grad_norm = nan
        model_applied = jnp.zeros((), jnp.int32)
    n_policy = program.updates_after(config.policy_update_every, i)
    policy, policy_opt, ok, code, policy_applied, objective, policy_grad_norm, entropy = _policy_updates(
        program, collected, model, ok, code, n_policy, policy_key
    )
    newly_failed = state.alive & ~ok
    new_state = TrainState(
        model=model,
        policy=policy,
        model_opt=model_opt,
        policy_opt=policy_opt,
        buffer=buffer,
        key=state.key,
        env_steps=env_steps,
        alive=ok,
        nan_step=jnp.where(newly_failed, env_steps, state.nan_step),
        nan_code=code,
        dynamics_updates=state.dynamics_updates + model_applied,
        policy_updates=state.policy_updates + policy_applied,
        hyper=state.hyper,
    )
    # A stopped seed keeps its last good state; finite updates earlier in the failing iteration stay.
    new_state = _select(state.alive, new_state, state)
    do_eval = ((i + 1) % program.eval_every == 0) | (i == program.iterations - 1)
    eval_return = jax.lax.cond(
        do_eval, lambda: _evaluate(program, new_state.policy, eval_key).astype(nan.dtype), lambda: nan
    )
    metrics = {
        "env_steps": new_state.env_steps,
        "alive": new_state.alive,
        "episode_return": trajectory.total_return.astype(nan.dtype),
        "model_loss": jnp.asarray(model_loss, nan.dtype),
        "model_grad_norm": jnp.asarray(model_grad_norm, nan.dtype),
        "policy_objective": objective.astype(nan.dtype),
        "policy_grad_norm": policy_grad_norm.astype(nan.dtype),
        "entropy": entropy.astype(nan.dtype),
        "eval_return": eval_return,
    }
    return new_state, metrics


def run_chunk(program: Program, state: TrainState, chunk: Int[Array, ""]) -> tuple[TrainState, dict]:
    """``config.chunk_size`` iterations of one seed, starting at iteration ``chunk * chunk_size``.
    Iterations past the end of the run are skipped (every chunk has the same shape, so the program
    compiles once)."""
    size = program.config.chunk_size
    indices = chunk * size + jnp.arange(size, dtype=chunk.dtype)

    # Only arrays may cross scan and cond boundaries; static parts (activation functions...) stay out.
    arrays, static = eqx.partition(state, eqx.is_array)

    def step(arrays, i):
        new_state, metrics = iteration(program, eqx.combine(arrays, static), i)
        return eqx.filter(new_state, eqx.is_array), metrics

    def body(arrays, i):
        def skip(arrays):
            template = jax.eval_shape(lambda: step(arrays, i)[1])
            return arrays, jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), template)

        return jax.lax.cond(i < program.iterations, lambda a: step(a, i), skip, arrays)

    arrays, metrics = jax.lax.scan(body, arrays, indices)
    return eqx.combine(arrays, static), metrics


def _init_impl(program: Program, models, policies, keys, hyper=None):
    if hyper is None:
        return eqx.filter_vmap(lambda m, p, k: init_state(program, m, p, k))(models, policies, keys)
    return eqx.filter_vmap(lambda m, p, k, h: init_state(program, m, p, k, h))(models, policies, keys, hyper)


def _chunk_impl(program: Program, state: TrainState, index: Int[Array, ""]):
    return eqx.filter_vmap(lambda s: run_chunk(program, s, index))(state)


#: The traced chunk function; ``eqx.debug.get_num_traces(chunk_traced)`` counts its compilations
#: (one per program and state shape: every chunk of a run has the same shapes).
chunk_traced = eqx.debug.assert_max_traces(_chunk_impl, max_traces=None)
#: Seed-vmapped, jitted ``init(program, models, policies, keys) -> (state, initial evaluation)``.
init_program = eqx.filter_jit(_init_impl)
#: Seed-vmapped, jitted ``chunk(program, state, index) -> (state, metrics)``.
chunk_program = eqx.filter_jit(chunk_traced)


__all__ = [
    "Hyper",
    "PER_RUN_FIELDS",
    "TrainState",
    "Program",
    "NAN_QUANTITIES",
    "METRIC_KEYS",
    "UPDATE_LOOPS",
    "init_state",
    "iteration",
    "run_chunk",
]

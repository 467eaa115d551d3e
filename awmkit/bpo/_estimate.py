"""How long will a BPO run take? A cost model from a few timed pieces of the run itself.

On the authors' schedule a run is, to a very good approximation, a count of four kinds of work, each
of which costs the same every time it happens: model updates (one teacher-forced gradient step on
`dynamics_batch_size` episodes), policy updates (one gradient step through `policy_batch_size`
imagined rollouts), collected episodes, and evaluations. `estimate_run` compiles and times one of each
for all seeds at once, laid out as the run lays them out (`awmkit.bpo.seed_layout`), and multiplies by
the counts the configuration implies (`BPOConfig.expected_dynamics_updates`, ...).
"""

import contextlib
import dataclasses
import statistics
import time
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp

from .._typing import Key
from ..envs import Env, rollout
from ..models import AbstractWorldModel, SimulatorModel
from ..policies import TanhGaussianPolicy
from ._config import BPOConfig
from ._devices import default_seed_group_size, seed_layout
from ._train import Program, _evaluate, _model_updates, _policy_updates, _wrap, cast_floats, init_program

# Pieces per timed call (see `_repeated`).
_INNER = 8

#: The kinds of work a run is made of, in the order of `RunEstimate.breakdown`.
WORK = ("model_updates", "policy_updates", "episodes", "evaluations")


@dataclasses.dataclass(frozen=True)
class RunEstimate:
    """What [`awmkit.bpo.estimate_run`][] predicts.

    **Fields:**

    - `seconds`: the predicted wall time of the run on this machine, compilation excluded.
    - `breakdown`: seconds per kind of work (``model_updates``, ``policy_updates``, ``episodes``,
      ``evaluations``); they sum to `seconds`.
    - `counts`: how many of each the run performs (each one for all seeds at once).
    - `unit_seconds`: the measured median seconds of one of each, for all seeds.
    - `compile_s`: seconds spent compiling the timed pieces (the run compiles one larger program,
      typically a few times this).
    - `seeds`, `group_size`, `devices`: the seed layout the pieces were timed with.
    - `backend`: JAX's backend (``cpu``, ``gpu``...).
    - `repeats`: timed calls per piece (after one compiling call).
    """

    seconds: float
    breakdown: dict[str, float]
    counts: dict[str, int]
    unit_seconds: dict[str, float]
    compile_s: float
    seeds: int
    group_size: int
    devices: int
    backend: str
    repeats: int

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def run_counts(config: BPOConfig, horizon: int, learn_model: bool = True) -> dict[str, int]:
    """How many model updates, policy updates, collected episodes (warm-up included) and evaluations
    (the untrained policy's included) a run of `config` at horizon `horizon` performs."""
    config.check_horizon(horizon)
    iterations = config.iterations(horizon)
    every = config.eval_every(horizon)
    evaluations = 1 + iterations // every + (1 if iterations % every else 0)
    return {
        "model_updates": config.expected_dynamics_updates() if learn_model else 0,
        "policy_updates": config.expected_policy_updates(),
        "episodes": config.warmup_episodes(horizon) + iterations,
        "evaluations": evaluations,
    }


def _groups(fn: Callable, tree, group: int):
    """``vmap(fn)`` over the leading (seed) axis of `tree`, `group` seeds at a time in a scan, as
    the run's chunk lays its seeds out."""
    arrays, static = eqx.partition(tree, eqx.is_array)
    n = jax.tree.leaves(arrays)[0].shape[0]
    # Only arrays leave the vmap and the scan (the pieces' outputs only keep XLA from dropping work).
    one = eqx.filter_vmap(lambda a: eqx.filter(fn(eqx.combine(a, static)), eqx.is_array))
    if group >= n:
        return one(arrays)
    grouped = jax.tree.map(lambda x: x.reshape(n // group, group, *x.shape[1:]), arrays)
    _, out = jax.lax.scan(lambda c, a: (c, one(a)), None, grouped)
    return jax.tree.map(lambda x: x.reshape(n, *x.shape[2:]), out)


def _pieces(program: Program) -> dict[str, Callable]:
    """One of each kind of work, ``piece(state, j)`` for one seed's state and a repetition index
    ``j`` (its random key depends on ``j``, so XLA cannot hoist repetitions out of a loop)."""
    one = jnp.ones((), jnp.int32)

    def key_of(state, piece, j):
        return jax.random.fold_in(jax.random.fold_in(_wrap(state.key), 1_000_003 + piece), j)

    def model_update(state, j):
        return _model_updates(program, state, one, key_of(state, 0, j))[:4]

    def policy_update(state, j):
        key = key_of(state, 1, j)
        return _policy_updates(program, state, state.model, state.alive, state.nan_code, one, key)

    def episode(state, j):
        return state.buffer.add(rollout(program.env, state.policy, key_of(state, 2, j)))

    def evaluation(state, j):
        return _evaluate(program, state.policy, key_of(state, 3, j))

    pieces = {"policy_updates": policy_update, "episodes": episode, "evaluations": evaluation}
    if program.learn_model:
        pieces = {"model_updates": model_update, **pieces}
    return pieces


def _repeated(piece: Callable, inner: int) -> Callable:
    """``state -> checksum`` of `inner` repetitions of `piece` in one ``fori_loop``: a timed call
    then holds `inner` pieces, so the host's dispatch (which a run, one compiled chunk, does not pay
    per update) is spread over them."""

    def run(state):
        def body(j, total):
            out = eqx.filter(piece(state, j), eqx.is_inexact_array)
            return total + sum(jnp.sum(x).astype(total.dtype) for x in jax.tree.leaves(out))

        return jax.lax.fori_loop(0, inner, body, jnp.zeros((), jnp.float32))

    return run


def _time(fn, program, state, repeats: int) -> tuple[float, float]:
    """(compile seconds, median seconds of a call) of ``fn(program, state)``."""
    start = time.perf_counter()
    jax.block_until_ready(fn(program, state))
    first = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(program, state))
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    return max(first - median, 0.0), median


def estimate_run(
    env: Env,
    model: AbstractWorldModel | str | Callable[[Key], AbstractWorldModel],
    config: BPOConfig | None = None,
    *,
    seeds: int = 1,
    key: int = 0,
    repeats: int = 3,
) -> RunEstimate:
    """Predicts the wall time of ``awmkit.bpo.train(env, model, config, seeds=seeds)`` on this machine.

    The run's initial state is built for real (warm-up included); then model updates, policy
    updates, collected episodes and evaluations are each compiled and timed (8 in a loop per call,
    median of `repeats` calls) for all seeds, grouped and vmapped as the run does, and

    $$T \\approx n_{\\text{model}} t_{\\text{model}} + n_{\\text{policy}} t_{\\text{policy}}
    + n_{\\text{episodes}} t_{\\text{episode}} + n_{\\text{eval}} t_{\\text{eval}}$$

    with the counts of `run_counts`. Compilation is excluded from `seconds` and reported apart.
    The estimate takes a few compilations (tens of seconds on a CPU) and no training.

    **Arguments:** as [`awmkit.bpo.train`][] (`model` a name, a factory or an instance; `config`
    default: the paper's), plus `repeats`, the timed calls per piece.

    **Returns:** a [`awmkit.bpo.RunEstimate`][].
    """
    if not isinstance(env, Env):
        raise ValueError(f"`env` must be an awmkit.envs.Env, got {type(env).__name__}")
    config = BPOConfig() if config is None else config
    if not isinstance(config, BPOConfig):
        raise ValueError(f"`config` must be an awmkit.bpo.BPOConfig, got {type(config).__name__}")
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"`seeds` must be a positive integer, got {seeds!r}")
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"`repeats` must be a positive integer, got {repeats!r}")
    horizon = env.horizon
    config.check_horizon(horizon)
    from ._run import MODEL_NAMES, build_model

    if isinstance(model, str) and model not in MODEL_NAMES:
        raise ValueError(f"unknown model {model!r}; valid names are: {', '.join(MODEL_NAMES)}")
    dtype = jnp.float64 if config.float64 else jnp.float32
    with jax.enable_x64(True) if config.float64 else contextlib.nullcontext():
        env = cast_floats(env, dtype)

        def build(k):
            if isinstance(model, str):
                built = build_model(model, env, key=k)
            elif isinstance(model, AbstractWorldModel):
                built = model
            else:
                built = model(k)
            return cast_floats(built, dtype)

        keys = jax.random.split(jax.random.key(key), 3 * seeds).reshape(3, seeds)
        models = eqx.filter_vmap(build)(keys[0])
        model_shape = eqx.filter_eval_shape(build, keys[0][0])
        model_shape.check_compatible(env)
        policies = eqx.filter_vmap(
            lambda k: TanhGaussianPolicy(env.state_dim, env.action_dim, horizon, key=k)
        )(keys[1])
        program = Program(env, config, learn_model=not isinstance(model_shape, SimulatorModel))
        state, _ = init_program(program, models, policies, keys[2])
        group_size = config.seed_group_size or default_seed_group_size()
        devices, group = seed_layout(seeds, group_size)
        counts = run_counts(config, horizon, program.learn_model)
        unit, compile_s = {}, 0.0
        for name, piece in _pieces(program).items():
            repeated = _repeated(piece, _INNER)
            fn = eqx.filter_jit(lambda program, state, run=repeated: _groups(run, state, group))
            compiled, median = _time(fn, program, state, repeats)
            compile_s += compiled
            # Seeds on several devices run in parallel: each device times its share.
            unit[name] = median / _INNER / devices
        unit.setdefault("model_updates", 0.0)
    breakdown = {name: counts[name] * unit[name] for name in WORK}
    return RunEstimate(
        seconds=float(sum(breakdown.values())),
        breakdown=breakdown,
        counts=counts,
        unit_seconds={name: unit[name] for name in WORK},
        compile_s=compile_s,
        seeds=seeds,
        group_size=group,
        devices=devices,
        backend=jax.default_backend(),
        repeats=repeats,
    )

"""How long will a BPO run take? A cost model from a few timed pieces of the run itself.

On the authors' schedule a run is, to a very good approximation, a count of four kinds of work, each
of which costs the same every time it happens: model updates (one teacher-forced gradient step on
`dynamics_batch_size` episodes), policy updates (one gradient step through `policy_batch_size`
imagined rollouts), collected episodes, and evaluations. `estimate_run` compiles and times one of each
for one group of seeds, vmapped as the run vmaps them (`awmkit.bpo.seed_layout`), multiplies by the
number of groups a device runs one after another, and by the counts the configuration implies
(`BPOConfig.expected_dynamics_updates`, ...).
"""

import contextlib
import dataclasses
import math
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
from ._run import MODEL_NAMES, build_model
from ._train import Program, _evaluate, _model_updates, _policy_updates, _wrap, cast_floats, init_program

# Pieces per long timed call (see `_time`): `_INNER`, or fewer when one piece takes long enough that
# `_CALL_S` seconds of them measure well, but at least `_MIN_INNER`.
_INNER = 8
_MIN_INNER = 3
_CALL_S = 0.3


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
    - `unit_seconds`: the measured seconds of one of each for all seeds (one group's marginal cost in a
      loop, times the groups a device runs).
    - `compile_s`: seconds spent compiling the timed pieces (the run compiles one larger program,
      typically a few times this).
    - `seeds`, `group_size`, `devices`: the run's seed layout: `seeds` split evenly over `devices`
      local devices, each running its seeds in groups of `group_size` (vmapped) one after another.
    - `timed_seeds`: the seeds the pieces were timed for: one group. A device's share of the run is
      that group's time times its number of groups (the groups run sequentially in one program).
    - `settings`: runs of this many settings (configurations differing only in
      ``awmkit.bpo.PER_RUN_FIELDS``) packed in the one program (`awmkit.bpo.train_packed`): the program
      has ``settings x seeds`` rows, laid out as seeds are; `seconds` is the whole packed program's.
    - `backend`: JAX's backend (``cpu``, ``gpu``...).
    - `repeats`: timed pairs of calls per piece (one piece, then `inner` pieces; after one compiling
      call).
    - `inner`: pieces per long timed call, per kind of work (8, fewer, down to 3, for pieces of
      40 ms or more).
    """

    seconds: float
    breakdown: dict[str, float]
    counts: dict[str, int]
    unit_seconds: dict[str, float]
    compile_s: float
    seeds: int
    group_size: int
    devices: int
    timed_seeds: int
    backend: str
    repeats: int
    inner: dict[str, int]
    settings: int = 1

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


def _repeated(piece: Callable) -> Callable:
    """``(state, inner) -> checksum`` of `inner` (traced) repetitions of `piece` in one loop: a timed
    call then holds `inner` pieces, so the host's dispatch (which a run, one compiled chunk, does not
    pay per update) is spread over them, and one compilation serves every `inner`."""

    def run(state, inner):
        def body(j, total):
            out = eqx.filter(piece(state, j), eqx.is_inexact_array)
            return total + sum(jnp.sum(x).astype(total.dtype) for x in jax.tree.leaves(out))

        return jax.lax.fori_loop(0, inner, body, jnp.zeros((), jnp.float32))

    return run


@eqx.filter_jit
def _group_call(run: Callable, program: Program, state, inner):
    # One group of seeds, vmapped as the run's chunk vmaps them (the checksum is per seed).
    return eqx.filter_vmap(lambda s: run(s, inner))(state)


def _seconds(run, program, state, inner: int) -> float:
    start = time.perf_counter()
    jax.block_until_ready(_group_call(run, program, state, jnp.asarray(inner, jnp.int32)))
    return time.perf_counter() - start


def _time(run: Callable, program: Program, state, repeats: int) -> tuple[float, float, int]:
    """(compile seconds, seconds of one piece, pieces per long call) of `run` on `state`.

    A call pays a fixed cost besides its pieces (on a CPU a lone model update of two seeds measured
    0.19 s where each of a loop's took 0.12 s: buffers and threads that a loop reuses), which a run, one
    compiled chunk looping over many updates, pays once per chunk. So a piece's cost is the marginal
    one: `repeats` short calls (one piece) interleaved with long calls (``n`` pieces), and
    ``(median(long) - median(short)) / (n - 1)``; the long call's mean per piece if noise makes that
    difference non-positive. One compiling call comes first."""
    first = _seconds(run, program, state, 1)
    probe = _seconds(run, program, state, 1)
    inner = max(_MIN_INNER, min(_INNER, math.ceil(_CALL_S / max(probe, 1e-9))))
    short, long = [probe], []
    for _ in range(repeats):
        long.append(_seconds(run, program, state, inner))
        short.append(_seconds(run, program, state, 1))
    marginal = (statistics.median(long) - statistics.median(short)) / (inner - 1)
    piece = marginal if marginal > 0 else statistics.median(long) / inner
    return max(first - probe, 0.0), piece, inner


def estimate_run(
    env: Env,
    model: AbstractWorldModel | str | Callable[[Key], AbstractWorldModel],
    config: BPOConfig | None = None,
    *,
    seeds: int = 1,
    key: int = 0,
    repeats: int = 3,
    settings: int = 1,
) -> RunEstimate:
    """Predicts the wall time of ``awmkit.bpo.train(env, model, config, seeds=seeds)`` on this machine.

    The run lays its seeds out in groups (`awmkit.bpo.seed_layout`: on a CPU groups of 2, vmapped,
    run one after another; on a GPU all seeds of a device in one group). The initial state of one
    group is built for real (warm-up included); then model updates, policy updates, collected episodes
    and evaluations are each compiled and timed for that group (the marginal cost of a piece in a
    loop, from `repeats` calls of one piece and of 3 to 8 pieces), multiplied by the groups a device
    runs, and

    $$T \\approx n_{\\text{model}} t_{\\text{model}} + n_{\\text{policy}} t_{\\text{policy}}
    + n_{\\text{episodes}} t_{\\text{episode}} + n_{\\text{eval}} t_{\\text{eval}}$$

    with the counts of `run_counts`. Compilation is excluded from `seconds` and reported apart.
    The estimate takes a few compilations (tens of seconds on a CPU) and no training; timing one
    group instead of all seeds makes it `seeds / group_size` times cheaper on a CPU.

    With ``settings > 1`` it predicts [`awmkit.bpo.train_packed`][] of that many configurations (that
    differ from `config` only in ``PER_RUN_FIELDS``, which cost the same): the ``settings x seeds``
    rows are laid out and timed as that many seeds would be (on a CPU, groups of 2 one after another:
    no faster than the runs one by one; on a GPU, one vmapped group that fills the device).

    **Arguments:** as [`awmkit.bpo.train`][] (`model` a name, a factory or an instance; `config`
    default: the paper's), plus `repeats`, the timed calls per piece, and `settings`, the packed
    configurations.

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
    if isinstance(settings, bool) or not isinstance(settings, int) or settings < 1:
        raise ValueError(f"`settings` must be a positive integer, got {settings!r}")
    rows = seeds * settings
    horizon = env.horizon
    config.check_horizon(horizon)
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

        group_size = config.seed_group_size or default_seed_group_size()
        devices, group = seed_layout(rows, group_size)
        groups = rows // (devices * group)  # run one after another on each device
        keys = jax.random.split(jax.random.key(key), 3 * group).reshape(3, group)
        models = eqx.filter_vmap(build)(keys[0])
        model_shape = eqx.filter_eval_shape(build, keys[0][0])
        model_shape.check_compatible(env)
        policies = eqx.filter_vmap(
            lambda k: TanhGaussianPolicy(
                env.state_dim, env.action_dim, horizon, time_input=config.policy_time_input, key=k
            )
        )(keys[1])
        program = Program(env, config, learn_model=not isinstance(model_shape, SimulatorModel))
        state, _ = init_program(program, models, policies, keys[2])
        counts = run_counts(config, horizon, program.learn_model)
        unit, inner, compile_s = {}, {}, 0.0
        for name, piece in _pieces(program).items():
            compiled, median, inner[name] = _time(_repeated(piece), program, state, repeats)
            compile_s += compiled
            # The devices run their shares in parallel, each its groups one after another.
            unit[name] = median * groups
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
        timed_seeds=group,
        backend=jax.default_backend(),
        repeats=repeats,
        inner=inner,
        settings=settings,
    )

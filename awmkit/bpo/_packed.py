"""Many BPO runs in one compiled program: runs that differ only in per-run hyper-parameters
(``PER_RUN_FIELDS``: the entropy coefficient, both learning rates, the gradient clip) are packed
along the seed axis, PureJaxRL-style, so one program trains ``R = settings x seeds`` runs.

Row ``j * S + i`` of a packed state is seed ``seed_ids[i]`` of setting ``j`` (``S`` seeds per setting);
it starts from exactly the keys, model and policy of that seed in a run of setting ``j`` alone, and
carries setting ``j``'s values in ``TrainState.hyper``. The rows are laid out on the hardware as the
seeds of one run are (``awmkit.bpo.seed_layout``): on a CPU in groups of 2 one after another, on a GPU
all in one vmapped program.
"""

import contextlib
import dataclasses
import time
from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._typing import Key
from ..envs import Env
from ..models import AbstractWorldModel, SimulatorModel
from ..policies import AbstractPolicy
from ._config import BPOConfig
from ._devices import run_chunk_on_devices
from ._train import NAN_QUANTITIES, PER_RUN_FIELDS, Hyper, Program, TrainState, cast_floats, init_program

#: ``BPOConfig`` fields that only the host reads; packed runs must agree on them too.
_HOST_FIELDS = ("nan_policy", "seed_group_size")


def check_packable(configs: Sequence[BPOConfig]) -> BPOConfig:
    """The shared configuration of `configs` (the first), after checking that they differ only in
    ``PER_RUN_FIELDS``; otherwise a one-line ``ValueError`` naming the first field that differs."""
    if isinstance(configs, BPOConfig) or not isinstance(configs, Sequence) or not configs:
        raise ValueError(f"`configs` must be a non-empty sequence of BPOConfig, got {configs!r}")
    for c in configs:
        if not isinstance(c, BPOConfig):
            raise ValueError(f"`configs` must hold BPOConfig instances, got {type(c).__name__}")
    first = configs[0]
    for j, c in enumerate(configs[1:], start=1):
        for field in dataclasses.fields(BPOConfig):
            name = field.name
            if name not in PER_RUN_FIELDS and getattr(c, name) != getattr(first, name):
                raise ValueError(
                    f"`configs` cannot share one program: configs[{j}].{name}={getattr(c, name)!r} differs from "
                    f"configs[0].{name}={getattr(first, name)!r} (only {', '.join(PER_RUN_FIELDS)} may differ)"
                )
    return first


class PackedRuns(eqx.Module):
    """A packed state and what runs it: `program` (shared), `state` (every array with a leading axis of
    ``len(configs) * len(seeds)`` rows, setting-major), `init_eval` (the untrained policies'
    evaluation returns per row), `configs` and `seeds`."""

    program: Program
    state: TrainState
    init_eval: jax.Array
    configs: tuple[BPOConfig, ...] = eqx.field(static=True)
    seeds: tuple[int, ...] = eqx.field(static=True)

    def rows(self, setting: int) -> slice:
        """The rows of setting ``setting`` (its seeds, in order)."""
        n = len(self.seeds)
        return slice(setting * n, (setting + 1) * n)


def _precision_context(config: BPOConfig):
    return jax.enable_x64(True) if config.float64 else contextlib.nullcontext()


def pack(
    env: Env,
    model: AbstractWorldModel | str | Callable[[Key], AbstractWorldModel],
    configs: Sequence[BPOConfig],
    *,
    key: int | Key,
    seeds: int | Sequence[int] = 1,
    policy: Callable[[Key], AbstractPolicy] | None = None,
) -> PackedRuns:
    """Builds the packed initial state (warm-up included) of the runs ``train(env, model, c, key=key,
    seeds=seeds, policy=policy)`` for every ``c`` in `configs`, which must differ only in
    ``PER_RUN_FIELDS`` (else a ``ValueError`` naming the field). Arguments as [`awmkit.bpo.train`][].
    Float64 configurations must be packed and run inside ``jax.enable_x64(True)`` (as
    [`awmkit.bpo.train_packed`][] does)."""
    from ._run import _builders, _check_seeds, _key_and_record, _shapes

    config = check_packable(configs)
    if not isinstance(env, Env):
        raise ValueError(f"`env` must be an awmkit.envs.Env, got {type(env).__name__}")
    config.check_horizon(env.horizon)
    seed_ids = _check_seeds(seeds)
    run_key, _ = _key_and_record(key)
    dtype = jnp.float64 if config.float64 else jnp.float32
    env = cast_floats(env, dtype)
    seed_keys = jnp.stack([jax.random.fold_in(run_key, s) for s in seed_ids])
    model_keys, policy_keys, state_keys = (
        jax.vmap(lambda k, j=j: jax.random.fold_in(k, j))(seed_keys) for j in range(3)
    )
    build_model_for, build_policy_for = _builders(env, model, policy, dtype)
    model_shape, _ = _shapes(env, build_model_for, build_policy_for, model_keys[0], policy_keys[0])
    bonus = any(c.entropy_coef != 0 for c in configs)
    program = Program(
        env, config, learn_model=not isinstance(model_shape, SimulatorModel), entropy_bonus=bonus
    )
    settings = len(configs)

    def tile(x):
        return jnp.concatenate([x] * settings)

    hyper = jax.tree.map(
        lambda *xs: jnp.repeat(jnp.stack(xs), len(seed_ids)), *[Hyper.of(c, dtype) for c in configs]
    )
    models = eqx.filter_vmap(build_model_for)(tile(model_keys))
    policies = eqx.filter_vmap(build_policy_for)(tile(policy_keys))
    state, init_eval = init_program(program, models, policies, tile(state_keys), hyper)
    return PackedRuns(program, state, init_eval, tuple(configs), seed_ids)


def run_packed_chunk(packed: PackedRuns, chunk: int) -> tuple[PackedRuns, dict]:
    """Chunk ``chunk`` of every row of `packed`: the new packed runs and the chunk's metrics (leading
    axis: rows), as ``train``'s host loop gets them."""
    state, metrics = run_chunk_on_devices(
        packed.program, packed.state, chunk, packed.configs[0].seed_group_size
    )
    return eqx.tree_at(lambda p: p.state, packed, state), metrics


def _rows(tree, rows: slice):
    arrays, static = eqx.partition(tree, eqx.is_array)
    return eqx.combine(jax.tree.map(lambda x: x[rows], arrays), static)


def train_packed(
    env: Env,
    model: AbstractWorldModel | str | Callable[[Key], AbstractWorldModel],
    configs: Sequence[BPOConfig],
    *,
    key: int | Key,
    seeds: int | Sequence[int] = 1,
    policy: Callable[[Key], AbstractPolicy] | None = None,
) -> tuple:
    """Trains the runs of every configuration in `configs` (differing only in ``PER_RUN_FIELDS``) as
    one compiled program and returns one [`awmkit.bpo.BPOResult`][] per configuration, in order, each
    as ``train(env, model, config, key=key, seeds=seeds, policy=policy)`` would return it (in memory:
    `out` is ``None``; `wall_time_s` is the whole packed run's). A NaN-stopped row is reported in its
    setting's `nan_reports`; with ``nan_policy="stop_run"`` any stopped row raises
    [`awmkit.bpo.NonFiniteError`][] after its chunk."""
    from ._run import BPOResult, NaNReport, NonFiniteError, _eval_points

    start = time.perf_counter()
    config = check_packable(configs)
    horizon = env.horizon if isinstance(env, Env) else None
    with _precision_context(config):
        packed = pack(env, model, configs, key=key, seeds=seeds, policy=policy)
        seed_ids, n = packed.seeds, len(packed.seeds)
        evals = [(config.warmup_episodes(horizon) * horizon, np.asarray(packed.init_eval, np.float64))]
        reported: dict[int, NaNReport] = {}
        traces = 0
        for c in range(config.num_chunks(horizon)):
            from ._train import chunk_traced

            before = eqx.debug.get_num_traces(chunk_traced)
            packed, metrics = run_packed_chunk(packed, c)
            traces += eqx.debug.get_num_traces(chunk_traced) - before
            metrics = jax.tree.map(np.asarray, metrics)
            evals.extend(_eval_points(metrics, c, config, horizon))
            alive = np.asarray(packed.state.alive)
            fresh = [r for r in np.nonzero(~alive)[0] if r not in reported]
            for r in fresh:
                code = NAN_QUANTITIES[int(packed.state.nan_code[r])]
                reported[int(r)] = NaNReport(seed_ids[r % n], int(packed.state.nan_step[r]), code)
            if fresh and config.nan_policy == "stop_run":
                raise NonFiniteError(
                    "non-finite values stopped the packed run (nan_policy='stop_run'): "
                    + "; ".join(f"setting {r // n}, {reported[int(r)]}" for r in fresh)
                )
        wall = time.perf_counter() - start
        eval_steps = np.array([s for s, _ in evals], dtype=np.int64)
        returns = np.stack([r for _, r in evals])
        results = []
        for j, c in enumerate(packed.configs):
            rows = packed.rows(j)
            results.append(
                BPOResult(
                    state=_rows(packed.state, rows),
                    config=c,
                    seeds=seed_ids,
                    eval_steps=eval_steps,
                    eval_returns=returns[:, rows],
                    final_return=returns[-1, rows],
                    wall_time_s=wall,
                    nan_reports=tuple(reported[r] for r in sorted(reported) if r // n == j),
                    num_traces=traces,
                    out=None,
                )
            )
    return tuple(results)


__all__ = ["PackedRuns", "check_packable", "pack", "run_packed_chunk", "train_packed"]

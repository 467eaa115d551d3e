"""Many BPO runs in one compiled program: runs that differ only in per-run hyper-parameters
(``PER_RUN_FIELDS``: the entropy coefficient, both learning rates, the gradient clip) are packed
along the seed axis, PureJaxRL-style, so one program trains ``R = settings x seeds`` runs.

Row ``j * S + i`` of a packed state is seed ``seed_ids[i]`` of setting ``j`` (``S`` seeds per setting);
it starts from exactly the keys, model and policy of that seed in a run of setting ``j`` alone, and
carries setting ``j``'s values in ``TrainState.hyper``. The rows are laid out on the hardware as the
seeds of one run are (``awmkit.bpo.seed_layout``): on a CPU in groups of 2 one after another, on a GPU
all in one vmapped program.

`train_packed` keeps one run per setting on the host: each setting is an ordinary BPO run
(``awmkit.bpo._run._BPORun``) driven by the shared host loop (``awmkit.runs``) into its own run
directory, in its own thread; the threads meet before every chunk, one of them runs the packed chunk
for all, and each takes its rows back. So every setting's directory is exactly a ``train`` run's:
resume, reports, ``awmkit results`` and best-setting selection read it as before.
"""

import contextlib
import dataclasses
import threading
import time
from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._typing import Key
from ..envs import Env
from ..models import AbstractWorldModel
from ..policies import AbstractPolicy
from ._config import BPOConfig
from ._devices import run_chunk_on_devices
from ._train import PER_RUN_FIELDS, Hyper, Program, TrainState, chunk_traced, init_program

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


def packed_program(program: Program, configs: Sequence[BPOConfig]) -> Program:
    """The program of the packed runs: `program` (any setting's) computing the entropy estimate when
    any setting's coefficient is non-zero."""
    bonus = any(c.entropy_coef != 0 for c in configs)
    return Program(program.env, program.config, program.learn_model, program.update_loop, entropy_bonus=bonus)


def stack_states(states: Sequence[TrainState]) -> TrainState:
    """The packed state: the runs' states concatenated along the seed axis (setting-major)."""
    arrays = [eqx.filter(s, eqx.is_array) for s in states]
    static = eqx.partition(states[0], eqx.is_array)[1]
    return eqx.combine(jax.tree.map(lambda *xs: jnp.concatenate(xs), *arrays), static)


def rows_of(tree, rows: slice):
    """Rows `rows` of every array of `tree` (one setting of a packed state or metrics)."""
    arrays, static = eqx.partition(tree, eqx.is_array)
    return eqx.combine(jax.tree.map(lambda x: x[rows], arrays), static)


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


def pack(
    env: Env | str,
    configs: Sequence[BPOConfig],
    *,
    model: AbstractWorldModel | str | Callable[[Key], AbstractWorldModel],
    policy: Callable[[Key], AbstractPolicy] | None = None,
    horizon: int | None = None,
    seeds: int | Sequence[int] = 1,
    key: int | Key = 0,
) -> PackedRuns:
    """Builds the packed initial state (warm-up included) of the runs ``train(env, c, model=model,
    seeds=seeds, key=key, policy=policy)`` for every ``c`` in `configs`, which must differ only in
    ``PER_RUN_FIELDS`` (else a ``ValueError`` naming the field); run it chunk by chunk with
    `run_packed_chunk` (a host loop of your own; `train_packed` uses awmkit's). Float64 configurations
    must be packed and run inside ``jax.enable_x64(True)``."""
    runs = _runs(env, configs, model, policy, horizon, seeds, key)
    program = packed_program(runs[0].program, configs)
    state, init_eval = packed_initial_state(runs, program)
    return PackedRuns(program, state, init_eval, tuple(configs), runs[0].seed_ids)


def packed_initial_state(runs: Sequence, program: Program):
    """The packed state after the warm-up and the untrained policies' evaluations, of the runs
    (``_BPORun``s of one env, model, policy, key and seeds) in one vmapped call: the rows of setting
    ``j`` carry ``Hyper.of(configs[j])``."""
    first, n = runs[0], len(runs)

    def tile(x):
        return jnp.concatenate([x] * n)

    hyper = jax.tree.map(
        lambda *xs: jnp.repeat(jnp.stack(xs), len(first.seed_ids)),
        *[Hyper.of(run.config) for run in runs],
    )
    models = eqx.filter_vmap(first.build_model)(tile(first.keys[0]))
    policies = eqx.filter_vmap(first.build_policy)(tile(first.keys[1]))
    return init_program(program, models, policies, tile(first.keys[2]), hyper)


def run_packed_chunk(packed: PackedRuns, chunk: int) -> tuple[PackedRuns, dict]:
    """Chunk ``chunk`` of every row of `packed`: the new packed runs and the chunk's metrics (leading
    axis: rows), as ``train``'s host loop gets them for one run."""
    state, metrics = run_chunk_on_devices(
        packed.program, packed.state, chunk, packed.configs[0].seed_group_size
    )
    return eqx.tree_at(lambda p: p.state, packed, state), metrics


def _runs(env, configs, model, policy, horizon, seeds, key) -> list:
    """One ``_BPORun`` per configuration (checked as ``train`` checks its arguments)."""
    from ..runs._result import check_env, check_key, check_seeds
    from ._run import MODEL_NAMES, _BPORun

    config = check_packable(configs)
    env = check_env(env, horizon)
    config.check_horizon(env.horizon)
    seed_ids = check_seeds(seeds)
    run_key, key_record = check_key(key)
    if model is None or (isinstance(model, str) and model not in MODEL_NAMES):
        raise ValueError(f"`model` must be a world model, a factory or one of: {', '.join(MODEL_NAMES)}")
    dtype = jnp.float64 if config.float64 else jnp.float32
    return [_BPORun(env, model, policy, c, run_key, key_record, seed_ids, dtype) for c in configs]


class _Meeting:
    """Where the settings' host loops meet before each chunk: the last to arrive runs the packed chunk
    for all (a ``threading.Barrier`` action); a failure anywhere breaks the meeting for every thread."""

    def __init__(self, runs, configs):
        from ._run import _eval_rows  # noqa: F401 (checked importable before threads start)

        self.runs, self.n = runs, len(runs)
        self.program = packed_program(runs[0].program, configs)
        self.group = configs[0].seed_group_size
        self.inbox: list = [None] * self.n
        self.outbox: list = [None] * self.n
        self.error: BaseException | None = None
        self.barrier = threading.Barrier(self.n, action=self._run)

    def init(self, j: int):
        return self.chunk(j, None, -1)

    def chunk(self, j: int, state, c: int):
        self.inbox[j] = (c, state)
        try:
            self.barrier.wait()
        except threading.BrokenBarrierError:
            raise RuntimeError(
                f"setting {j} of the packed run cannot go on: another setting failed"
            ) from self.error
        if self.error is not None:
            raise RuntimeError("the packed chunk failed") from self.error
        return self.outbox[j]

    def _run(self) -> None:
        try:
            chunks = {c for c, _ in self.inbox}
            if len(chunks) != 1:
                raise RuntimeError(f"the packed settings reached different chunks {sorted(chunks)}")
            (c,) = chunks
            if c == -1:  # the warm-up, all settings in one vmapped call
                state, init_eval = packed_initial_state(self.runs, self.program)
                n_seeds = len(self.runs[0].seed_ids)
                for j, run in enumerate(self.runs):
                    rows = slice(j * n_seeds, (j + 1) * n_seeds)
                    self.outbox[j] = _init_of(run, rows_of(state, rows), init_eval[rows])
                return
            state = stack_states([s for _, s in self.inbox])
            state, metrics = run_chunk_on_devices(self.program, state, c, self.group)
            metrics = jax.tree.map(np.asarray, metrics)
            n_seeds = len(self.runs[0].seed_ids)
            for j, run in enumerate(self.runs):
                rows = slice(j * n_seeds, (j + 1) * n_seeds)
                self.outbox[j] = _chunk_of(
                    run, rows_of(state, rows), {k: v[rows] for k, v in metrics.items()}, c
                )
        except BaseException as e:  # noqa: BLE001 - handed to every thread
            self.error = e
        finally:
            self.inbox = [None] * self.n

    def abort(self) -> None:
        self.barrier.abort()


def checkpoint_chunk(run_dir) -> int | None:
    """The chunk the BPO checkpoint in `run_dir` reached (-1: no checkpoint yet), ``None`` when it
    cannot be read."""
    from ..runs import RunDir
    from ._run import CHECKPOINT_FORMAT

    rd = RunDir(run_dir)
    if not rd.checkpoint.exists():
        return -1
    try:
        return int(rd.read_checkpoint(CHECKPOINT_FORMAT)[0]["chunk"])
    except Exception:  # noqa: BLE001 - whoever runs it alone reports why
        return None


def _init_of(run, state, init_eval):
    """What ``_BPORun.init`` returns, from this setting's rows of the packed warm-up."""
    from ..runs._host import Chunk

    init_eval = np.asarray(init_eval, dtype=np.float64)
    warm_steps = run.config.warmup_episodes(run.env.horizon) * run.env.horizon
    rows = [
        {"chunk": -1, "iteration": -1, "env_steps": warm_steps, "seed": s, "eval_return": float(init_eval[j])}
        for j, s in enumerate(run.seed_ids)
    ]
    return Chunk(state, rows)


def _chunk_of(run, state, metrics: dict, c: int):
    """What ``_BPORun.chunk`` returns, from this setting's rows of the packed chunk."""
    from ..runs._host import Chunk
    from ._run import _eval_rows

    rows = _eval_rows(metrics, c, run.config, run.env.horizon, run.seed_ids)
    fresh = run.nan_rows(state, c, rows)
    stop = None
    if fresh and run.config.nan_policy == "stop_run":
        stop = "non-finite values stopped the run (nan_policy='stop_run'): " + "; ".join(map(str, fresh))
    updates = (int(np.max(state.dynamics_updates)), int(np.max(state.policy_updates)))
    return Chunk(state, rows, stop, extra=f"updates: model {updates[0]}, policy {updates[1]}")


def train_packed(
    env: Env | str,
    configs: Sequence[BPOConfig],
    *,
    model: AbstractWorldModel | str | Callable[[Key], AbstractWorldModel],
    policy: Callable[[Key], AbstractPolicy] | None = None,
    horizon: int | None = None,
    seeds: int | Sequence[int] = 1,
    key: int | Key = 0,
    outs: Sequence | None = None,
    resume: bool = False,
    progress: bool = False,
) -> tuple:
    """Trains the runs of every configuration in `configs` (differing only in ``PER_RUN_FIELDS``) as
    one compiled program, and returns one [`awmkit.bpo.BPOResult`][] per configuration, in order, each
    as ``train(env, config, model=model, policy=policy, seeds=seeds, key=key, out=outs[j])`` returns it
    (`num_traces` counts the packed program's compilations, in the first result).

    **Arguments:** as [`awmkit.bpo.train`][], with `configs` (refused with the first field that differs
    when they differ in another field) and `outs`: one run directory per configuration (or ``None``:
    in memory). With `resume`, every directory continues from its checkpoint; they must have reached
    the same chunk (each setting's host loop meets the others before every chunk).
    `progress` draws the first setting's progress bar.

    **Raises:** as `train`; a failure in one setting stops them all.
    """
    from ..runs._host import check_out, run_loop
    from ._run import BPOResult, _updates

    start = time.perf_counter()
    config = check_packable(configs)
    if outs is not None and (isinstance(outs, (str, bytes)) or len(outs) != len(configs)):
        raise ValueError(f"`outs` must be None or one run directory per configuration ({len(configs)})")
    with jax.enable_x64(True) if config.float64 else contextlib.nullcontext():
        runs = _runs(env, configs, model, policy, horizon, seeds, key)
        seed_ids = runs[0].seed_ids
        run_dirs = [None] * len(configs) if outs is None else [check_out(o, resume) for o in outs]
        if resume and outs is not None:
            reached = [checkpoint_chunk(d.root) for d in run_dirs]
            if len(set(reached)) != 1:
                raise ValueError(
                    f"the run directories in `outs` reached different chunks {reached} (-1: none yet); "
                    "packed runs resume together: resume each with awmkit.bpo.train instead"
                )
        meeting = _Meeting(runs, configs)
        traces_before = eqx.debug.get_num_traces(chunk_traced)
        done: list = [None] * len(runs)
        errors: list[BaseException] = []

        def one(j: int) -> None:
            loop = dataclasses.replace(
                runs[j].loop(),
                init=lambda: meeting.init(j),
                chunk=lambda state, c: meeting.chunk(j, state, c),
            )
            try:
                with jax.enable_x64(True) if config.float64 else contextlib.nullcontext():  # per thread
                    done[j] = run_loop(
                        loop, run_dirs[j], resume=resume, progress=progress and j == 0, loggers=(), t0=start
                    )
            except BaseException as e:  # noqa: BLE001 - re-raised below, after every thread ended
                errors.append(e)
                meeting.abort()

        threads = [
            threading.Thread(target=one, args=(j,), name=f"awmkit-packed-{j}", daemon=True)
            for j in range(len(runs))
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if meeting.error is not None:
            raise meeting.error
        if errors:
            primary = [e for e in errors if not isinstance(e, RuntimeError) or e.__cause__ is None]
            raise (primary or errors)[0]
        traces = eqx.debug.get_num_traces(chunk_traced) - traces_before
    results = []
    for j, (run, d) in enumerate(zip(runs, done)):
        results.append(
            BPOResult(
                algo="bpo",
                seeds=seed_ids,
                eval_steps=d.eval_steps,
                eval_returns=d.eval_returns,
                final_return=d.final_return,
                wall_time_s=d.wall_time_s,
                out=None if run_dirs[j] is None else run_dirs[j].root,
                policy=d.state.policy,
                state=d.state,
                config=configs[j],
                info=_updates(d.state),
                nan_reports=tuple(run.reports),
                num_traces=traces if j == 0 else 0,
            )
        )
    return tuple(results)


__all__ = [
    "PackedRuns",
    "check_packable",
    "pack",
    "packed_program",
    "rows_of",
    "run_packed_chunk",
    "stack_states",
    "train_packed",
]

"""The host side of a BPO run: building, chunked execution, progress, metrics, checkpoints, resume."""

import contextlib
import dataclasses
import io
import json
import math
import os
import pathlib
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .. import _fingerprint, _progress as _progress_line
from .._typing import Key
from ..envs import Env
from ..models import AbstractWorldModel, SimulatorModel
from ..policies import AbstractPolicy, TanhGaussianPolicy
from ._config import BPOConfig
from ._devices import run_chunk_on_devices
from ._rundir import (  # noqa: F401  (re-exported: awmkit.bpo and the baselines import them from here)
    _CHECKPOINT_FORMAT,
    _NOT_IN_CHECKPOINT,
    RUN_FLAGS,
    CheckpointError,
    _describe,
    _differences,
    _RunDir,
    _structure_hash,
    read_checkpoint,
    tree_fingerprint,
)
from ._train import (
    METRIC_KEYS,
    NAN_QUANTITIES,
    Program,
    TrainState,
    cast_floats,
    chunk_traced,
    init_program,
)


def _model_names() -> tuple[str, ...]:
    from ..models import names

    return names()


#: The world-model names accepted by ``train`` and the command line.
MODEL_NAMES = _model_names()


class NonFiniteError(RuntimeError):
    """Raised by [`awmkit.bpo.train`][] with ``nan_policy="stop_run"`` when a seed produced a
    non-finite loss, gradient or parameter; the run directory keeps the last good checkpoint."""


@dataclasses.dataclass(frozen=True)
class NaNReport:
    """Where the NaN guard stopped a seed: its index, the environment step and the quantity."""

    seed: int
    env_step: int
    quantity: str

    def __str__(self) -> str:
        return f"seed {self.seed}: non-finite {self.quantity} at env step {self.env_step}"


@dataclasses.dataclass(frozen=True)
class BPOResult:
    """What [`awmkit.bpo.train`][] returns.

    **Fields:**

    - `state`: the final [`awmkit.bpo.TrainState`][], every array with a leading seed axis.
    - `config`: the [`awmkit.bpo.BPOConfig`][].
    - `seeds`: the seed indices, in the order of the leading axis.
    - `eval_steps`: environment steps of each evaluation, shape ``(evaluations,)``.
    - `eval_returns`: the deterministic policy's mean evaluation return, ``(evaluations, seeds)``.
    - `final_return`: the last evaluation of each seed, ``(seeds,)``.
    - `wall_time_s`: seconds of the whole run, compilation included (a resumed run adds the time
      recorded in its checkpoint).
    - `nan_reports`: the seeds the NaN guard stopped.
    - `num_traces`: how often this call traced (compiled) the chunk program: 1, or 0 when an earlier
      run in this process with an equal program and the same shapes had compiled it.
    - `out`: the run directory, or ``None``.
    """

    state: TrainState
    config: BPOConfig
    seeds: tuple[int, ...]
    eval_steps: np.ndarray
    eval_returns: np.ndarray
    final_return: np.ndarray
    wall_time_s: float
    nan_reports: tuple[NaNReport, ...]
    num_traces: int
    out: pathlib.Path | None

    @property
    def policy(self) -> AbstractPolicy:
        """The policies of all seeds (leading seed axis on every array)."""
        return self.state.policy

    @property
    def model(self) -> AbstractWorldModel:
        """The world models of all seeds (leading seed axis on every array)."""
        return self.state.model

    def seed_policy(self, i: int) -> AbstractPolicy:
        """The policy of the ``i``-th seed of this run (position in `seeds`), without the seed axis."""
        return _index(self.state.policy, i)

    def seed_model(self, i: int) -> AbstractWorldModel:
        """The world model of the ``i``-th seed of this run, without the seed axis."""
        return _index(self.state.model, i)


def _index(tree, i):
    arrays, static = eqx.partition(tree, eqx.is_array)
    return eqx.combine(jax.tree.map(lambda x: x[i], arrays), static)


# --- building ------------------------------------------------------------------------------------


def build_model(name: str, env: Env, *, key: Key) -> AbstractWorldModel:
    """The world model called ``name`` (one of ``MODEL_NAMES``) for ``env``, with the paper's
    defaults, through [`awmkit.models.make`][]."""
    from .. import models

    if name not in MODEL_NAMES:
        raise ValueError(f"unknown model {name!r}; valid names are: {', '.join(MODEL_NAMES)}")
    return models.make(name, env, key=key)


def _check_seeds(seeds) -> tuple[int, ...]:
    if isinstance(seeds, bool):
        raise ValueError(f"`seeds` must be a positive integer or a sequence of seed indices, got {seeds!r}")
    if isinstance(seeds, int):
        if seeds <= 0:
            raise ValueError(f"`seeds` must be a positive integer, got {seeds}")
        return tuple(range(seeds))
    if isinstance(seeds, Sequence) and len(seeds) > 0:
        out = tuple(seeds)
        if all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in out) and len(
            set(out)
        ) == len(out):
            return out
    raise ValueError(
        f"`seeds` must be a positive integer or a non-empty sequence of distinct non-negative seed indices, "
        f"got {seeds!r}"
    )


def _key_and_record(key) -> tuple[Key, Any]:
    if isinstance(key, bool):
        raise ValueError(f"`key` must be an int or a JAX PRNG key, got {key!r}")
    if isinstance(key, int):
        return jax.random.key(key), key
    if isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key) and key.shape == ():
        return key, np.asarray(jax.random.key_data(key)).tolist()
    raise ValueError(f"`key` must be an int or a scalar typed JAX PRNG key (jax.random.key), got {key!r}")


# --- train ---------------------------------------------------------------------------------------


def train(
    env: Env,
    model: AbstractWorldModel | str | Callable[[Key], AbstractWorldModel],
    config: BPOConfig | None = None,
    *,
    key: int | Key,
    seeds: int | Sequence[int] = 1,
    policy: Callable[[Key], AbstractPolicy] | None = None,
    out: str | os.PathLike | None = None,
    resume: bool = False,
    progress: bool = True,
) -> BPOResult:
    """Backpropagation-based Policy Optimisation (Algorithm 1) for several seeds at once.

    After ``ceil(warmup_steps / H)`` warm-up episodes of uniformly random actions, each iteration
    collects one episode in the real environment with the stochastic policy, then takes the updates
    that the authors' schedule puts in that episode's environment steps (one model update every
    ``dynamics_update_every`` steps and one policy update every ``policy_update_every`` steps after
    ``warmup_steps``; see [`awmkit.bpo.BPOConfig`][]): Adam steps on the model's mean teacher-forced
    loss over sampled episodes, then Adam steps on

    $$\\frac{1}{B}\\sum_{b=1}^{B} J^{\\mathcal W}(\\theta; s_0^b)
    + \\alpha \\frac{1}{B}\\sum_{b=1}^{B} \\frac{1}{H} \\sum_{k=0}^{H-1}
      -\\log \\pi_\\theta(a_k^b \\mid \\mathrm{sg}[\\hat s_k^b], k)$$

    (equations 1-3 plus the authors' time-averaged entropy bonus) over initial states ``s_0^b`` of
    stored episodes, through ``model.policy_objective``; every ``eval_interval`` steps the
    deterministic policy is evaluated on the real environment. ``state.dynamics_updates`` and
    ``state.policy_updates`` count the updates applied to each seed.

    The iterations are a ``lax.scan`` inside ``jax.jit``, ``jax.vmap``-ed over seeds (each seed its
    own model, policy, optimiser states, buffer and keys); the host runs them ``chunk_size`` at a
    time, drawing progress on stderr and, with `out`, appending to ``metrics.jsonl`` and writing a
    checkpoint after each chunk.

    **Arguments:**

    - `env`: the [`awmkit.envs.Env`][] (its horizon is the episode length ``H``).
    - `model`: a name from ``MODEL_NAMES`` (each seed gets its own initialisation through
      ``awmkit.models.make``), a factory ``key -> model`` (likewise), or a model instance, which every
      seed starts from.
    - `config`: a [`awmkit.bpo.BPOConfig`][] (default: the paper's hyper-parameters).
    - `key`: an int or a JAX PRNG key; the whole run is a pure function of it and the seed indices.
    - `seeds`: the number of seeds ``N`` (indices ``0..N-1``) or explicit seed indices; seed ``i``
      uses ``fold_in(key, i)``, so seed ``i`` of any run equals a run of seed ``i`` alone.
    - `policy`: a factory ``key -> policy`` (default: a [`awmkit.policies.TanhGaussianPolicy`][]
      with two hidden layers of 64).
    - `out`: a run directory (``config.json``, ``metrics.jsonl``, ``checkpoints/``, ``result.json``);
      ``None`` keeps everything in memory.
    - `resume`: continue the run in `out` from its last checkpoint. The result is bit-identical to an
      uninterrupted run; a checkpoint of a different run is refused with what differs.
    - `progress`: draw a progress bar on stderr.

    **Returns:** a [`awmkit.bpo.BPOResult`][].

    **Raises:** ``ValueError`` for bad arguments (before anything is compiled),
    [`awmkit.bpo.CheckpointError`][] for an unusable checkpoint, and [`awmkit.bpo.NonFiniteError`][]
    when ``nan_policy="stop_run"`` and a seed went non-finite.
    """
    start_time = time.perf_counter()
    if not isinstance(env, Env):
        raise ValueError(f"`env` must be an awmkit.envs.Env, got {type(env).__name__}")
    config = BPOConfig() if config is None else config
    if not isinstance(config, BPOConfig):
        raise ValueError(f"`config` must be an awmkit.bpo.BPOConfig, got {type(config).__name__}")
    horizon = env.horizon
    config.check_horizon(horizon)
    seed_ids = _check_seeds(seeds)
    run_key, key_record = _key_and_record(key)
    if isinstance(model, str) and model not in MODEL_NAMES:
        raise ValueError(f"unknown model {model!r}; valid names are: {', '.join(MODEL_NAMES)}")
    if not (isinstance(model, (AbstractWorldModel, str)) or callable(model)):
        raise ValueError(
            f"`model` must be a world model, a model name or a factory, got {type(model).__name__}"
        )
    if policy is not None and not callable(policy):
        raise ValueError(f"`policy` must be a factory key -> AbstractPolicy, got {type(policy).__name__}")
    run_dir = None if out is None else _RunDir(pathlib.Path(out))
    if run_dir is not None and run_dir.holds_run() and not resume:
        raise ValueError(
            f"`out` directory {run_dir.root} already holds a run; pass resume=True to continue it"
        )

    dtype = jnp.float64 if config.float64 else jnp.float32
    x64 = jax.enable_x64(True) if config.float64 else contextlib.nullcontext()
    total = (config.warmup_episodes(horizon) + config.iterations(horizon)) * horizon
    # Shown from now on: the stage (compiling, warm-up, training), then the speed after a chunk.
    bar = _progress_line.Progress(total, enabled=progress, name="awmkit bpo")
    with x64, contextlib.closing(bar):
        return _train(
            env,
            model,
            config,
            run_key,
            key_record,
            seed_ids,
            policy,
            run_dir,
            resume,
            bar,
            dtype,
            start_time,
        )


def _model_name(model) -> str | None:
    if isinstance(model, str):
        return model
    if isinstance(model, SimulatorModel):
        return "simulator"
    return getattr(model, "name", None) or type(model).__name__


def _train(env, model, config, run_key, key_record, seed_ids, policy, run_dir, resume, bar, dtype, t0):
    env = cast_floats(env, dtype)
    horizon = env.horizon
    seed_keys = jnp.stack([jax.random.fold_in(run_key, s) for s in seed_ids])
    model_keys, policy_keys, state_keys = (
        jax.vmap(lambda k, j=j: jax.random.fold_in(k, j))(seed_keys) for j in range(3)
    )

    build_model_for, build_policy_for = _builders(env, model, policy, dtype, config.policy_time_input)

    # Shapes only (no compilation) so that every incompatibility is reported before any real work.
    model_shape, policy_shape = _shapes(env, build_model_for, build_policy_for, model_keys[0], policy_keys[0])

    program = Program(env, config, learn_model=not isinstance(model_shape, SimulatorModel))
    num_chunks = config.num_chunks(horizon)
    model_name = _model_name(model)
    run_config = {
        "awmkit_version": _version(),
        "algo": "bpo",
        "env": env.name,
        "model": model_name,
        "horizon": horizon,
        "seeds": len(seed_ids),
        "seed_indices": list(seed_ids),
        "steps": config.steps,
        "key": key_record,
        **config.to_dict(),
        "policy": _describe(policy_shape),
        "model_config": _describe(model_shape),  # the world model's hyper-parameters, for the reader
    }

    def initial_state():
        models = eqx.filter_vmap(build_model_for)(model_keys)
        policies = eqx.filter_vmap(build_policy_for)(policy_keys)
        return init_program(program, models, policies, state_keys)

    state_shape, _ = eqx.filter_eval_shape(initial_state)
    header_base = {
        "format": _CHECKPOINT_FORMAT,
        "run": {k: v for k, v in run_config.items() if k not in _NOT_IN_CHECKPOINT},
        "env": _fingerprint.describe(env, values=True),
        "model": _describe(model_shape),
        "structure": _structure_hash(state_shape),
        "num_chunks": num_chunks,
    }

    evals: list[tuple[int, np.ndarray]] = []
    completed = 0
    state = None
    finished = None  # result.json of a run that had already finished
    if run_dir is not None and resume and run_dir.checkpoint.exists():
        state, completed, finished, elapsed, evals = _resume(
            run_dir, header_base, state_shape, num_chunks, seed_ids
        )
        t0 -= elapsed  # wall time of the sessions before the kill

    if run_dir is not None:
        run_dir.root.mkdir(parents=True, exist_ok=True)
        run_dir.write_json(run_dir.config, run_config)

    traces_before = eqx.debug.get_num_traces(chunk_traced)
    reported: set[int] = set()
    reports: list[NaNReport] = []

    def check_nans(state, metrics_rows):
        alive = np.asarray(state.alive)
        fresh = []
        for j, s in enumerate(seed_ids):
            if not alive[j] and s not in reported:
                reported.add(s)
                report = NaNReport(s, int(state.nan_step[j]), NAN_QUANTITIES[int(state.nan_code[j])])
                reports.append(report)
                fresh.append(report)
                print(f"\nawmkit bpo: NaN guard stopped {report}", file=sys.stderr)
                metrics_rows.append({"chunk": completed, "seed": s, "nan": dataclasses.asdict(report)})
        return fresh

    if state is None:
        with bar.stage("warm-up", program="_init_impl"):
            state, init_eval = initial_state()
        evals.append(_record_warm_up(run_dir, config, horizon, seed_ids, state, init_eval, header_base, t0))
    else:
        check_nans(state, [])

    for c in range(completed, num_chunks):
        # One device and one seed group run the plain chunk program; otherwise the grouped/sharded one.
        with bar.stage("training", program=("_chunk_impl", "_chunk")):
            state, metrics = run_chunk_on_devices(program, state, c, config.seed_group_size)
        metrics = jax.tree.map(np.asarray, metrics)
        rows = _eval_rows(metrics, c, config, horizon, seed_ids)
        for steps, returns in _eval_points(metrics, c, config, horizon):
            evals.append((steps, returns))
        fresh = check_nans(state, rows)
        completed = c + 1
        if run_dir is not None:
            run_dir.append_metrics(rows)
        if fresh and config.nan_policy == "stop_run":
            raise NonFiniteError(
                "non-finite values stopped the run (nan_policy='stop_run'): "
                + "; ".join(map(str, fresh))
                + ("" if run_dir is None else f"; the last good checkpoint is {run_dir.checkpoint}")
            )
        if run_dir is not None:
            run_dir.save_checkpoint(
                {**header_base, "chunk": completed, "elapsed_s": time.perf_counter() - t0}, state
            )
        updates = (int(np.max(state.dynamics_updates)), int(np.max(state.policy_updates)))
        bar.update(
            int(np.max(np.asarray(state.env_steps))),
            float(np.nanmean(evals[-1][1])),
            extra=f"updates: model {updates[0]}, policy {updates[1]}",
        )

    eval_steps = np.array([s for s, _ in evals], dtype=np.int64)
    eval_returns = np.stack([r for _, r in evals]) if evals else np.zeros((0, len(seed_ids)))
    final_return = eval_returns[-1] if len(evals) else np.full(len(seed_ids), np.nan)
    wall = time.perf_counter() - t0 if finished is None else float(finished["wall_time_s"])
    result = BPOResult(
        state=state,
        config=config,
        seeds=seed_ids,
        eval_steps=eval_steps,
        eval_returns=eval_returns,
        final_return=final_return,
        wall_time_s=wall,
        nan_reports=tuple(reports),
        num_traces=eqx.debug.get_num_traces(chunk_traced) - traces_before,
        out=None if run_dir is None else run_dir.root,
    )
    if run_dir is not None and finished is None:
        _write_result(run_dir, env, model_name, state, final_return, wall)
    return result


def _shapes(env: Env, build_model_for, build_policy_for, model_key, policy_key):
    """The shapes of one seed's world model and policy, checked against ``env`` (nothing compiled)."""
    model_shape = eqx.filter_eval_shape(build_model_for, model_key)
    model_shape.check_compatible(env)
    policy_shape = eqx.filter_eval_shape(build_policy_for, policy_key)
    got = (policy_shape.state_dim, policy_shape.action_dim, policy_shape.horizon)
    if got != (env.state_dim, env.action_dim, env.horizon):
        raise ValueError(
            f"the policy was built for state_dim={got[0]}, action_dim={got[1]}, horizon={got[2]}, but "
            f"{env.name} has {env.state_dim}, {env.action_dim}, {env.horizon}"
        )
    return model_shape, policy_shape


def _record_warm_up(run_dir, config: BPOConfig, horizon: int, seed_ids, state, init_eval, header_base, t0):
    """The evaluation after the warm-up, as ``(env steps, returns)``; in ``run_dir`` its metrics lines
    and the first checkpoint (chunk 0)."""
    init_eval = np.asarray(init_eval, dtype=np.float64)
    warm_steps = config.warmup_episodes(horizon) * horizon
    if run_dir is not None:
        rows = [
            {
                "chunk": -1,
                "iteration": -1,
                "env_steps": warm_steps,
                "seed": s,
                "eval_return": float(init_eval[j]),
            }
            for j, s in enumerate(seed_ids)
        ]
        run_dir.append_metrics(rows)
        run_dir.save_checkpoint({**header_base, "chunk": 0, "elapsed_s": time.perf_counter() - t0}, state)
    return warm_steps, init_eval


def _builders(env: Env, model, policy, dtype, time_input: str = "fraction"):
    """The functions building one seed's world model and policy from its key, in the run's dtype (the
    default policy with the profile's `time_input`)."""
    horizon = env.horizon

    def build_model_for(k):
        if isinstance(model, str):
            return cast_floats(build_model(model, env, key=k), dtype)
        if isinstance(model, AbstractWorldModel):
            return cast_floats(model, dtype)
        built = model(k)
        if not isinstance(built, AbstractWorldModel):
            raise ValueError(
                f"the `model` factory must return an AbstractWorldModel, got {type(built).__name__}"
            )
        return cast_floats(built, dtype)

    def build_policy_for(k):
        if policy is None:
            return TanhGaussianPolicy(env.state_dim, env.action_dim, horizon, time_input=time_input, key=k)
        built = policy(k)
        if not isinstance(built, AbstractPolicy):
            raise ValueError(
                f"the `policy` factory must return an AbstractPolicy, got {type(built).__name__}"
            )
        return built

    return build_model_for, build_policy_for


def _resume(run_dir: _RunDir, header_base: dict, state_shape, num_chunks: int, seed_ids):
    """The state, completed chunks, finished result (or ``None``), earlier wall time and evaluations
    of the run in ``run_dir``, after checking that its checkpoint was written by this run."""
    header, payload = read_checkpoint(run_dir.checkpoint)
    sections = ("run", "env", "model", "structure")
    mismatch = _fingerprint.mismatch_message(
        run_dir.checkpoint,
        {k: header.get(k) for k in sections},
        {k: header_base[k] for k in sections},
        flags=RUN_FLAGS,
    )
    if mismatch:
        raise CheckpointError(mismatch)
    state = eqx.tree_deserialise_leaves(io.BytesIO(payload), state_shape)
    completed = int(header["chunk"])
    finished = run_dir.finished_result(completed, num_chunks)
    run_dir.truncate_metrics(completed)
    by_iteration: dict[int, tuple[int, np.ndarray]] = {}
    for line in run_dir.metrics.read_text().splitlines() if run_dir.metrics.exists() else []:
        row = json.loads(line)
        if "eval_return" not in row:  # a NaN-guard report
            continue
        steps, returns = by_iteration.setdefault(row["iteration"], (0, np.full(len(seed_ids), np.nan)))
        returns[seed_ids.index(row["seed"])] = row["eval_return"]
        by_iteration[row["iteration"]] = (max(steps, row["env_steps"]), returns)
    evals = [by_iteration[i] for i in sorted(by_iteration)]
    return state, completed, finished, float(header.get("elapsed_s", 0.0)), evals


def _write_result(run_dir: _RunDir, env: Env, model_name, state, final_return, wall: float) -> None:
    run_dir.write_json(
        run_dir.result,
        {
            "algo": "bpo",
            "env": env.name,
            "model": model_name,
            "horizon": env.horizon,
            "seeds": len(final_return),
            "env_steps": int(np.max(np.asarray(state.env_steps))),
            "final_return": [float(x) for x in final_return],
            "dynamics_updates": [int(x) for x in np.asarray(state.dynamics_updates)],
            "policy_updates": [int(x) for x in np.asarray(state.policy_updates)],
            "wall_time_s": wall,
        },
    )


def _iteration_indices(c: int, config: BPOConfig, horizon: int) -> np.ndarray:
    return c * config.chunk_size + np.arange(config.chunk_size)


def _is_eval(i: np.ndarray, config: BPOConfig, horizon: int) -> np.ndarray:
    n = config.iterations(horizon)
    return (i < n) & (((i + 1) % config.eval_every(horizon) == 0) | (i == n - 1))


def _eval_points(metrics: dict, c: int, config: BPOConfig, horizon: int):
    idx = _iteration_indices(c, config, horizon)
    for t in np.nonzero(_is_eval(idx, config, horizon))[0]:
        yield int(metrics["env_steps"][:, t].max()), metrics["eval_return"][:, t].astype(np.float64)


def _eval_rows(metrics: dict, c: int, config: BPOConfig, horizon: int, seed_ids) -> list[dict]:
    """One row per seed and evaluation; training quantities are averaged over the iterations of this
    chunk since the previous evaluation."""
    idx = _iteration_indices(c, config, horizon)
    valid = idx < config.iterations(horizon)
    rows = []
    start = 0
    for t in np.nonzero(_is_eval(idx, config, horizon))[0]:
        window = slice(start, t + 1)
        for j, s in enumerate(seed_ids):
            row = {
                "chunk": c,
                "iteration": int(idx[t]),
                "env_steps": int(metrics["env_steps"][j, t]),
                "seed": s,
                "eval_return": float(metrics["eval_return"][j, t]),
                "alive": bool(metrics["alive"][j, t]),
            }
            for name in METRIC_KEYS:
                if name != "eval_return":
                    values = metrics[name][j, window][valid[window]]
                    # Episodes without an update of that kind report NaN (e.g. H < policy_update_every).
                    values = values[np.isfinite(values)]
                    mean = float(np.mean(values)) if values.size else float("nan")
                    row[name] = mean if math.isfinite(mean) else None
            rows.append(row)
        start = t + 1
    return rows


def _version() -> str:
    from .. import __version__

    return __version__

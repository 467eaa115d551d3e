"""The host side of a BPO run: building the world models and policies of every seed, and the chunks,
evaluation rows and NaN reports that the shared host loop (``awmkit.runs``) runs, checkpoints and logs."""

import contextlib
import dataclasses
import math
import os
import sys
import time
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .. import _fingerprint, models as _models
from .._typing import Key
from .._version import __version__
from ..envs import Env
from ..models import AbstractWorldModel, SimulatorModel
from ..policies import AbstractPolicy, TanhGaussianPolicy
from ..runs import CheckpointError, NonFiniteError, RunResult, read_checkpoint_file
from ..runs._host import Chunk, Loop, check_out, run_loop
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
    check_key,
    check_loggers,
    check_seeds,
    index_seed,
)
from ._config import BPOConfig
from ._devices import run_chunk_on_devices
from ._train import (
    METRIC_KEYS,
    NAN_QUANTITIES,
    Program,
    TrainState,
    cast_floats,
    chunk_traced,
    init_program,
)

__all__ = ["CheckpointError", "NonFiniteError"]

#: The world-model names accepted by ``train`` and the command line.
MODEL_NAMES = _models.names()

CHECKPOINT_FORMAT = "awmkit-bpo-checkpoint-v2"
# Run settings a resumed run may change: they do not change what is computed. Recorded in config.json
# but not compared on resume ("model" is compared from the checkpoint header's own "model" section).
_NOT_IN_CHECKPOINT = ("awmkit_version", "seed_group_size", "model_config")
#: The command-line flag of each run-configuration field a resume-mismatch message names.
RUN_FLAGS = {
    "seed_indices": "--seeds",
    "stop_gradient": "--full-gradient",
    "policy": "the `policy` factory",
    "algo": "--algo",
}


@dataclasses.dataclass(frozen=True)
class NaNReport:
    """Where the NaN guard stopped a seed: its index, the environment step and the quantity."""

    seed: int
    env_step: int
    quantity: str

    def __str__(self) -> str:
        return f"seed {self.seed}: non-finite {self.quantity} at env step {self.env_step}"


@dataclasses.dataclass(frozen=True, kw_only=True)
class BPOResult(RunResult):
    """What [`awmkit.bpo.train`][] returns: an [`awmkit.runs.RunResult`][] (its `state` is the final
    [`awmkit.bpo.TrainState`][], its `config` the [`awmkit.bpo.BPOConfig`][], its `info` the updates
    applied to each seed) with BPO's own fields.

    **Fields** (besides [`awmkit.runs.RunResult`][]'s):

    - `nan_reports`: the seeds the NaN guard stopped.
    - `num_traces`: how often this call traced (compiled) the chunk program: 1, or 0 when an earlier
      run in this process with an equal program and the same shapes had compiled it.
    """

    nan_reports: tuple[NaNReport, ...]
    num_traces: int

    @property
    def model(self) -> AbstractWorldModel:
        """The world models of all seeds (leading seed axis on every array)."""
        return self.state.model

    def seed_model(self, i: int) -> AbstractWorldModel:
        """The world model of the ``i``-th seed of this run, without the seed axis."""
        return index_seed(self.state.model, i)


def read_checkpoint(path: str | os.PathLike) -> tuple[dict, bytes]:
    """The JSON header and the serialised payload of a BPO checkpoint file, after checking the hash
    that covers the whole file.

    Raises [`awmkit.runs.CheckpointError`][] when the file is truncated, corrupted or edited."""
    return read_checkpoint_file(path, CHECKPOINT_FORMAT)


def build_model(name: str, env: Env, *, key: Key) -> AbstractWorldModel:
    """The world model called ``name`` (one of ``MODEL_NAMES``) for ``env``, with the paper's
    defaults, through [`awmkit.models.make`][]."""
    if name not in MODEL_NAMES:
        raise ValueError(f"unknown model {name!r}; valid names are: {', '.join(MODEL_NAMES)}")
    return _models.make(name, env, key=key)


def _describe(obj, depth: int = 0) -> Any:
    """JSON-serialisable hyper-parameters of a module: static fields, Python scalars, nested modules."""
    if isinstance(obj, (bool, int, float, str)) or obj is None:
        return obj
    if isinstance(obj, tuple) and all(isinstance(x, (bool, int, float, str)) or x is None for x in obj):
        return list(obj)
    if callable(obj) and not isinstance(obj, eqx.Module):
        return getattr(obj, "__name__", type(obj).__name__)
    if isinstance(obj, eqx.Module) and depth < 4:
        out: dict[str, Any] = {"class": type(obj).__name__}
        for field in dataclasses.fields(obj):
            value = getattr(obj, field.name, None)
            if eqx.is_array(value):
                out[field.name] = {"shape": list(value.shape), "dtype": str(value.dtype)}
                continue
            described = _describe(value, depth + 1)
            if described is not _SKIP:
                out[field.name] = described
        return out
    return _SKIP


_SKIP = object()


# --- train ---------------------------------------------------------------------------------------


def train(
    env: EnvArg,
    config: BPOConfig | None = None,
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
    own model, policy, optimiser states, buffer and keys); the shared host loop
    ([Runs](../runs.md)) runs them ``chunk_size`` at a time, drawing progress on stderr and, with
    `out`, appending to ``metrics.jsonl`` and writing a checkpoint after each chunk.

    This is the trainer signature every awmkit trainer shares ([`awmkit.baselines.train_sac`][],
    [`awmkit.baselines.train_odt`][]).

    **Arguments:**

    - `env`: an [`awmkit.envs.Env`][] (its horizon is the episode length ``H``), or a registered
      name with `horizon`.
    - `config`: a [`awmkit.bpo.BPOConfig`][] (default: the paper's hyper-parameters).
    - `model` (required): a name from ``MODEL_NAMES`` (each seed gets its own initialisation through
      ``awmkit.models.make``), a factory ``key -> model`` (likewise), or a model instance, which every
      seed starts from.
    - `policy`: a factory ``key -> policy`` (default: a [`awmkit.policies.TanhGaussianPolicy`][]
      with two hidden layers of 64).
    - `horizon`: the episode length when `env` is a name.
    - `seeds`: the number of seeds ``N`` (indices ``0..N-1``) or explicit seed indices; seed ``i``
      uses ``fold_in(key, i)``, so seed ``i`` of any run equals a run of seed ``i`` alone.
    - `key`: an int or a JAX PRNG key; the whole run is a pure function of it and the seed indices.
    - `out`: a run directory (see [Runs](../runs.md)); ``None`` keeps everything in memory.
    - `resume`: continue the run in `out` from its last checkpoint. The result is bit-identical to an
      uninterrupted run; a checkpoint of a different run is refused with what differs.
    - `progress`: draw a progress bar on stderr.
    - `loggers`: [`awmkit.runs.AbstractLogger`][]s that receive the configuration and every chunk's
      metric rows.

    **Returns:** a [`awmkit.bpo.BPOResult`][].

    **Raises:** ``ValueError`` for bad arguments (before anything is compiled; among them
    [`awmkit.runs.RunExistsError`][]), [`awmkit.runs.RunLockedError`][] when another process writes
    `out`, [`awmkit.runs.CheckpointError`][] for an unusable checkpoint, ``OSError`` naming the file
    when a write fails, and [`awmkit.runs.NonFiniteError`][] when ``nan_policy="stop_run"`` and a seed
    went non-finite.
    """
    start_time = time.perf_counter()
    env = check_env(env, horizon)
    config = check_config(config, BPOConfig, "awmkit.bpo.BPOConfig")
    config.check_horizon(env.horizon)
    seed_ids = check_seeds(seeds)
    run_key, key_record = check_key(key)
    if model is None:
        raise ValueError(f"`model` is required: a world model, a factory or one of: {', '.join(MODEL_NAMES)}")
    if isinstance(model, str) and model not in MODEL_NAMES:
        raise ValueError(f"unknown model {model!r}; valid names are: {', '.join(MODEL_NAMES)}")
    if not (isinstance(model, (AbstractWorldModel, str)) or callable(model)):
        raise ValueError(
            f"`model` must be a world model, a model name or a factory, got {type(model).__name__}"
        )
    if policy is not None and not callable(policy):
        raise ValueError(f"`policy` must be a factory key -> AbstractPolicy, got {type(policy).__name__}")
    loggers = check_loggers(loggers)
    run_dir = check_out(out, resume)
    dtype = jnp.float64 if config.float64 else jnp.float32
    x64 = jax.enable_x64(True) if config.float64 else contextlib.nullcontext()
    with x64:
        run = _BPORun(env, model, policy, config, run_key, key_record, seed_ids, dtype)
        traces_before = eqx.debug.get_num_traces(chunk_traced)
        done = run_loop(run.loop(), run_dir, resume=resume, progress=progress, loggers=loggers, t0=start_time)
    state = done.state
    return BPOResult(
        algo="bpo",
        seeds=seed_ids,
        eval_steps=done.eval_steps,
        eval_returns=done.eval_returns,
        final_return=done.final_return,
        wall_time_s=done.wall_time_s,
        out=None if run_dir is None else run_dir.root,
        policy=state.policy,
        state=state,
        config=config,
        info=_updates(state),
        nan_reports=tuple(run.reports),
        num_traces=eqx.debug.get_num_traces(chunk_traced) - traces_before,
    )


def _updates(state: TrainState) -> dict[str, list[int]]:
    return {
        "dynamics_updates": [int(x) for x in np.asarray(state.dynamics_updates)],
        "policy_updates": [int(x) for x in np.asarray(state.policy_updates)],
    }


class _BPORun:
    """One BPO run's programs and bookkeeping, as the host loop's `Loop`."""

    def __init__(self, env, model, policy, config: BPOConfig, run_key, key_record, seed_ids, dtype):
        self.env = env = cast_floats(env, dtype)
        self.config, self.seed_ids = config, seed_ids
        horizon = env.horizon
        seed_keys = jnp.stack([jax.random.fold_in(run_key, s) for s in seed_ids])
        self.keys = [jax.vmap(lambda k, j=j: jax.random.fold_in(k, j))(seed_keys) for j in range(3)]
        self.build_model, self.build_policy = _builders(env, model, policy, dtype)
        # Shapes only (no compilation) so that every incompatibility is reported before any real work.
        model_shape, policy_shape = _shapes(
            env, self.build_model, self.build_policy, self.keys[0][0], self.keys[1][0]
        )
        self.program = Program(env, config, learn_model=not isinstance(model_shape, SimulatorModel))
        self.model_name = _model_name(model)
        self.run_config = {
            "awmkit_version": __version__,
            "algo": "bpo",
            "env": env.name,
            "model": self.model_name,
            "horizon": horizon,
            "seeds": len(seed_ids),
            "seed_indices": list(seed_ids),
            "steps": config.steps,
            "key": key_record,
            **config.to_dict(),
            "policy": _describe(policy_shape),
            "model_config": _describe(model_shape),  # the world model's hyper-parameters, for the reader
        }
        self.state_shape, _ = eqx.filter_eval_shape(self.initial_state)
        self.expected = {
            "run": {k: v for k, v in self.run_config.items() if k not in _NOT_IN_CHECKPOINT},
            "env": _fingerprint.describe(env, values=True),
            "model": _describe(model_shape),
            "structure": _fingerprint.structure(self.state_shape),
            "num_chunks": config.num_chunks(horizon),
        }
        self.reports: list[NaNReport] = []

    def initial_state(self):
        models = eqx.filter_vmap(self.build_model)(self.keys[0])
        policies = eqx.filter_vmap(self.build_policy)(self.keys[1])
        return init_program(self.program, models, policies, self.keys[2])

    def loop(self) -> Loop:
        horizon, config = self.env.horizon, self.config
        return Loop(
            algo="bpo",
            label="BPO",
            title=f"BPO with the {self.model_name} model on {self.env.name}, H = {horizon}",
            run_config=self.run_config,
            expected=self.expected,
            flags=RUN_FLAGS,
            checkpoint_format=CHECKPOINT_FORMAT,
            state_shape=self.state_shape,
            seeds=self.seed_ids,
            num_chunks=config.num_chunks(horizon),
            total_steps=(config.warmup_episodes(horizon) + config.iterations(horizon)) * horizon,
            init=self.init,
            chunk=self.chunk,
            result=self.result,
            resumed=lambda state: self.nan_rows(state, -1),
            stages=("_init_impl", ("_chunk_impl", "_chunk")),
        )

    def init(self) -> Chunk:
        state, init_eval = self.initial_state()
        init_eval = np.asarray(init_eval, dtype=np.float64)
        warm_steps = self.config.warmup_episodes(self.env.horizon) * self.env.horizon
        rows = [
            {
                "chunk": -1,
                "iteration": -1,
                "env_steps": warm_steps,
                "seed": s,
                "eval_return": float(init_eval[j]),
            }
            for j, s in enumerate(self.seed_ids)
        ]
        return Chunk(state, rows)

    def chunk(self, state, c: int) -> Chunk:
        # One device and one seed group run the plain chunk program; otherwise the grouped/sharded one.
        state, metrics = run_chunk_on_devices(self.program, state, c, self.config.seed_group_size)
        metrics = jax.tree.map(np.asarray, metrics)
        rows = _eval_rows(metrics, c, self.config, self.env.horizon, self.seed_ids)
        fresh = self.nan_rows(state, c, rows)
        stop = None
        if fresh and self.config.nan_policy == "stop_run":
            stop = "non-finite values stopped the run (nan_policy='stop_run'): " + "; ".join(map(str, fresh))
        updates = (int(np.max(state.dynamics_updates)), int(np.max(state.policy_updates)))
        return Chunk(state, rows, stop, extra=f"updates: model {updates[0]}, policy {updates[1]}")

    def nan_rows(self, state, c: int, rows: list | None = None) -> list[NaNReport]:
        """Reports the seeds the NaN guard stopped since the last call (rows added to ``rows``)."""
        alive = np.asarray(state.alive)
        known = {r.seed for r in self.reports}
        fresh = []
        for j, s in enumerate(self.seed_ids):
            if not alive[j] and s not in known:
                report = NaNReport(s, int(state.nan_step[j]), NAN_QUANTITIES[int(state.nan_code[j])])
                self.reports.append(report)
                fresh.append(report)
                print(f"\nawmkit bpo: NaN guard stopped {report}", file=sys.stderr)
                if rows is not None:
                    rows.append({"chunk": c, "seed": s, "nan": dataclasses.asdict(report)})
        return fresh

    def result(self, state, final_return, wall: float) -> dict:
        return {
            "algo": "bpo",
            "env": self.env.name,
            "model": self.model_name,
            "horizon": self.env.horizon,
            "seeds": len(final_return),
            "env_steps": int(np.max(np.asarray(state.env_steps))),
            "final_return": [float(x) for x in final_return],
            **_updates(state),
            "wall_time_s": wall,
        }


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


def _builders(env: Env, model, policy, dtype):
    """The functions building one seed's world model and policy from its key, in the run's dtype."""
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
            return TanhGaussianPolicy(env.state_dim, env.action_dim, horizon, key=k)
        built = policy(k)
        if not isinstance(built, AbstractPolicy):
            raise ValueError(
                f"the `policy` factory must return an AbstractPolicy, got {type(built).__name__}"
            )
        return built

    return build_model_for, build_policy_for


def _model_name(model) -> str | None:
    if isinstance(model, str):
        return model
    if isinstance(model, SimulatorModel):
        return "simulator"
    return getattr(model, "name", None) or type(model).__name__


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

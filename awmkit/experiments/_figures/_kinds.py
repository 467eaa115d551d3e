"""The cell kind for the figures that are diagnostics rather than training runs (Figures 3c, 4b, 4c).

An ``offline_model`` cell trains its world model offline on random trajectories of its environment at
its horizon (Appendix D: ``transitions`` random transitions, ``steps`` Adam steps of batch
``batch_size`` and rate ``learning_rate``; nothing for ``model="simulator"``), then measures it:

- with ``horizons``, the mean norm of ``d s_H / d a_0`` over ``samples`` random action sequences at
  each of them ([`awmkit.diagnostics.horizon_growth`][]; the model evaluated on prefixes, which is exact
  for the double pendulum's fixed ``dt``) and the exponential and polynomial fits (Figure 4b);
- with ``grid_points > 0``, the return against the initial action for the simulator and the model
  ([`awmkit.diagnostics.return_landscape`][]; Figures 3c, 4c);
- with ``ascent_starts > 0``, gradient ascent on the initial action with the model's own gradient from
  that many starts, scored by the true return (``ascent_steps`` Adam steps of rate ``ascent_lr``);
- with ``lyapunov_starts > 0`` (simulator cells), the finite-time maximal Lyapunov exponent of the true
  dynamics ([`awmkit.diagnostics.lyapunov_exponent`][]).

``env_options`` are the environment's parameters (e.g. the double pendulum's ``initial_angle`` and
``reward`` readings); a simulator cell's ``horizons`` may exceed its ``horizon`` (no model to outgrow).

Figures 4b and 4c use the same cells, so one trained model serves both. Each cell writes an ordinary
run directory (``config.json``, ``metrics.jsonl``, ``checkpoints/``, ``result.json``); a trained model is
checkpointed before it is measured, so a resumed cell skips the training it already did. ``seeds``
models are trained, one per ``fold_in(key, seed)``.
"""

import dataclasses
import io
import json
import os
import pathlib
import time
from typing import Any

import equinox as eqx
import jax
import numpy as np

from ... import models
from ..._version import __version__
from ...diagnostics import fit_growth, horizon_growth, random_dataset, return_landscape, train_offline
from ...envs import make
from ...models import names
from ...runs import RunDir
from .._cell import Cell, register_cell_kind
from ._evidence import EVIDENCE_OPTIONS, check_evidence_options, extra_measurements

#: The options of an ``offline_model`` cell (``Cell.config``) and their defaults (Appendix D's budget).
OFFLINE_OPTIONS: dict[str, Any] = {
    "transitions": 100_000,
    "steps": 1_000,
    "batch_size": 64,
    "learning_rate": 1e-3,
    "horizons": [],
    "samples": 50,
    "grid_points": 201,
    **EVIDENCE_OPTIONS,
}


def _options(cell: Cell, defaults: dict) -> dict[str, Any]:
    unknown = sorted(set(cell.config) - set(defaults))
    if unknown:
        raise ValueError(
            f"cell {cell.name}: unknown {cell.kind} options {unknown}; valid options are: {', '.join(defaults)}"
        )
    return {**defaults, **dict(cell.config)}


def _write_json(path: pathlib.Path, data) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def _trained_model(cell: Cell, env, seed: int, opts: dict, run_dir: pathlib.Path, resume: bool):
    """The cell's model for ``seed``, trained offline (or read back from its checkpoint)."""
    key = jax.random.fold_in(jax.random.key(cell.key), seed)
    k_init, k_train = jax.random.split(key)
    model = models.make(cell.model, env, key=k_init)
    if cell.model == "simulator":
        return model, None
    path = RunDir(run_dir).artifact(f"model-seed{seed}.eqx")
    if resume and path.exists():
        return eqx.tree_deserialise_leaves(path, models.fit_normaliser(model, _shape_data(env))), None
    model, losses = train_offline(
        model,
        env,
        key=k_train,
        transitions=int(opts["transitions"]),
        steps=int(opts["steps"]),
        batch_size=int(opts["batch_size"]),
        learning_rate=float(opts["learning_rate"]),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    eqx.tree_serialise_leaves(buffer, model)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(buffer.getvalue())
    os.replace(tmp, path)  # atomic: a kill leaves no half-written model
    return model, float(np.asarray(losses)[-1])


def _shape_data(env):
    """A one-episode data set: only its shapes matter (the normaliser's structure)."""
    return random_dataset(env, env.horizon, key=jax.random.key(0))


def _start(cell: Cell, run_dir: pathlib.Path, resume: bool, opts: dict) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    if not resume and RunDir(run_dir).metrics.exists():
        raise ValueError(f"{run_dir} already holds a run; pass resume=True to continue it")
    _write_json(
        RunDir(run_dir).config,
        {
            "awmkit_version": __version__,
            "algo": cell.kind,
            "env": cell.env,
            "model": cell.model,
            "horizon": cell.horizon,
            "seeds": cell.seeds,
            "steps": int(opts["transitions"]),
            "key": cell.key,
            **opts,
        },
    )
    RunDir(run_dir).metrics.write_text("")  # rewritten whole: a resumed cell redoes its measurements


def _append(run_dir: pathlib.Path, row: dict) -> None:
    with open(RunDir(run_dir).metrics, "a") as f:
        f.write(json.dumps(row) + "\n")


def _finish(cell: Cell, run_dir: pathlib.Path, opts: dict, t0: float, extra: dict) -> dict:
    result = {
        "algo": cell.kind,
        "env": cell.env,
        "model": cell.model,
        "horizon": cell.horizon,
        "seeds": cell.seeds,
        "env_steps": 0 if cell.model == "simulator" else int(opts["transitions"]),
        "final_return": [],
        "wall_time_s": time.perf_counter() - t0,
        **extra,
    }
    _write_json(RunDir(run_dir).result, result)
    return result


def run_offline_model(cell: Cell, run_dir: pathlib.Path, resume: bool) -> dict:
    """The ``offline_model`` cell kind (Figures 3c, 4b, 4c)."""
    opts = _options(cell, OFFLINE_OPTIONS)
    horizons = sorted(int(h) for h in opts["horizons"])
    if horizons and max(horizons) > cell.horizon and cell.model != "simulator":
        raise ValueError(f"cell {cell.name}: horizons {horizons} exceed the training horizon {cell.horizon}")
    if not horizons and not opts["grid_points"]:
        raise ValueError(f"cell {cell.name}: nothing to measure (no `horizons` and `grid_points` = 0)")
    t0 = time.perf_counter()
    run_dir = pathlib.Path(run_dir)
    _start(cell, run_dir, resume, opts)
    env = make(cell.env, cell.horizon, **opts["env_options"])
    grid = np.linspace(-1.0, 1.0, int(opts["grid_points"]))
    growths, landscapes, simulator, norms, extras = [], [], None, [], []
    for seed in range(cell.seeds):
        model, loss = _trained_model(cell, env, seed, opts, run_dir, resume)
        row: dict[str, Any] = {"seed": seed, "env_steps": int(opts["transitions"]), "final_loss": loss}
        if horizons:

            def factory(h, model=model):
                e = make(cell.env, h, **opts["env_options"])
                return e if cell.model == "simulator" else (model, e)

            key = jax.random.fold_in(jax.random.key(cell.key + 1), seed)
            growth = horizon_growth(factory, horizons, key=key, samples=int(opts["samples"]))
            growths.append(growth.mean_norm)
            norms.append(growth.norms)
            row["growth"] = growth.as_dict()
        if grid.size:
            land = return_landscape({"simulator": env, "model": model}, env, grid=grid)
            simulator = np.asarray(land.returns["simulator"])
            landscapes.append(np.asarray(land.returns["model"]))
        extras.append(extra_measurements(cell, env, model, opts, seed))
        row.update(extras[-1])
        _append(run_dir, row)
    extra: dict[str, Any] = {}
    if horizons:
        mean_norm = np.mean(np.stack(growths), axis=0)
        exp_fit, poly_fit, verdict = fit_growth(horizons, mean_norm)
        extra.update(
            horizons=horizons,
            mean_norm=mean_norm.tolist(),
            seed_mean_norm=[m.tolist() for m in growths],
            norms=np.concatenate(norms, axis=1).tolist(),  # (horizons, seeds x samples), for the claims
            exponential=dataclasses.asdict(exp_fit),
            polynomial=dataclasses.asdict(poly_fit),
            verdict=verdict,
        )
    if grid.size:
        extra.update(
            grid=grid.tolist(), simulator=simulator.tolist(), landscapes=[x.tolist() for x in landscapes]
        )
    for name in ("lyapunov", "ascent"):  # one entry per seed
        if extras and name in extras[0]:
            extra[name] = [e[name] for e in extras]
    return _finish(cell, run_dir, opts, t0, extra)


def _validate_offline(cell: Cell) -> None:
    valid = names()
    if cell.model not in valid:
        raise ValueError(
            f"cell {cell.name!r}: unknown model {cell.model!r} for kind 'offline_model'; valid models are: "
            f"{', '.join(valid)}"
        )
    opts = _options(cell, OFFLINE_OPTIONS)
    for name in ("transitions", "steps", "batch_size", "samples"):
        value = opts[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"cell {cell.name!r}: option {name} must be a positive integer, got {value!r}")
    grid = opts["grid_points"]
    if isinstance(grid, bool) or not isinstance(grid, int) or grid < 0 or grid == 1:
        raise ValueError(f"cell {cell.name!r}: option grid_points must be 0 or an integer >= 2, got {grid!r}")
    hs = opts["horizons"]
    if not isinstance(hs, list) or any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in hs):
        raise ValueError(
            f"cell {cell.name!r}: option horizons must be a list of positive integers, got {hs!r}"
        )
    if hs and (len(set(hs)) < 3 or (max(hs) > cell.horizon and cell.model != "simulator")):
        raise ValueError(
            f"cell {cell.name!r}: option horizons needs at least three distinct values up to the cell's "
            f"horizon {cell.horizon}, got {hs!r}"
        )
    if not hs and not grid:
        raise ValueError(f"cell {cell.name!r}: nothing to measure: give horizons or grid_points")
    check_evidence_options(cell, opts)


register_cell_kind("offline_model", run_offline_model, validate=_validate_offline, overwrite=True)

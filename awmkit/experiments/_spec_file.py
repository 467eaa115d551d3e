"""Sweep specs in TOML: a grid of systems x horizons x methods expanded into cells.

```toml
seeds = 3                       # seeds vmapped inside each cell
key = 0                         # integer seed of every cell

[grid]
env = ["cancer_treatment", "harvest"]
horizon = [20, 50]

[config.bpo]                    # defaults of every method of this kind
steps = 3000

[[methods]]
kind = "bpo"
model = "awm-transformer"

[[methods]]
kind = "sac"
config = { steps = 3000 }
```

One cell per (env, horizon, method), named ``<env>-H<horizon>-<method>``.
"""

import os
import pathlib
import tomllib
from collections.abc import Mapping
from typing import Any

from ._cell import Cell

_TOP = ("grid", "methods", "seeds", "key", "config", "num_cpus", "num_gpus")
_GRID = ("env", "horizon")
_METHOD = ("kind", "model", "method", "config", "seeds", "key", "num_cpus", "num_gpus")


def _as_list(value, what: str, where: str) -> list:
    values = value if isinstance(value, list) else [value]
    if not values:
        raise ValueError(f"{where}: {what} is empty; give at least one value")
    return values


def _check_keys(table: Mapping, valid: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(table) - set(valid))
    if unknown:
        raise ValueError(
            f"{where}: unknown key{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
            f"valid keys are: {', '.join(valid)}"
        )


def expand_sweep_spec(spec: Mapping[str, Any], *, source: str = "sweep spec") -> list[Cell]:
    """The cells of a sweep spec (the parsed TOML of [`awmkit.experiments.load_sweep_spec`][]): one
    per environment x horizon x method, named ``<env>-H<horizon>-<method>``.

    Keys: ``[grid]`` with ``env`` and ``horizon`` (a value or a list each); ``[[methods]]``, each with
    ``kind`` (``"bpo"``, ``"sac"``, ``"odt"`` or a registered kind), ``model`` (BPO), ``method`` (the
    label; default the model for BPO, else the kind), ``config`` (field overrides) and optionally
    ``seeds`` / ``key`` / ``num_cpus`` / ``num_gpus``; at the top, the defaults ``seeds`` (1), ``key``
    (0), ``num_cpus`` (1), ``num_gpus`` (0) and ``[config.<kind>]`` tables of config defaults per kind.
    Every cell is checked as it is built, so a bad value is a one-line ``ValueError`` naming where it
    is before anything runs.
    """
    if not isinstance(spec, Mapping):
        raise ValueError(f"{source}: a sweep spec must be a table, got {type(spec).__name__}")
    _check_keys(spec, _TOP, source)
    grid = spec.get("grid")
    if not isinstance(grid, Mapping):
        raise ValueError(f"{source}: missing [grid] table with env = [...] and horizon = [...]")
    _check_keys(grid, _GRID, f"{source} [grid]")
    for key in _GRID:
        if key not in grid:
            raise ValueError(f"{source} [grid]: missing {key} = [...]")
    envs = _as_list(grid["env"], "env", f"{source} [grid]")
    horizons = _as_list(grid["horizon"], "horizon", f"{source} [grid]")
    methods = spec.get("methods")
    if not isinstance(methods, list) or not methods:
        raise ValueError(
            f'{source}: missing [[methods]] entries (each with kind = "bpo" | "sac" | "odt" ...)'
        )
    defaults = spec.get("config", {})
    if not isinstance(defaults, Mapping) or not all(isinstance(v, Mapping) for v in defaults.values()):
        raise ValueError(f"{source}: [config] must hold one table per kind, e.g. [config.bpo] steps = 3000")
    labels: dict[str, int] = {}
    cells = []
    for i, method in enumerate(methods, start=1):
        where = f"{source} [[methods]] entry {i}"
        if not isinstance(method, Mapping):
            raise ValueError(f"{where}: must be a table")
        _check_keys(method, _METHOD, where)
        if "kind" not in method:
            raise ValueError(f'{where}: missing kind = "bpo" | "sac" | "odt" (or a registered kind)')
        kind, model = method["kind"], method.get("model")
        label = method.get("method") or (model if kind == "bpo" and model else kind)
        if not isinstance(label, str):
            raise ValueError(f"{where}: method must be a string, got {label!r}")
        if label in labels:
            raise ValueError(
                f'{where}: its label {label!r} repeats entry {labels[label]}\'s; set method = "..." to tell them apart'
            )
        labels[label] = i
        if not isinstance(method.get("config", {}), Mapping):
            raise ValueError(f"{where}: config must be a table of field overrides")
        config = {**defaults.get(kind, {}), **method.get("config", {})}
        for env in envs:
            for horizon in horizons:
                try:
                    cells.append(
                        Cell(
                            name=f"{env}-H{horizon}-{label}",
                            kind=kind,
                            env=env,
                            horizon=horizon,
                            seeds=method.get("seeds", spec.get("seeds", 1)),
                            model=model,
                            method=label,
                            key=method.get("key", spec.get("key", 0)),
                            config=config,
                            num_cpus=method.get("num_cpus", spec.get("num_cpus", 1.0)),
                            num_gpus=method.get("num_gpus", spec.get("num_gpus", 0.0)),
                        )
                    )
                except ValueError as e:
                    raise ValueError(f"{where}: {e}") from None
    return cells


def load_sweep_spec(path: str | os.PathLike) -> list[Cell]:
    """The cells of the sweep spec in the TOML file `path` (see
    [`awmkit.experiments.expand_sweep_spec`][] for its keys)."""
    path = pathlib.Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ValueError(f"cannot read sweep spec {path}: {e.strerror}") from None
    try:
        spec = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{path} is not valid TOML: {e}") from None
    return expand_sweep_spec(spec, source=str(path))

"""One cell of an experiment grid: a (system, horizon, method) run with its seeds vmapped inside.

A cell is pure data (JSON round-trip, picklable) so that a sweep can record it in ``sweep.json`` and ship
it to a Ray worker; what it *does* is looked up by its ``kind`` in a registry of runner functions. Every
runner writes an ordinary run directory (``config.json``, ``metrics.jsonl``, ``checkpoints/``,
``result.json``) and resumes from its own checkpoint, so ``awmkit results`` reads a sweep and a killed
cell continues where it stopped.
"""

import dataclasses
import inspect
import json
import math
import os
import pathlib
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..runs import AbstractLogger, RunDir, logger_from_name, logger_names

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.=+-]*$")


@dataclasses.dataclass(frozen=True)
class Cell:
    """One run of a sweep: a method on one system at one horizon, ``seeds`` seeds vmapped together.

    **Arguments:**

    - `name`: unique, path-safe id within a sweep (letters, digits and ``_ . = + -``), e.g.
      ``"cancer_treatment-H100-awm-transformer"``; the cell's run directory is ``cells/<name>/``.
    - `kind`: what runs the cell: ``"bpo"`` ([`awmkit.bpo.train`][]), ``"sac"``
      ([`awmkit.baselines.train_sac`][]), ``"odt"`` ([`awmkit.baselines.train_odt`][]), or a kind added
      with [`awmkit.experiments.register_cell_kind`][].
    - `env`: a registered environment name ([`awmkit.envs.registered`][]).
    - `horizon`: the episode length ``H``.
    - `seeds`: seeds trained together (indices ``0..seeds-1``).
    - `model`: the world model of a ``"bpo"`` cell (one of [`awmkit.bpo.MODEL_NAMES`][]); ``None`` for
      the other built-in kinds.
    - `method`: the label reports use; defaults to `model` for ``"bpo"`` cells and to `kind` otherwise.
    - `key`: integer seed of the run.
    - `config`: overrides of the kind's config fields ([`awmkit.bpo.BPOConfig`][],
      [`awmkit.baselines.SACConfig`][], [`awmkit.baselines.ODTConfig`][]) or a registered kind's own
      options; JSON values only.
    - `num_cpus`, `num_gpus`: what a Ray task of this cell requests (``num_gpus`` may be fractional, so
      several small cells share one device); ignored by the ``local`` backend.

    Construction checks the cell completely (environment, kind, model, every config field and value,
    the budget against the horizon) and raises a one-line ``ValueError`` naming the field and the valid
    choices, so a sweep refuses a bad grid before any cell runs.
    """

    name: str
    kind: str
    env: str
    horizon: int
    seeds: int
    model: str | None = None
    method: str | None = None
    key: int = 0
    config: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    num_cpus: float | int = 1.0
    num_gpus: float | int = 0.0

    def __post_init__(self):
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ValueError(
                "Cell.name must be a path-safe id (letters, digits and _ . = + -, not starting with . "
                f"or -), got {self.name!r}"
            )
        where = f"cell {self.name!r}"
        if not isinstance(self.kind, str) or self.kind not in _KINDS:
            raise ValueError(f"{where}: unknown kind {self.kind!r}; valid kinds are: {', '.join(_KINDS)}")
        from ..envs import registered
        from ..envs._registry import check_name

        if not isinstance(self.env, str) or ":" not in self.env:
            if self.env not in registered():
                raise ValueError(
                    f"{where}: unknown env {self.env!r}; valid names are: {', '.join(registered())}"
                )
        else:  # a user's control problem by import path, "package.module:Class"
            try:
                check_name(self.env)
            except ValueError as e:
                raise ValueError(f"{where}: {e}") from None
        for field in ("horizon", "seeds"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{where}: {field} must be a positive integer, got {value!r}")
        if isinstance(self.key, bool) or not isinstance(self.key, int):
            raise ValueError(f"{where}: key must be an integer, got {self.key!r}")
        for field, what in (("num_cpus", "positive"), ("num_gpus", "non-negative")):
            value = getattr(self, field)
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            if not ok or value < 0 or (field == "num_cpus" and value == 0):
                raise ValueError(f"{where}: {field} must be a {what} number, got {value!r}")
            object.__setattr__(self, field, float(value))
        if self.method is not None and not isinstance(self.method, str):
            raise ValueError(f"{where}: method must be a string or None, got {self.method!r}")
        if not isinstance(self.config, Mapping) or not all(isinstance(k, str) for k in self.config):
            raise ValueError(f"{where}: config must map field names to values, got {self.config!r}")
        config = dict(self.config)
        try:
            json.dumps(config, allow_nan=False)
        except (TypeError, ValueError):
            raise ValueError(f"{where}: config must hold JSON values only, got {config!r}") from None
        object.__setattr__(self, "config", config)
        if self.method is None:
            object.__setattr__(self, "method", self.model if self.kind == "bpo" else self.kind)
        validate = _KINDS[self.kind][1]
        if validate is not None:
            validate(self)

    def __hash__(self) -> int:  # the config dict is not hashable; its JSON is
        return hash(json.dumps(self.to_dict(), sort_keys=True))

    def to_dict(self) -> dict[str, Any]:
        """The cell as a JSON-serialisable dict (``Cell.from_dict`` inverts it)."""
        out = dataclasses.asdict(self)
        out["config"] = dict(self.config)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Cell":
        """A cell from [`awmkit.experiments.Cell.to_dict`][]'s dict; unknown keys are refused."""
        names = [f.name for f in dataclasses.fields(cls)]
        if not isinstance(data, Mapping):
            raise ValueError(f"a cell must be a mapping, got {type(data).__name__}")
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ValueError(f"unknown Cell fields {unknown}; valid fields are: {', '.join(names)}")
        return cls(**data)


# --- the registry of kinds -------------------------------------------------------------------------

CellRunner = Callable[..., dict]
#: A logger of a sweep's cells: a name (``--logger NAME``) or a factory called once per cell.
LoggerSpec = str | Callable[[], AbstractLogger]
_KINDS: dict[str, tuple[CellRunner, Callable[[Cell], None] | None]] = {}


def register_cell_kind(
    kind: str,
    fn: Callable[..., dict],
    *,
    validate: Callable[[Cell], None] | None = None,
    overwrite: bool = False,
) -> None:
    """Adds a kind of cell: ``fn(cell, run_dir, resume)`` runs the cell into the run directory
    ``run_dir`` (``config.json``, ``metrics.jsonl``, ``checkpoints/``, ``result.json``) and returns the
    ``result.json`` dict.

    `fn` must continue from its own checkpoint when `resume` is true (that is how a cell whose worker
    died is retried) and be importable by a fresh worker process (define it at module level; the Ray
    backend ships it to the worker with the cell). To take the sweep's loggers (``run_sweep(...,
    loggers=...)``, ``--logger``), `fn` accepts a keyword ``loggers``: a list of fresh
    [`awmkit.runs.AbstractLogger`][]s to hand to its trainer. `validate(cell)`, when given, is called
    when a [`awmkit.experiments.Cell`][] of this kind is built and raises a one-line ``ValueError`` for
    a bad cell (unknown config option, missing model...), so a grid is checked before anything runs.
    """
    if not isinstance(kind, str) or not _NAME.match(kind):
        raise ValueError(f"`kind` must be a non-empty identifier, got {kind!r}")
    if kind in _KINDS and not overwrite:
        raise ValueError(f"a cell kind named {kind!r} is already registered; pass overwrite=True")
    if not callable(fn):
        raise ValueError(f"`fn` must be callable (cell, run_dir, resume) -> dict, got {type(fn).__name__}")
    if validate is not None and not callable(validate):
        raise ValueError(f"`validate` must be callable (cell) -> None, got {type(validate).__name__}")
    _KINDS[kind] = (fn, validate)


def cell_kinds() -> tuple[str, ...]:
    """The registered cell kinds, built-in ones first."""
    return tuple(_KINDS)


def kind_runner(kind: str) -> CellRunner:
    if kind not in _KINDS:
        raise ValueError(f"unknown kind {kind!r}; valid kinds are: {', '.join(_KINDS)}")
    return _KINDS[kind][0]


def check_logger_specs(loggers: Sequence[LoggerSpec], kinds: Sequence[str] = ()) -> tuple[LoggerSpec, ...]:
    """`loggers` as a tuple, refused in one line unless each is a registered logger name or a factory and
    every kind in `kinds` takes loggers."""
    if isinstance(loggers, (str, bytes)) or not isinstance(loggers, Sequence):
        raise ValueError(f"`loggers` must be a sequence of logger names or factories, got {loggers!r}")
    for spec in loggers:
        if isinstance(spec, str):
            if spec not in logger_names():
                raise ValueError(f"unknown logger {spec!r}; valid names are: {', '.join(logger_names())}")
            logger_from_name(spec)  # a missing optional extra is refused here, not in every cell
        elif isinstance(spec, AbstractLogger) or not callable(spec):
            raise ValueError(
                f"`loggers` holds logger names or factories () -> AbstractLogger (one logger per cell), "
                f"got {spec!r}"
            )
    if loggers:
        for kind in dict.fromkeys(kinds):
            if not _takes_loggers(kind_runner(kind)):
                raise ValueError(
                    f"cells of kind {kind!r} take no loggers: its runner has no `loggers` keyword "
                    "(see register_cell_kind)"
                )
    return tuple(loggers)


def _takes_loggers(fn: Callable) -> bool:
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "loggers" or p.kind is p.VAR_KEYWORD for p in parameters)


def call_runner(
    runner: CellRunner, cell: Cell, run_dir: pathlib.Path, resume: bool, loggers: Sequence[LoggerSpec]
) -> dict:
    """``runner(cell, run_dir, resume)``, with a fresh instance of each logger when there are any."""
    if not loggers:
        return runner(cell, run_dir, resume)
    built = [logger_from_name(s) if isinstance(s, str) else s() for s in loggers]
    return runner(cell, run_dir, resume, loggers=built)


def run_cell(
    cell: Cell, run_dir: str | os.PathLike, *, resume: bool, loggers: Sequence[LoggerSpec] = ()
) -> dict:
    """Runs one cell into the run directory `run_dir` and returns its ``result.json`` dict.

    With `resume`, a cell interrupted earlier continues from its last checkpoint and ends exactly as
    an uninterrupted one (a run directory left without a checkpoint, killed before its first one, is
    started over); a finished cell returns its result. Without it, `run_dir` must not hold
    a run. `loggers`: names of registered loggers (``"tensorboard"``, ``"wandb"``) or factories
    ``() -> AbstractLogger``; the cell's run gets one fresh logger of each. Exceptions of the run (a
    bad config, [`awmkit.runs.NonFiniteError`][]...) propagate.
    """
    if not isinstance(cell, Cell):
        raise ValueError(f"`cell` must be an awmkit.experiments.Cell, got {type(cell).__name__}")
    loggers = check_logger_specs(loggers, [cell.kind])
    return call_runner(kind_runner(cell.kind), cell, pathlib.Path(run_dir), bool(resume), loggers)


def read_result(run_dir: str | os.PathLike) -> dict | None:
    """The ``result.json`` of a run directory when it is complete (a JSON object with the final
    returns), else ``None``."""
    path = RunDir(run_dir).result
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and "final_return" in data else None


# --- the built-in kinds ----------------------------------------------------------------------------


def _config(cls: type, cell: Cell, fields: Mapping[str, Any] | None = None, also: Sequence[str] = ()):
    """``cls(**fields)`` (default: the cell's config), refusing unknown fields by name with the valid ones
    (the field names of ``cls`` at this version of awmkit, whatever they are, and the kind's other
    options, `also`)."""
    fields = cell.config if fields is None else fields
    names = [f.name for f in dataclasses.fields(cls)] + list(also)
    unknown = sorted(set(fields) - set(names))
    if unknown:
        raise ValueError(
            f"cell {cell.name!r}: unknown config field{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(map(repr, unknown))} for kind {cell.kind!r} ({cls.__name__}); valid fields are: "
            f"{', '.join(names)}"
        )
    try:
        return cls(**fields)
    except (ValueError, TypeError) as e:
        raise ValueError(f"cell {cell.name!r}: {e}") from None


#: A ``bpo`` cell's option that is not a [`awmkit.bpo.BPOConfig`][] field: the environment's parameters,
#: passed to [`awmkit.envs.make`][] (e.g. ``{"initial_angle": "authors", "reward": "authors"}`` for the
#: authors' double pendulum); absent means the environment's defaults.
ENV_OPTIONS = "env_options"


def check_env_options(cell: Cell, value) -> dict:
    """``value`` as a cell's ``env_options`` (parameter -> value of the cell's environment), or a one-line
    ``ValueError`` naming the cell: not a mapping, or a parameter or value the environment refuses (the
    problem is built alone: no goal integrated, nothing compiled)."""
    from ..envs._registry import _build

    where = f"cell {cell.name!r}"
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise ValueError(f"{where}: option env_options must map parameter names to values, got {value!r}")
    try:
        _build(cell.env, dict(value))
    except (TypeError, ValueError) as e:
        raise ValueError(f"{where}: option env_options does not fit {cell.env!r}: {e}") from None
    return dict(value)


def env_options(cell: Cell) -> dict:
    """The environment parameters of a ``bpo`` cell (its ``env_options``; ``{}`` when it has none)."""
    return dict(cell.config.get(ENV_OPTIONS, {})) if cell.kind == "bpo" else {}


def _bpo_config(cell: Cell):
    from ..bpo import BPOConfig

    fields = {k: v for k, v in cell.config.items() if k != ENV_OPTIONS}
    return _config(BPOConfig, cell, fields, also=(ENV_OPTIONS,))


def _validate_bpo(cell: Cell) -> None:
    from ..bpo import MODEL_NAMES

    if cell.model not in MODEL_NAMES:
        raise ValueError(
            f"cell {cell.name!r}: unknown model {cell.model!r} for kind 'bpo'; valid models are: "
            f"{', '.join(MODEL_NAMES)}"
        )
    if ENV_OPTIONS in cell.config:
        check_env_options(cell, cell.config[ENV_OPTIONS])
    config = _bpo_config(cell)
    try:
        config.check_horizon(cell.horizon)
    except ValueError as e:
        raise ValueError(f"cell {cell.name!r}: {e}") from None


def _validate_baseline(cls_name: str) -> Callable[[Cell], None]:
    def validate(cell: Cell) -> None:
        from .. import baselines

        if cell.model is not None:
            raise ValueError(
                f"cell {cell.name!r}: model must be None for kind {cell.kind!r} (only BPO learns through a "
                f"world model), got {cell.model!r}"
            )
        config = _config(getattr(baselines, cls_name), cell)
        if cell.kind == "odt":
            _check_odt(cell, config)

    return validate


def _check_odt(cell: Cell, config) -> None:
    from ..evaluation import MissingReferenceError, reference

    try:
        config.check_horizon(cell.horizon)
    except ValueError as e:
        raise ValueError(f"cell {cell.name!r}: {e}") from None
    if config.target_return is None:
        try:
            reference(cell.env, cell.horizon)
        except MissingReferenceError:
            raise ValueError(
                f"cell {cell.name!r}: the Online DT needs the optimal return of {cell.env} at H = "
                f"{cell.horizon} as its return-to-go: set config target_return, or generate the reference "
                f"with `awmkit references --env {cell.env} --horizon {cell.horizon} --write`"
            ) from None


def _run_trainer(
    cell: Cell, run_dir: pathlib.Path, resume: bool, kind: str, loggers: Sequence[AbstractLogger] = ()
) -> dict:
    """A built-in kind: its trainer (one signature for all three) into ``run_dir``. A directory left
    without a checkpoint (killed during the warm-up) starts over: the host loop drops its warm-up rows."""
    from .. import baselines, bpo
    from ..envs import make
    from ..evaluation import resolve_odt_config

    cls, trainer = {
        "bpo": (bpo.BPOConfig, bpo.train),
        "sac": (baselines.SACConfig, baselines.train_sac),
        "odt": (baselines.ODTConfig, baselines.train_odt),
    }[kind]
    env = make(cell.env, horizon=cell.horizon, **env_options(cell))
    config = _bpo_config(cell) if kind == "bpo" else _config(cls, cell)
    if kind == "odt":
        config = resolve_odt_config(config, env)
    out = RunDir(run_dir)
    trainer(
        env,
        config,
        model=cell.model,
        seeds=cell.seeds,
        key=cell.key,
        out=out.root,
        resume=resume,
        loggers=loggers,
    )
    return out.read_json(out.result)


def run_packed_cells(
    cells: Sequence[Cell], run_dirs: Sequence[pathlib.Path], *, resume: bool = True
) -> list[dict]:
    """Runs BPO cells that can share one program (`awmkit.experiments._estimate.pack_cells`: one system,
    model, horizon, seeds and key, differing only in ``awmkit.bpo.PER_RUN_FIELDS``) as one packed
    program ([`awmkit.bpo.train_packed`][]), each into its own run directory, which ends exactly as
    `run_cell` would leave it; returns their ``result.json`` dicts."""
    from .. import bpo
    from ..envs import make

    first = cells[0]
    env = make(first.env, horizon=first.horizon, **env_options(first))
    configs = [_bpo_config(c) for c in cells]
    bpo.train_packed(
        env, configs, model=first.model, seeds=first.seeds, key=first.key, outs=list(run_dirs), resume=resume
    )
    return [RunDir(d).read_json(RunDir(d).result) for d in run_dirs]


def _run_bpo(
    cell: Cell, run_dir: pathlib.Path, resume: bool, *, loggers: Sequence[AbstractLogger] = ()
) -> dict:
    return _run_trainer(cell, run_dir, resume, "bpo", loggers)


def _run_sac(
    cell: Cell, run_dir: pathlib.Path, resume: bool, *, loggers: Sequence[AbstractLogger] = ()
) -> dict:
    return _run_trainer(cell, run_dir, resume, "sac", loggers)


def _run_odt(
    cell: Cell, run_dir: pathlib.Path, resume: bool, *, loggers: Sequence[AbstractLogger] = ()
) -> dict:
    return _run_trainer(cell, run_dir, resume, "odt", loggers)


register_cell_kind("bpo", _run_bpo, validate=_validate_bpo)
register_cell_kind("sac", _run_sac, validate=_validate_baseline("SACConfig"))
register_cell_kind("odt", _run_odt, validate=_validate_baseline("ODTConfig"))

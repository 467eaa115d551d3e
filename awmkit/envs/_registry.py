"""Names for control problems: `make`, `register`, `registered`.

Besides the registered names, ``make`` (and the command line's ``--env``) accepts an import path
``"package.module:Class"``: the class (or any callable returning an
[`awmkit.envs.AbstractControlProblem`][]) is imported from an importable module, so a user's own system
runs from the command line without registering it first.
"""

import dataclasses
import importlib
from collections.abc import Callable

import numpy as np

from ._double_pendulum import DoublePendulum
from ._env import Env
from ._integrate import Integrator
from ._myriad import MYRIAD_SYSTEMS
from ._one_bounce import OneBounce
from ._problem import AbstractControlProblem

_REGISTRY: dict[str, Callable[..., AbstractControlProblem]] = {
    **MYRIAD_SYSTEMS,
    "double_pendulum": DoublePendulum,
    "one_bounce": OneBounce,
}


def registered() -> tuple[str, ...]:
    """The names accepted by [`awmkit.envs.make`][], in registration order."""
    return tuple(_REGISTRY)


def register(name: str, factory: Callable[..., AbstractControlProblem], *, overwrite: bool = False) -> None:
    """Registers a user control problem under ``name`` so that ``make(name, ...)`` (and the command
    line) can build it. ``factory(**kwargs)`` must return an [`awmkit.envs.AbstractControlProblem`][]."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"`name` must be a non-empty string, got {name!r}")
    if name in _REGISTRY and not overwrite:
        raise ValueError(f"an environment named {name!r} is already registered; pass overwrite=True")
    if not callable(factory):
        raise TypeError(f"`factory` must be callable, got {type(factory).__name__}")
    _REGISTRY[name] = factory


def _import_factory(name: str) -> Callable[..., AbstractControlProblem]:
    """The factory named by ``"package.module:Attr"`` (``Attr`` may be dotted), with one-line errors."""
    module_name, _, attr = name.partition(":")
    if not module_name or not attr:
        raise ValueError(f"environment {name!r}: an import path must read 'package.module:Class'")
    try:
        obj = importlib.import_module(module_name)
    except ImportError as e:
        raise ValueError(
            f"environment {name!r}: cannot import module {module_name!r} ({e}); is it on PYTHONPATH?"
        ) from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"environment {name!r}: module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if isinstance(obj, type):
        if not issubclass(obj, AbstractControlProblem):
            raise ValueError(
                f"environment {name!r}: {obj.__name__} is not a subclass of awmkit.envs.AbstractControlProblem"
            )
    elif not callable(obj):
        raise ValueError(
            f"environment {name!r}: expected an AbstractControlProblem subclass or a factory returning one, "
            f"got a {type(obj).__name__}"
        )
    return obj


def _factory(name: str) -> Callable[..., AbstractControlProblem]:
    if not isinstance(name, str):
        raise ValueError(f"environment name must be a string, got {type(name).__name__}")
    if name in _REGISTRY:
        return _REGISTRY[name]
    if ":" in name:
        return _import_factory(name)
    raise ValueError(
        f"unknown environment {name!r}; valid names are: {', '.join(_REGISTRY)} (or an import path "
        "'package.module:Class')"
    )


def check_name(name: str) -> str:
    """Returns ``name`` if it is registered or an importable ``"package.module:Class"`` path, else raises a
    one-line ``ValueError`` (listing the valid names, or saying what of the import path is missing)."""
    _factory(name)
    return name


def _build(name: str, problem_kwargs: dict) -> AbstractControlProblem:
    factory = _factory(name)
    if problem_kwargs and isinstance(factory, type) and dataclasses.is_dataclass(factory):
        valid = [f.name for f in dataclasses.fields(factory) if f.init]
        unknown = sorted(set(problem_kwargs) - set(valid))
        if unknown:
            raise ValueError(
                f"unknown parameter(s) {', '.join(map(repr, unknown))} for {name!r}; its parameters "
                f"are: {', '.join(valid)}"
            )
    if name in _REGISTRY or isinstance(factory, type):
        problem = factory(**problem_kwargs)
    else:  # a function named by an import path: say which, if it is not a factory at all
        try:
            problem = factory(**problem_kwargs)
        except TypeError as e:
            raise ValueError(
                f"environment {name!r}: calling it failed ({e}); expected an AbstractControlProblem "
                "subclass or a factory returning one"
            ) from None
    if not isinstance(problem, AbstractControlProblem):
        raise ValueError(
            f"environment {name!r}: the factory returned a {type(problem).__name__}, not an "
            "awmkit.envs.AbstractControlProblem"
        )
    return problem


def make(
    name: str,
    horizon: int | np.integer | None = None,
    *,
    integrator: Integrator | None = None,
    initial_state_fn: Callable | None = None,
    **problem_kwargs,
) -> Env:
    """Builds the registered control problem ``name`` discretised into ``horizon`` steps.

    **Arguments:**

    - `name`: one of [`awmkit.envs.registered`][]``()``, or an import path ``"package.module:Class"`` naming
      an [`awmkit.envs.AbstractControlProblem`][] subclass (or a callable returning one) in an importable
      module, e.g. ``make("my_systems:Tank", 50)``.
    - `horizon`: the number of control intervals ``H`` (positive integer; required). Myriad systems keep their
      duration ``T`` and use ``dt = T / H``; the double pendulum uses a fixed ``dt = 0.05``.
    - `integrator`: an [`awmkit.envs.Integrator`][] (default: the problem's, explicit Euler with one
      step per interval for the Myriad systems), e.g.
      ``Integrator(solver=diffrax.Tsit5(), substeps=4)``.
    - `initial_state_fn`: optional ``key -> state`` initial-state distribution.
    - `problem_kwargs`: overrides of the problem's parameters, e.g. ``make("harvest", 100, m=0.3)``.
    """
    check_name(name)  # first: an unknown name is the error to report, not a missing horizon
    if horizon is None:
        raise TypeError(
            f"make({name!r}) needs `horizon`, the number of control intervals H, e.g. make({name!r}, 100)"
        )
    problem = _build(name, problem_kwargs)
    return Env(problem, horizon, integrator=integrator, initial_state_fn=initial_state_fn, name=name)


def describe(name: str) -> dict:
    """A JSON-serialisable summary of a registered problem (used by ``awmkit envs``)."""
    problem = _build(name, {})
    try:
        duration = float(problem.T)  # pyright: ignore
        dt_rule = "T / H"
    except AttributeError:
        duration = None
        dt_rule = f"{problem.step_size(1)} (fixed)"
    return {
        "name": name,
        "class": type(problem).__name__,
        "state_dim": problem.state_dim,
        "action_dim": problem.action_dim,
        "state_names": list(problem.state_names),
        "action_names": list(problem.action_names),
        "control_low": list(problem.control_low),
        "control_high": list(problem.control_high),
        "state_low": None if problem.state_low is None else list(problem.state_low),
        "state_high": None if problem.state_high is None else list(problem.state_high),
        "x0": list(problem.x0),
        "T": duration,
        "dt": dt_rule,
        "reward": problem.reward_kind,
        "smoothness": problem.smoothness,
    }

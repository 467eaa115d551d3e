"""Names for control problems: `make`, `register`, `registered`."""

import dataclasses
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


def check_name(name: str) -> str:
    """Returns ``name`` if it is registered, else raises a ``ValueError`` listing the valid names."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown environment {name!r}; valid names are: {', '.join(_REGISTRY)}")
    return name


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

    - `name`: one of [`awmkit.envs.registered`][]``()``.
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
    factory = _REGISTRY[name]
    if problem_kwargs and isinstance(factory, type) and dataclasses.is_dataclass(factory):
        valid = [f.name for f in dataclasses.fields(factory) if f.init]
        unknown = sorted(set(problem_kwargs) - set(valid))
        if unknown:
            raise ValueError(
                f"unknown parameter(s) {', '.join(map(repr, unknown))} for {name!r}; its parameters "
                f"are: {', '.join(valid)}"
            )
    problem = factory(**problem_kwargs)
    return Env(problem, horizon, integrator=integrator, initial_state_fn=initial_state_fn, name=name)


def describe(name: str) -> dict:
    """A JSON-serialisable summary of a registered problem (used by ``awmkit envs``)."""
    check_name(name)
    problem = _REGISTRY[name]()
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

"""Optimal and random-policy reference returns per system and horizon, shipped as package data."""

import dataclasses
import datetime
import importlib.resources
import json
import math
import pathlib
from typing import Any

import jax

from .._version import __version__
from ..baselines._trajopt import TrajOptSettings, describe_integrator, trajopt
from ..envs import Integrator, make
from ._random import RANDOM_NOISE, estimate_random_return, random_reference_key

#: The paper's horizons, at which references are shipped for every Myriad system.
STANDARD_HORIZONS: tuple[int, ...] = (20, 50, 100, 200, 500)
#: Longer horizons, beyond the paper's, also shipped for every Myriad system.
LONG_HORIZONS: tuple[int, ...] = (1000, 2000)
#: Every horizon with shipped references: ``STANDARD_HORIZONS + LONG_HORIZONS``.
SHIPPED_HORIZONS: tuple[int, ...] = STANDARD_HORIZONS + LONG_HORIZONS
#: The systems with shipped references.
MYRIAD_ENVS: tuple[str, ...] = (
    "cancer_treatment",
    "bioreactor",
    "mould_fungicide",
    "bacteria",
    "harvest",
    "invasive_plant",
    "hiv_treatment",
    "timber_harvest",
)
_FORMAT = 1


class MissingReferenceError(KeyError, ValueError):
    """No reference is available for an (environment, horizon) pair; the message says how to generate
    one. A ``KeyError`` (a failed look-up) and a ``ValueError`` (bad input), so either can catch it."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


@dataclasses.dataclass(frozen=True)
class Reference:
    """The returns that map onto 0 and 1 in normalised returns, for one system and horizon.

    **Fields:**

    - `env`, `horizon`: the system and the number of steps ``H``.
    - `optimal_return`: the best open-loop return found by [`awmkit.baselines.trajopt`][] on the true
      dynamics (normalised return 1).
    - `random_return`: the mean return of `random_episodes` episodes of uniformly random actions
      (normalised return 0), drawn in batches of 1 000: batch ``i`` holds the episodes of
      [`awmkit.envs.random_return`][]``(env, jax.random.fold_in(jax.random.key(random_key), i), 1000)``.
    - `random_episodes`, `random_key`: how the random return was estimated. The key is derived from the
      system and horizon, ``zlib.crc32(f"{env}/H={horizon}/key={key}".encode()) & 0x7FFFFFFF`` with the
      seed ``key`` = ``solver["key"]``, so no two entries share random actions; the number of episodes
      is chosen so that `random_se` is below 0.2% of ``optimal_return - random_return``.
    - `random_se`: the standard error of `random_return` (sample standard deviation over
      ``sqrt(random_episodes)``); ``None`` where it was not recorded.
    - `integrator`: the integrator both were computed with (the environment's default).
    - `solver`: the trajectory-optimisation settings ([`awmkit.baselines.TrajOptSettings`][] as a dict).
    - `dtype`: the floating-point precision of the computation.
    - `awmkit_version`, `date`: provenance.
    - `extra`: diagnostics of the solve (wall time, convergence, best return per restart, ...).
    """

    env: str
    horizon: int
    optimal_return: float
    random_return: float
    random_episodes: int
    random_key: int
    integrator: str
    solver: dict[str, Any]
    dtype: str
    awmkit_version: str
    date: str
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)
    random_se: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Reference":
        names = [f.name for f in dataclasses.fields(cls)]
        missing = [n for n in names if n not in data and n not in ("extra", "random_se")]
        if missing:
            raise ValueError(f"a reference entry lacks the keys {missing}: {data!r}")
        return cls(**{n: data[n] for n in names if n in data})


def _generate_hint(env_name: str, horizon: int) -> str:
    return (
        f"generate it with `awmkit references --env {env_name} --horizon {horizon} --write` (writes the "
        f"package's references.json) or `... --output FILE` and pass `references=FILE`, or in Python with "
        f"awmkit.evaluation.compute_reference({env_name!r}, {horizon})"
    )


def default_references_path() -> pathlib.Path:
    """The path of the shipped ``awmkit/data/references.json``."""
    return pathlib.Path(str(importlib.resources.files("awmkit.data").joinpath("references.json")))


def load_references(path: str | pathlib.Path | None = None) -> dict[tuple[str, int], Reference]:
    """All references in a references file (default: the shipped one), keyed by ``(env, horizon)``.

    **Arguments:**

    - `path`: a JSON file written by ``awmkit references --output`` or [`write_references`][awmkit.evaluation.write_references];
      ``None`` for the shipped file.
    """
    path = default_references_path() if path is None else pathlib.Path(path)
    if not path.is_file():
        if path == default_references_path():
            return {}
        raise FileNotFoundError(f"references file {str(path)!r} does not exist")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"references file {str(path)!r} is not valid JSON: {e}") from None
    if not isinstance(data, dict) or not isinstance(data.get("references"), list):
        raise ValueError(f"references file {str(path)!r} must hold an object with a 'references' list")
    out = {}
    for entry in data["references"]:
        ref = Reference.from_dict(entry)
        out[(ref.env, int(ref.horizon))] = ref
    return out


def reference(env_name: str, horizon: int, *, references: str | pathlib.Path | None = None) -> Reference:
    """The optimal and random-policy reference returns of ``env_name`` at ``horizon`` steps.

    **Arguments:**

    - `env_name`: a registered environment name, e.g. ``"cancer_treatment"``.
    - `horizon`: the number of steps ``H``. References are shipped for the eight Myriad systems at
      ``H`` in {20, 50, 100, 200, 500, 1000, 2000}.
    - `references`: an additional references file, searched before the shipped one.

    **Returns:** a [`awmkit.evaluation.Reference`][].

    **Raises:** [`awmkit.evaluation.MissingReferenceError`][] (a ``KeyError``), saying how to generate
    it, for a pair that is not available.
    """
    if not isinstance(env_name, str):
        raise TypeError(f"`env_name` must be a string, got {type(env_name).__name__}")
    if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon <= 0:
        raise ValueError(f"`horizon` must be a positive integer, got {horizon!r}")
    tables = [load_references()] if references is None else [load_references(references), load_references()]
    for table in tables:
        if (env_name, horizon) in table:
            return table[(env_name, horizon)]
    shipped = sorted({h for (e, h) in tables[-1] if e == env_name})
    where = f"shipped horizons for {env_name!r}: {shipped}" if shipped else f"none shipped for {env_name!r}"
    raise MissingReferenceError(
        f"no reference for env {env_name!r} at horizon {horizon} ({where}); {_generate_hint(env_name, horizon)}"
    )


def compute_reference(
    env_name: str,
    horizon: int,
    *,
    settings: TrajOptSettings | None = None,
    key: int = 0,
    random_episodes: int | None = None,
    random_noise: float = RANDOM_NOISE,
    integrator: Integrator | None = None,
) -> Reference:
    """Computes a [`awmkit.evaluation.Reference`][]: [`awmkit.baselines.trajopt`][] for the optimum and
    uniformly random episodes for the random policy, both in the settings' precision (float64 by
    default).

    **Arguments:**

    - `env_name`, `horizon`: what to solve.
    - `settings`: trajectory-optimisation settings (default [`awmkit.baselines.TrajOptSettings`][]``()``).
    - `key`: integer seed: ``jax.random.fold_in(jax.random.key(key), 1)`` draws the random restarts of
      trajectory optimisation, and the random episodes use the key derived from ``(env_name, horizon,
      key)`` (see [`Reference`][awmkit.evaluation.Reference]`.random_key`).
    - `random_episodes`: a fixed number of random-policy episodes, or ``None`` (default) to draw batches
      of 1 000 until ``SE(R_random) / (R_optimal - R_random) < random_noise``.
    - `random_noise`: the target normalised-return noise of the adaptive count (default 0.002).
    - `integrator`: the environment's integrator (default: the system's default).
    """
    if isinstance(key, bool) or not isinstance(key, int):
        raise TypeError(f"`key` must be an integer seed, got {key!r}")
    if random_episodes is not None and (
        isinstance(random_episodes, bool) or not isinstance(random_episodes, int) or random_episodes <= 0
    ):
        raise ValueError(f"`random_episodes` must be a positive integer or None, got {random_episodes!r}")
    if not (isinstance(random_noise, float | int) and 0 < random_noise < 1):
        raise ValueError(f"`random_noise` must be in (0, 1), got {random_noise!r}")
    settings = TrajOptSettings() if settings is None else settings
    env = make(env_name, horizon, integrator=integrator)
    result = trajopt(env, settings, key=jax.random.fold_in(jax.random.key(key), 1))
    if not math.isfinite(result.optimal_return):
        raise FloatingPointError(
            f"non-finite optimal return for {env_name} at H={horizon}: {result.optimal_return}"
        )
    partial = Reference(
        env=env_name,
        horizon=horizon,
        optimal_return=result.optimal_return,
        random_return=math.nan,
        random_episodes=0,
        random_key=random_reference_key(env_name, horizon, key),
        integrator=describe_integrator(env),
        solver=settings.to_dict() | {"key": key},
        dtype="float64" if settings.x64 else "float32",
        awmkit_version="",
        date="",
        extra={
            "trajopt_wall_time_s": round(result.wall_time_s, 3),
            "converged_change": result.converged_change,
            "restart_returns": sorted(result.returns.tolist(), reverse=True),
            "fraction_of_actions_at_bounds": float((abs(result.actions) > 0.999).mean()),
        },
    )
    return with_random_return(
        partial, episodes=random_episodes, noise=random_noise, integrator=integrator, key=key
    )


def with_random_return(
    ref: Reference,
    *,
    episodes: int | None = None,
    noise: float = RANDOM_NOISE,
    integrator: Integrator | None = None,
    key: int | None = None,
) -> Reference:
    """``ref`` with its random return (re)estimated, its optimum kept: the random half of
    [`compute_reference`][awmkit.evaluation.compute_reference], to refresh shipped entries without
    re-solving them.

    **Arguments:**

    - `ref`: the reference whose ``optimal_return`` sets the adaptive episode count.
    - `episodes`, `noise`, `integrator`: as ``random_episodes``, ``random_noise`` and ``integrator`` of
      [`compute_reference`][awmkit.evaluation.compute_reference].
    - `key`: the seed the random key is derived from (default ``ref.solver["key"]``, else 0).
    """
    if not isinstance(ref, Reference):
        raise TypeError(f"`ref` must be an awmkit.evaluation.Reference, got {type(ref).__name__}")
    key = int(ref.solver.get("key", 0)) if key is None else key
    env = make(ref.env, ref.horizon, integrator=integrator)
    seed = random_reference_key(ref.env, ref.horizon, key)
    with jax.enable_x64(ref.dtype == "float64"):
        est = estimate_random_return(
            env, seed, optimal_return=ref.optimal_return, episodes=episodes, noise=noise
        )
    if not math.isfinite(est.mean):
        raise FloatingPointError(f"non-finite random return for {ref.env} at H={ref.horizon}: {est.mean}")
    return dataclasses.replace(
        ref,
        random_return=est.mean,
        random_episodes=est.episodes,
        random_key=seed,
        random_se=est.se,
        awmkit_version=__version__,
        date=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )


def write_references(refs: list[Reference], path: str | pathlib.Path | None = None) -> pathlib.Path:
    """Merges ``refs`` into a references file (default: the shipped one), replacing entries for the
    same ``(env, horizon)``, and returns the path written."""
    path = default_references_path() if path is None else pathlib.Path(path)
    table = load_references(path) if path.is_file() else {}
    for ref in refs:
        if not isinstance(ref, Reference):
            raise TypeError(f"`refs` must hold awmkit.evaluation.Reference objects, got {type(ref).__name__}")
        table[(ref.env, ref.horizon)] = ref
    order = {name: i for i, name in enumerate(MYRIAD_ENVS)}
    entries = sorted(table.values(), key=lambda r: (order.get(r.env, len(order)), r.env, r.horizon))
    data = {
        "format": _FORMAT,
        "description": (
            "awmkit normalised-return references: optimal_return (normalised 1) from trajectory "
            "optimisation on the true dynamics, random_return (normalised 0) the mean return of uniformly "
            "random actions. Regenerate with `awmkit references --write`."
        ),
        "references": [r.to_dict() for r in entries],
    }
    path.write_text(json.dumps(data, indent=1) + "\n")
    return path

"""What every trainer returns, and the checks of the arguments every trainer shares.

Every trainer (``awmkit.bpo.train``, ``awmkit.baselines.train_sac``, ``awmkit.baselines.train_odt``) has
the signature

    train(env, config=None, *, model=None, policy=None, horizon=None, seeds=1, key=0, out=None,
          resume=False, progress=False, loggers=())

and raises ``ValueError`` for a bad argument (before anything is compiled), `RunExistsError` (a
``ValueError``) when `out` holds a run and `resume` is false, `RunLockedError` when another process
writes `out`, `CheckpointError` for a checkpoint that cannot be resumed, and ``OSError`` naming the file
when the disk refuses a write.
"""

import dataclasses
import os
import pathlib
from collections.abc import Callable, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._typing import Key
from ..envs import Env, make
from ..models import AbstractWorldModel
from ..policies import AbstractPolicy
from ._loggers import AbstractLogger

# The annotations of the shared trainer signature (every trainer uses these, so they are equal).
EnvArg = Env | str
ModelArg = AbstractWorldModel | str | Callable[[Key], AbstractWorldModel] | None
PolicyArg = Callable[[Key], AbstractPolicy] | None
SeedsArg = int | Sequence[int]
KeyArg = int | Key
OutArg = str | os.PathLike | None
LoggersArg = Sequence[AbstractLogger]


@dataclasses.dataclass(frozen=True, kw_only=True)
class RunResult:
    """What every trainer returns ([`awmkit.bpo.BPOResult`][] adds BPO's own fields).

    **Fields:**

    - `algo`: ``"bpo"``, ``"sac"`` or ``"odt"``.
    - `seeds`: the seed indices, in the order of every leading seed axis.
    - `eval_steps`: environment steps of each evaluation, shape ``(evaluations,)``.
    - `eval_returns`: the deterministic policy's evaluation return, ``(evaluations, seeds)``.
    - `final_return`: the last evaluation of each seed, ``(seeds,)``.
    - `wall_time_s`: seconds of the whole run, compilation included (a resumed run adds the time
      recorded in its checkpoint; a finished run resumed reports its recorded time).
    - `out`: the run directory, or ``None``.
    - `policy`: the trained policies (for the Online DT its transformers), a leading seed axis on
      every array; [`awmkit.runs.RunResult.seed_policy`][] takes one seed's.
    - `state`: the whole final training state (seed axis leading).
    - `config`: the trainer's configuration.
    - `info`: what else the run reports, by name (BPO: the update counts; the Online DT: its
      return-to-go mode and target), JSON values.
    """

    algo: str
    seeds: tuple[int, ...]
    eval_steps: np.ndarray
    eval_returns: np.ndarray
    final_return: np.ndarray
    wall_time_s: float
    out: pathlib.Path | None
    policy: Any
    state: Any
    config: Any
    info: dict[str, Any] = dataclasses.field(default_factory=dict)

    def seed_policy(self, i: int) -> Any:
        """The policy of the ``i``-th seed of this run (position in `seeds`), without the seed axis."""
        return index_seed(self.policy, i)


def index_seed(tree, i: int):
    """``tree`` with every array's leading (seed) axis indexed at ``i``."""
    arrays, static = eqx.partition(tree, eqx.is_array)
    return eqx.combine(jax.tree.map(lambda x: x[i], arrays), static)


# --- the shared argument checks --------------------------------------------------------------------


def check_seeds(seeds) -> tuple[int, ...]:
    """Seed indices from ``seeds``: a count ``N`` (indices ``0..N-1``) or distinct indices."""
    if isinstance(seeds, bool):
        raise ValueError(f"`seeds` must be a positive integer or a sequence of seed indices, got {seeds!r}")
    if isinstance(seeds, (int, np.integer)):
        if seeds <= 0:
            raise ValueError(f"`seeds` must be a positive integer, got {seeds}")
        return tuple(range(int(seeds)))
    if isinstance(seeds, Sequence) and not isinstance(seeds, str) and len(seeds) > 0:
        out = tuple(seeds)
        ok = all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in out)
        if ok and len(set(out)) == len(out):
            return out
    raise ValueError(
        f"`seeds` must be a positive integer or a non-empty sequence of distinct non-negative seed indices, "
        f"got {seeds!r}"
    )


def check_key(key) -> tuple[Key, Any]:
    """The run's PRNG key and its JSON record (the int, or a typed key's data)."""
    if isinstance(key, bool):
        raise ValueError(f"`key` must be an int or a JAX PRNG key, got {key!r}")
    if isinstance(key, (int, np.integer)):
        return jax.random.key(int(key)), int(key)
    if isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key) and key.shape == ():
        return key, np.asarray(jax.random.key_data(key)).tolist()
    raise ValueError(f"`key` must be an int or a scalar typed JAX PRNG key (jax.random.key), got {key!r}")


def check_env(env, horizon):
    """The environment from an [`awmkit.envs.Env`][] or a registered name with `horizon`."""
    if isinstance(env, str):
        if horizon is None:
            raise ValueError("`horizon` is required when `env` is a name")
        return make(env, horizon)
    if isinstance(env, Env):
        if horizon is not None and horizon != env.horizon:
            raise ValueError(f"`horizon` ({horizon}) differs from the environment's ({env.horizon})")
        return env
    raise ValueError(f"`env` must be an environment name or an awmkit.envs.Env, got {type(env).__name__}")


def check_config(config, cls: type, where: str):
    """``cls()`` for ``None``, else ``config`` when it is a ``cls``."""
    if config is None:
        return cls()
    if not isinstance(config, cls):
        raise ValueError(f"`config` must be an {where}, got {type(config).__name__}")
    return config


def check_loggers(loggers) -> tuple[AbstractLogger, ...]:
    """``loggers`` as a tuple, each an [`awmkit.runs.AbstractLogger`][]."""
    if isinstance(loggers, (str, AbstractLogger)) or not isinstance(loggers, Sequence):
        raise ValueError(f"`loggers` must be a sequence of awmkit.runs.AbstractLogger, got {loggers!r}")
    for logger in loggers:
        if not isinstance(logger, AbstractLogger):
            raise ValueError(f"`loggers` must hold awmkit.runs.AbstractLogger instances, got {logger!r}")
    return tuple(loggers)


def refuse(name: str, value, trainer: str, why: str) -> None:
    """A baseline refuses an argument only BPO uses."""
    if value is not None:
        raise ValueError(f"`{name}` must be None for {trainer}: {why}")

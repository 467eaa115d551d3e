"""Return landscapes over the initial action (Figures 3c, 4c), and offline training on random data
(Appendix D)."""

import dataclasses
from collections.abc import Mapping, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from .._typing import Key
from ..envs import Env, Trajectory, rollout
from ..models import AbstractWorldModel, fit, fit_normaliser
from ._common import as_model


@dataclasses.dataclass(frozen=True)
class Landscape:
    """Returns as a function of one action component.

    **Fields:** `grid` (the values given to the varied component); `returns` (name -> array of
    returns over the grid); `action_index`, `component` (which action was varied); `horizon`.
    """

    grid: np.ndarray
    returns: dict
    action_index: int
    component: int
    horizon: int

    def as_dict(self) -> dict:
        return {
            "grid": self.grid.tolist(),
            "returns": {k: np.asarray(v).tolist() for k, v in self.returns.items()},
            "action_index": self.action_index,
            "component": self.component,
            "horizon": self.horizon,
        }


@eqx.filter_jit
def _landscape(model, env, s0, base, grid, action_index, component):
    def one(value):
        a = base.at[action_index, component].set(value)
        states = model.rollout_actions(s0, a)
        steps = jnp.arange(a.shape[0])
        return jnp.sum(jax.vmap(env.reward)(states[:-1], a, states[1:], steps))

    return jax.vmap(one)(grid)


def return_landscape(
    models: Mapping[str, object] | object,
    env: Env,
    *,
    grid: Sequence[float] | np.ndarray | None = None,
    base_actions=None,
    action_index: int = 0,
    component: int = 0,
    s0=None,
) -> Landscape:
    r"""The return $J(a)$ when action ``action_index`` (component ``component``) is set to each value of
    ``grid`` and the other actions are held at ``base_actions`` (Figures 3c and 4c vary the initial
    action), for the true simulator and for any world models.

    Each model rolls the actions out open-loop (``rollout_actions``) and the return is the sum of
    ``env.reward`` along its predicted states, so landscapes of different models are directly
    comparable with the simulator's.

    **Arguments:**

    - `models`: a world model or Env, or a mapping ``name -> model or Env`` (an Env is the simulator).
    - `env`: the environment giving the initial state, the reward and the horizon.
    - `grid`: the action values (default 201 points in ``[-1, 1]``).
    - `base_actions`: the other actions, shape ``(H, action_dim)`` (default zeros).
    - `action_index`, `component`: which action to vary (default the first).
    - `s0`: the initial state (default ``env.reset()``).

    **Returns:** a [`awmkit.diagnostics.Landscape`][].
    """
    if not isinstance(env, Env):
        raise TypeError(f"`env` must be an awmkit.envs.Env, got {type(env).__name__}")
    named = dict(models) if isinstance(models, Mapping) else {"model": models}
    if not named:
        raise ValueError("`models` must name at least one model")
    H = env.horizon
    if not (0 <= action_index < H):
        raise ValueError(f"`action_index` must be in [0, {H}), got {action_index}")
    if not (0 <= component < env.action_dim):
        raise ValueError(f"`component` must be in [0, {env.action_dim}), got {component}")
    s0 = env.reset() if s0 is None else jnp.asarray(s0)
    grid = np.linspace(-1.0, 1.0, 201) if grid is None else np.asarray(grid, dtype=float)
    if grid.ndim != 1 or grid.size == 0:
        raise ValueError(f"`grid` must be a non-empty 1-d sequence, got shape {grid.shape}")
    base = (
        jnp.zeros((H, env.action_dim), s0.dtype)
        if base_actions is None
        else jnp.asarray(base_actions, s0.dtype)
    )
    if base.shape != (H, env.action_dim):
        raise ValueError(f"`base_actions` must have shape {(H, env.action_dim)}, got {base.shape}")
    checked = {}
    for name, m in named.items():
        model = as_model(m, f"models[{name!r}]")
        model.check_compatible(env)
        checked[name] = model
    returns = {
        name: np.asarray(
            _landscape(model, env, s0, base, jnp.asarray(grid, s0.dtype), action_index, component)
        )
        for name, model in checked.items()
    }
    return Landscape(grid, returns, action_index, component, H)


def random_dataset(env: Env, transitions: int, *, key: Key) -> Trajectory:
    """``ceil(transitions / H)`` episodes of uniformly random actions in ``env`` (Appendix D)."""
    if isinstance(transitions, bool) or not isinstance(transitions, int) or transitions <= 0:
        raise ValueError(f"`transitions` must be a positive integer, got {transitions!r}")
    episodes = -(-transitions // env.horizon)
    ka, kr = jax.random.split(key)
    dtype = env.reset(kr).dtype
    actions = jax.random.uniform(
        ka, (episodes, env.horizon, env.action_dim), dtype=dtype, minval=-1.0, maxval=1.0
    )
    keys = jax.random.split(kr, episodes)
    return jax.jit(jax.vmap(lambda a, k: rollout(env, a, k)))(actions, keys)


def train_offline(
    model: AbstractWorldModel,
    env: Env,
    *,
    key: Key,
    transitions: int = 100_000,
    steps: int = 1_000,
    batch_size: int = 64,
    learning_rate: float = 1e-3,
    window: int | None = None,
) -> tuple[AbstractWorldModel, np.ndarray]:
    """Trains ``model`` offline on random trajectories, as in Appendix D: ``transitions`` transitions
    collected with uniformly random actions, then ``steps`` Adam steps with batch size 64 and learning
    rate 1e-3 (Table 1) on the teacher-forced loss, after fitting the model's normalisation to the data.

    **Arguments:**

    - `model`: an untrained world model for ``env``.
    - `env`: the environment.
    - `key`: a PRNG key (keyword-only).
    - `transitions`, `steps`, `batch_size`, `learning_rate`: the offline budget (paper defaults).
    - `window`: optional training window (see [`awmkit.models.fit`][]).

    **Returns:** ``(trained_model, losses)``.
    """
    if not isinstance(model, AbstractWorldModel):
        raise TypeError(f"`model` must be an awmkit world model, got {type(model).__name__}")
    model.check_compatible(env)
    if not learning_rate > 0:
        raise ValueError(f"`learning_rate` must be positive, got {learning_rate!r}")
    kd, kf = jax.random.split(key)
    data = random_dataset(env, transitions, key=kd)
    model = fit_normaliser(model, data)
    model, _, losses = fit(
        model, data, steps, optax.adam(learning_rate), key=kf, batch_size=batch_size, window=window
    )
    return model, np.asarray(losses)

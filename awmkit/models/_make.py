"""World models by name."""

from .._typing import Key
from ..envs import Env
from ._actions import ActionsModel
from ._base import AbstractWorldModel
from ._history import HistoryModel
from ._markovian import MarkovianModel
from ._simulator import SimulatorModel

_NAMES = ("markovian", "hwm-transformer", "awm-transformer", "awm-rnn", "awm-lstm", "awm-ssm", "simulator")


def names() -> tuple[str, ...]:
    """The names accepted by [`awmkit.models.make`][]."""
    return _NAMES


def make(name: str, env: Env, *, key: Key, **kwargs) -> AbstractWorldModel:
    """Builds the world model ``name`` for ``env`` (its state and action sizes, and its horizon as
    ``max_horizon`` unless given), with the paper's defaults (Appendix C.1).

    **Arguments:**

    - `name`: one of ``markovian``, ``hwm-transformer``, ``awm-transformer``, ``awm-rnn``,
      ``awm-lstm``, ``awm-ssm``, ``simulator``.
    - `env`: the [`awmkit.envs.Env`][] the model stands in for.
    - `key`: a PRNG key (keyword-only; unused by ``simulator``).
    - `kwargs`: passed on to the model's constructor (e.g. ``max_horizon=500``, ``embed_size=32``,
      ``remat=False``).
    """
    if name not in _NAMES:
        raise ValueError(f"unknown world model {name!r}; valid names are: {', '.join(_NAMES)}")
    if not isinstance(env, Env):
        raise TypeError(f"`env` must be an awmkit.envs.Env, got {type(env).__name__}")
    if name == "simulator":
        if kwargs:
            raise TypeError(f"the simulator model takes no options, got {sorted(kwargs)}")
        return SimulatorModel(env)
    kwargs.setdefault("max_horizon", env.horizon)
    sizes = (env.state_dim, env.action_dim)
    if name == "markovian":
        return MarkovianModel(*sizes, key=key, **kwargs)
    if name == "hwm-transformer":
        return HistoryModel(*sizes, key=key, **kwargs)
    backbone = name.removeprefix("awm-")
    return ActionsModel(*sizes, backbone=backbone, key=key, **kwargs)

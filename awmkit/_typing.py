"""Shared jaxtyping aliases used across awmkit.

Single-axis shape strings carry a leading space (``" horizon"``) so that jaxtyping reads them as one
named axis. Nothing but type aliases lives here.
"""

from collections.abc import Callable
from typing import Any, TypeAlias

import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, Int, PRNGKeyArray, Shaped

__all__ = [
    "Action",
    "Actions",
    "BoolScalar",
    "IntScalar",
    "IntScalarLike",
    "Key",
    "PolicyFn",
    "RealScalar",
    "RealScalarLike",
    "Rewards",
    "State",
    "States",
]

#: A real scalar as a JAX array.
RealScalar: TypeAlias = Float[Array, ""]
#: A real scalar given as a Python number, a NumPy scalar or a 0-d array.
RealScalarLike: TypeAlias = float | int | np.floating | np.integer | Float[ArrayLike, ""] | Int[ArrayLike, ""]
#: An integer scalar (for example a step index) as a JAX array.
IntScalar: TypeAlias = Int[Array, ""]
#: An integer scalar given as a Python int, a NumPy integer or a 0-d integer array.
IntScalarLike: TypeAlias = int | np.integer | Int[ArrayLike, ""]
BoolScalar: TypeAlias = Bool[Array, ""]
#: A PRNG key (either a new-style typed key or a legacy ``uint32[2]`` key).
Key: TypeAlias = PRNGKeyArray

#: One state of a control problem, ``(state_dim,)``.
State: TypeAlias = Float[Array, " state_dim"]
#: One action in the policy's box ``[-1, 1]^action_dim``.
Action: TypeAlias = Float[Array, " action_dim"]
#: A state sequence ``s_0, ..., s_H`` (``horizon + 1`` rows).
States: TypeAlias = Float[Array, "steps state_dim"]
#: An action sequence ``a_0, ..., a_{H-1}``.
Actions: TypeAlias = Float[Array, "horizon action_dim"]
#: Per-step rewards ``r_0, ..., r_{H-1}``.
Rewards: TypeAlias = Float[Array, " horizon"]

#: The policy calling convention used by environments and world models:
#: ``policy(state, step, key) -> action`` with ``step`` the integer step index and ``key`` a PRNG key
#: (deterministic policies ignore it). Actions lie in ``[-1, 1]^action_dim``.
PolicyFn: TypeAlias = Callable[[Any, Any, Any], Any]

del Shaped

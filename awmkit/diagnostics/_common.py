"""Helpers shared by the diagnostics: accepting an `Env` or a world model, and checking inputs."""

import jax.numpy as jnp

from ..envs import Env
from ..models import AbstractWorldModel, SimulatorModel

NORMS = ("spectral", "frobenius")


def as_model(model_or_env, argname: str = "model_or_env") -> AbstractWorldModel:
    """An `Env` wrapped as a `SimulatorModel`; a world model unchanged; anything else a `TypeError`."""
    if isinstance(model_or_env, Env):
        return SimulatorModel(model_or_env)
    if isinstance(model_or_env, AbstractWorldModel):
        return model_or_env
    raise TypeError(
        f"`{argname}` must be an awmkit.envs.Env or an awmkit.models.AbstractWorldModel, "
        f"got {type(model_or_env).__name__}"
    )


def check_norm(norm: str) -> str:
    if norm not in NORMS:
        raise ValueError(f"`norm` must be one of {', '.join(map(repr, NORMS))}, got {norm!r}")
    return norm


def check_rollout_inputs(model: AbstractWorldModel, s0, actions) -> int:
    """Validates ``s0`` and ``actions`` against the model's sizes; returns the horizon."""
    if jnp.ndim(s0) != 1 or jnp.shape(s0)[0] != model.state_dim:
        raise ValueError(
            f"`s0` must have shape (state_dim,) = ({model.state_dim},) for {type(model).__name__}, "
            f"got {jnp.shape(s0)}"
        )
    if jnp.ndim(actions) != 2 or jnp.shape(actions)[1] != model.action_dim:
        raise ValueError(
            f"`actions` must have shape (horizon, action_dim) = (H, {model.action_dim}) for "
            f"{type(model).__name__}, got {jnp.shape(actions)}"
        )
    return model.check_horizon(int(jnp.shape(actions)[0]))


def block_norms(blocks, norm: str):
    """Norms of the matrices in the last two axes: spectral (largest singular value) or Frobenius."""
    if norm == "frobenius" or min(blocks.shape[-2:]) == 1:
        # For a row or column the spectral norm is the Euclidean norm, which needs no SVD.
        return jnp.sqrt(jnp.sum(blocks**2, axis=(-2, -1)))
    return jnp.linalg.svd(blocks, compute_uv=False)[..., 0]

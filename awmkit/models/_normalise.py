"""Per-dimension state normalisation from data statistics, stored in the model."""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ..envs import Trajectory
from ._base import AbstractWorldModel


class Normaliser(eqx.Module):
    r"""Affine per-dimension state normalisation ``z = (s - mean) / scale``.

    Myriad states span four orders of magnitude within one system (0.04 to 800), so every learned model
    works in normalised units: it normalises its state inputs and targets and de-normalises its
    predictions. `step_scale` is the root-mean-square one-step change of ``z`` in the data; models that
    predict a change (Markovian and History models) output it in these units, so that their networks
    produce ``O(1)`` numbers at every horizon (at ``H = 500`` one step moves ``z`` by ~1e-2).

    The statistics are fields of the model, so they are saved and loaded with it
    (``eqx.tree_serialise_leaves``); they are never trained (gradients through them are stopped, and
    [`awmkit.models.trainable_filter`][] leaves them out). Set them with
    [`awmkit.models.fit_normaliser`][]; a new model starts with the identity (mean 0, scale 1).
    """

    mean: Float[Array, " state_dim"]
    scale: Float[Array, " state_dim"]
    step_scale: Float[Array, " state_dim"]

    def __init__(self, state_dim: int, dtype=None):
        dtype = jnp.zeros(()).dtype if dtype is None else dtype
        self.mean = jnp.zeros((state_dim,), dtype=dtype)
        self.scale = jnp.ones((state_dim,), dtype=dtype)
        self.step_scale = jnp.ones((state_dim,), dtype=dtype)

    def normalise(self, s: Float[Array, "*batch state_dim"]) -> Float[Array, "*batch state_dim"]:
        mean, scale = jax.lax.stop_gradient((self.mean, self.scale))
        lead = (1,) * (s.ndim - 1)
        return (s - mean.reshape(lead + mean.shape)) / scale.reshape(lead + scale.shape)

    def denormalise(self, z: Float[Array, "*batch state_dim"]) -> Float[Array, "*batch state_dim"]:
        mean, scale = jax.lax.stop_gradient((self.mean, self.scale))
        lead = (1,) * (z.ndim - 1)
        return z * scale.reshape(lead + scale.shape) + mean.reshape(lead + mean.shape)

    def step(self) -> Float[Array, " state_dim"]:
        return jax.lax.stop_gradient(self.step_scale)


def normaliser_from_data(states: Float[Array, "batch steps state_dim"], dtype) -> Normaliser:
    """Statistics over every state of every trajectory; degenerate (constant) dimensions keep scale 1."""
    states = states.astype(dtype)
    flat = states.reshape(-1, states.shape[-1])
    mean = jnp.mean(flat, axis=0)
    std = jnp.std(flat, axis=0)
    scale = jnp.where(std > 1e-6 * (1.0 + jnp.abs(mean)), std, 1.0)
    z = (states - mean[None, None]) / scale[None, None]
    rms = jnp.sqrt(jnp.mean(jnp.square(z[:, 1:] - z[:, :-1]).reshape(-1, states.shape[-1]), axis=0))
    step_scale = jnp.where(rms > 1e-8, rms, 1.0)
    normaliser = Normaliser(states.shape[-1], dtype)
    return eqx.tree_at(lambda n: (n.mean, n.scale, n.step_scale), normaliser, (mean, scale, step_scale))


def fit_normaliser(model, trajectories: Trajectory):
    """Returns ``model`` with its state normalisation fitted to ``trajectories``.

    Pure and jittable (``eqx.filter_jit``, ``eqx.filter_vmap`` over an ensemble both work).

    **Arguments:**

    - `model`: any awmkit world model. A [`awmkit.models.SimulatorModel`][] has nothing to normalise
      and is returned unchanged.
    - `trajectories`: a batched [`awmkit.envs.Trajectory`][] with states ``(B, H + 1, state_dim)``.

    **Returns:** a copy of ``model`` whose `normaliser` holds the per-dimension mean and standard
    deviation of the states and the RMS one-step change in normalised units.
    """
    if not isinstance(model, AbstractWorldModel):
        raise TypeError(f"`model` must be an awmkit world model, got {type(model).__name__}")
    normaliser = getattr(model, "normaliser", None)
    if normaliser is None:
        return model
    if not isinstance(trajectories, Trajectory) or trajectories.states.ndim != 3:
        shape = getattr(getattr(trajectories, "states", None), "shape", None)
        raise ValueError(
            "`trajectories` must be a batched Trajectory with states of shape (B, H + 1, state_dim), "
            f"got states of shape {shape}"
        )
    if trajectories.states.shape[-1] != model.state_dim:
        raise ValueError(
            f"`trajectories` have state_dim={trajectories.states.shape[-1]} but the model was built for "
            f"state_dim={model.state_dim}"
        )
    new = normaliser_from_data(trajectories.states, normaliser.mean.dtype)
    return eqx.tree_at(lambda m: m.normaliser, model, new)

"""Training world models on recorded trajectories: the whole loop is one ``lax.scan`` inside one jit."""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.tree_util as jtu
import optax
from jaxtyping import Array, Float, PyTree

from .._typing import Key
from ..envs import Trajectory
from ._base import AbstractWorldModel
from ._simulator import SimulatorModel


def trainable_filter(model: AbstractWorldModel) -> PyTree[bool]:
    """The filter spec of the parameters that training changes: every floating-point array of ``model``
    except its normalisation statistics (and nothing at all for a [`awmkit.models.SimulatorModel`][]).

    Use it with ``eqx.partition(model, trainable_filter(model))`` in your own training loops.
    """
    if isinstance(model, SimulatorModel):
        return jtu.tree_map(lambda _: False, model)
    spec = jtu.tree_map(eqx.is_inexact_array, model)
    if getattr(model, "normaliser", None) is not None:
        spec = eqx.tree_at(
            lambda m: m.normaliser, spec, replace=jtu.tree_map(lambda _: False, model.normaliser)
        )
    return spec


def _sample(dataset: Trajectory, key, batch_size: int, window: int | None):
    """A minibatch of whole trajectories, or of windows with their start steps."""
    count, horizon = dataset.actions.shape[0], dataset.actions.shape[1]
    index_key, start_key = jax.random.split(key)
    index = jax.random.randint(index_key, (batch_size,), 0, count)
    batch = jtu.tree_map(lambda x: x[index], dataset)
    if window is None:
        return batch, jnp.zeros((batch_size,), dtype=jnp.int32)
    starts = jax.random.randint(start_key, (batch_size,), 0, horizon - window + 1)

    def cut(trajectory, start):
        return Trajectory(
            states=jax.lax.dynamic_slice_in_dim(trajectory.states, start, window + 1),
            actions=jax.lax.dynamic_slice_in_dim(trajectory.actions, start, window),
            rewards=jax.lax.dynamic_slice_in_dim(trajectory.rewards, start, window),
        )

    return jax.vmap(cut)(batch, starts), starts


def batch_loss(model: AbstractWorldModel, batch: Trajectory, t0=None):
    """The mean teacher-forced loss over a batch of trajectories (``t0``: their start steps)."""
    if t0 is None:
        t0 = jnp.zeros(batch.actions.shape[:1], dtype=jnp.int32)
    return jnp.mean(jax.vmap(lambda traj, start: model.loss(traj, t0=start))(batch, t0))


@eqx.filter_jit
@eqx.debug.assert_max_traces(max_traces=None)
def _fit_loop(params, static, opt_state, dataset, key, steps, optimizer, batch_size, window):
    def step(carry, step_key):
        params, opt_state = carry
        batch, t0 = _sample(dataset, step_key, batch_size, window)

        def loss_fn(params):
            return batch_loss(eqx.combine(params, static), batch, t0)

        loss, grads = jax.value_and_grad(loss_fn)(params)
        # Optax mixes integer step counts with floats, which strict dtype promotion rejects.
        with jax.numpy_dtype_promotion("standard"):
            updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), loss

    (params, opt_state), losses = jax.lax.scan(step, (params, opt_state), jax.random.split(key, steps))
    return params, opt_state, losses


def fit(
    model: AbstractWorldModel,
    dataset: Trajectory,
    steps: int,
    optimizer: optax.GradientTransformation,
    *,
    key: Key,
    batch_size: int = 64,
    window: int | None = None,
    opt_state: PyTree | None = None,
) -> tuple[AbstractWorldModel, PyTree, Float[Array, " steps"]]:
    """Trains ``model`` by teacher forcing on minibatches drawn from ``dataset``.

    The whole loop (sampling, loss, gradient, Optax update) is a ``lax.scan`` over the steps inside one
    ``eqx.filter_jit``: it compiles once per model structure, data shape and optimiser. Pure, so it can be
    ``eqx.filter_vmap``-ed over keys (and over models built by a vmapped constructor) to train an
    ensemble in one program. Normalisation statistics are not trained: call
    [`awmkit.models.fit_normaliser`][] first.

    **Arguments:**

    - `model`: the world model.
    - `dataset`: a batched [`awmkit.envs.Trajectory`][] with states ``(B, H + 1, state_dim)``.
    - `steps`: the number of gradient steps.
    - `optimizer`: an Optax optimiser, e.g. ``optax.adam(1e-3)`` (Table 1).
    - `key`: a PRNG key for the minibatches (keyword-only).
    - `batch_size`: trajectories (or windows) per step, drawn with replacement (default 64, Table 1).
    - `window`: train on windows of this many steps cut at random start steps (teacher-forcing windows:
      the model sees the absolute time of each step); ``None`` trains on whole trajectories.
    - `opt_state`: an optimiser state to resume from (default: a fresh one).

    **Returns:** ``(model, opt_state, losses)`` with the trained model, the optimiser state and the
    loss of every step.
    """
    if not isinstance(model, AbstractWorldModel):
        raise TypeError(f"`model` must be an awmkit world model, got {type(model).__name__}")
    if not isinstance(dataset, Trajectory) or dataset.states.ndim != 3:
        shape = getattr(getattr(dataset, "states", None), "shape", None)
        raise ValueError(
            f"`dataset` must be a batched Trajectory with states (B, H + 1, state_dim), got states {shape}"
        )
    if dataset.states.shape[-1] != model.state_dim or dataset.actions.shape[-1] != model.action_dim:
        raise ValueError(
            f"{type(model).__name__} was built for state_dim={model.state_dim}, "
            f"action_dim={model.action_dim}, but `dataset` has state_dim={dataset.states.shape[-1]}, "
            f"action_dim={dataset.actions.shape[-1]}"
        )
    for name, value in (("steps", steps), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"`{name}` must be a positive integer, got {value!r}")
    horizon = dataset.actions.shape[1]
    if window is not None:
        if isinstance(window, bool) or not isinstance(window, int) or not 0 < window <= horizon:
            raise ValueError(
                f"`window` must be an integer in [1, {horizon}] (the data's horizon), got {window!r}"
            )
    else:
        model.check_horizon(horizon)
    if not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(
            f"`optimizer` must be an optax.GradientTransformation, got {type(optimizer).__name__}"
        )
    params, static = eqx.partition(model, trainable_filter(model))
    if opt_state is None:
        opt_state = optimizer.init(params)
    params, opt_state, losses = _fit_loop(
        params, static, opt_state, dataset, key, steps, optimizer, batch_size, window
    )
    return eqx.combine(params, static), opt_state, losses

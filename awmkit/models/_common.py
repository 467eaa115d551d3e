"""Input checks and small pieces shared by the learned world models."""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.tree_util as jtu

from ._base import zero_reward


def check_size(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"`{name}` must be a positive integer, got {value!r}")
    return value


def check_s0(model, s0):
    if jnp.shape(s0) != (model.state_dim,):
        raise ValueError(
            f"`s0` must have shape (state_dim,) = ({model.state_dim},) for {type(model).__name__}, "
            f"got {jnp.shape(s0)}"
        )


def check_trajectory(model, trajectory):
    states, actions = trajectory.states, trajectory.actions
    if states.ndim != 2 or actions.ndim != 2:
        raise ValueError(
            "`trajectory` must be one unbatched Trajectory (states (H + 1, state_dim)); vmap the loss "
            f"over a batch. Got states of shape {states.shape}"
        )
    if states.shape[1] != model.state_dim or actions.shape[1] != model.action_dim:
        raise ValueError(
            f"{type(model).__name__} was built for state_dim={model.state_dim}, "
            f"action_dim={model.action_dim}, but the trajectory has state_dim={states.shape[1]}, "
            f"action_dim={actions.shape[1]}"
        )
    if states.shape[0] != actions.shape[0] + 1:
        raise ValueError(
            f"`trajectory` must have one more state than actions, got {states.shape[0]} states and "
            f"{actions.shape[0]} actions"
        )
    model.check_horizon(actions.shape[0])


def time_feature(k, max_horizon: int, dtype):
    """The time step as an input of every token (finite horizon, Appendix C.1), scaled to ``[0, 1)``."""
    return (jnp.asarray(k, dtype=dtype) / max_horizon)[None]


def checked_policy(policy, action_dim: int, dtype):
    """Calls ``policy`` and checks (at trace time) that it returns one action of the right size."""
    if not callable(policy):
        raise TypeError(f"`policy` must be callable as policy(state, k, key), got {type(policy).__name__}")

    def call(state, k, key):
        action = jnp.asarray(policy(state, k, key))
        if action.shape != (action_dim,):
            raise ValueError(
                f"policy(state, k, key) must return an action of shape (action_dim,) = ({action_dim},), "
                f"got {action.shape}"
            )
        return action.astype(dtype)

    return call


def reward_or_zero(reward_fn):
    if reward_fn is None:
        return zero_reward
    if not callable(reward_fn):
        raise TypeError(f"`reward_fn` must be callable, got {type(reward_fn).__name__}")
    return reward_fn


def stop_gradient_arrays(tree):
    """``lax.stop_gradient`` on every array leaf of a PyTree (a module, a policy), other leaves kept."""
    return jtu.tree_map(lambda x: jax.lax.stop_gradient(x) if eqx.is_array(x) else x, tree)


def mse(prediction, target):
    return jnp.mean(jnp.square(prediction - target))


def dtype_of(model):
    return model.normaliser.mean.dtype


def step_indices(t0, horizon: int):
    """``t0, t0 + 1, ..., t0 + horizon - 1`` in ``t0``'s integer type (strict dtype promotion)."""
    t0 = jnp.asarray(t0)
    return t0 + jnp.arange(horizon, dtype=t0.dtype)

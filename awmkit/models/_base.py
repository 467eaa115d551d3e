"""The protocol every world model implements, and the shared unrolling that state-based models use."""

import abc
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._typing import Actions, IntScalarLike, Key, PolicyFn, RealScalar, State, States
from ..envs import Env, Trajectory

#: ``reward_fn(state, action, next_state, k) -> scalar``; ``Env.reward`` has this signature.
RewardFn = Callable[..., RealScalar]


class AbstractWorldModel(eqx.Module):
    """A world model: a differentiable stand-in for a control problem's dynamics.

    Models differ only in what they condition on (paper, Sections 2-4): Markovian ``f(s_t, a_t)``,
    History ``h(s_{1:t}, a_{1:t})``, Actions ``g(s_1, a_{1:t})``, or the true simulator. Every model
    acts on one unbatched trajectory; batch with ``jax.vmap`` / ``eqx.filter_vmap``.

    Index convention: ``s_0`` is the initial state, ``a_k`` the action of step ``k`` and ``s_{k+1}`` the
    state it leads to, ``k = 0, ..., H - 1`` (the paper counts from 1).

    Policies are called as ``policy(state, k, key) -> action`` with one key per step, the step keys
    being ``jax.random.split(key, horizon)``; the policy sees ``stop_gradient(state)`` when
    ``stop_gradient=True`` (equations 1-3).
    """

    state_dim: eqx.AbstractVar[int]
    action_dim: eqx.AbstractVar[int]
    #: The longest horizon the model can handle (its position table), or ``None`` for any.
    max_horizon: eqx.AbstractVar[int | None]

    @abc.abstractmethod
    def loss(self, trajectory: Trajectory, *, t0: IntScalarLike = 0) -> RealScalar:
        """The teacher-forced prediction loss of one trajectory (``l^f``, ``l^h`` or ``l^g``), a mean
        squared error in the model's normalised state units. ``t0`` is the time step of the first state
        when the trajectory is a window cut out of a longer episode (the models see absolute time)."""

    @abc.abstractmethod
    def predict(
        self,
        s0: State,
        states: Float[Array, "horizon state_dim"],
        actions: Actions,
        *,
        t0: IntScalarLike = 0,
    ) -> Float[Array, "horizon state_dim"]:
        """Teacher-forced predictions of ``s_1, ..., s_H`` given the true states ``s_0, ..., s_{H-1}``
        (``states``, whose first row is ``s0``) and the actions ``a_0, ..., a_{H-1}``. Actions World
        Models use only ``s0`` and the actions. ``t0`` is the time step of ``s0`` (0 for a whole
        episode)."""

    def rollout_actions(self, s0: State, actions: Actions) -> States:
        """Open-loop predictions ``s_0, ..., s_H`` under a fixed action sequence, each prediction fed
        back where the model conditions on states. Differentiable with respect to the actions.

        By default, `imagine` with a policy that replays ``actions``; models that predict from the
        actions alone override it with one parallel pass."""
        horizon = check_actions(self, actions)
        return self.imagine(s0, lambda s, k, key: actions[k], horizon, jax.random.key(0)).states

    @abc.abstractmethod
    def imagine(
        self,
        s0: State,
        policy: PolicyFn,
        horizon: int,
        key: Key,
        *,
        reward_fn: RewardFn | None = None,
        stop_gradient: bool = True,
    ) -> Trajectory:
        """The closed-loop rollout of ``policy`` in the model, from ``s0`` for ``horizon`` steps.
        Rewards are ``reward_fn(s_k, a_k, s_{k+1}, k)`` (zeros without a ``reward_fn``)."""

    def policy_objective(
        self,
        policy: PolicyFn,
        s0: State,
        reward_fn: RewardFn,
        horizon: int,
        key: Key,
        *,
        stop_gradient: bool = True,
    ) -> tuple[RealScalar, Trajectory]:
        """``J^W(theta) = sum_k reward_fn(s_k, a_k, s_{k+1}, k)`` along the imagined rollout (equations
        1-3), and the imagined trajectory as auxiliary output: the return of `imagine`, so each model
        computes it, and its gradient with respect to the policy, the cheapest exact way its `imagine`
        does; ``stop_gradient=False`` gives the full gradient of Appendix F.1."""
        trajectory = self.imagine(s0, policy, horizon, key, reward_fn=reward_fn, stop_gradient=stop_gradient)
        return trajectory.total_return, trajectory

    def check_compatible(self, env: Env) -> None:
        """Raises a ``ValueError`` naming both sizes when the model was built for other state or action
        dimensions than ``env``'s, or cannot handle its horizon."""
        if self.state_dim != env.state_dim or self.action_dim != env.action_dim:
            raise ValueError(
                f"{type(self).__name__} was built for state_dim={self.state_dim}, "
                f"action_dim={self.action_dim}, but environment {env.name} has "
                f"state_dim={env.state_dim}, action_dim={env.action_dim}"
            )
        self.check_horizon(env.horizon)

    def check_horizon(self, horizon: int) -> int:
        """Returns ``horizon`` if the model can handle it, else raises a ``ValueError``."""
        if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon <= 0:
            raise ValueError(f"`horizon` must be a positive integer, got {horizon!r}")
        if self.max_horizon is not None and horizon > self.max_horizon:
            raise ValueError(
                f"`horizon`={horizon} exceeds {type(self).__name__}'s max_horizon={self.max_horizon} "
                "(its position table); build the model with a larger max_horizon"
            )
        return horizon


def check_actions(model: AbstractWorldModel, actions, name: str = "actions") -> int:
    """The horizon of ``actions``, after checking it is ``(horizon, action_dim)`` for ``model`` and a
    horizon the model can handle; else a one-line ``ValueError``."""
    shape = jnp.shape(actions)
    if len(shape) != 2 or shape[1] != model.action_dim:
        raise ValueError(
            f"`{name}` must have shape (horizon, action_dim) with action_dim={model.action_dim} for "
            f"{type(model).__name__}, got {shape}"
        )
    model.check_horizon(shape[0])
    return shape[0]


def zero_reward(state, action, next_state, k) -> RealScalar:
    """A ``reward_fn`` that returns zero (used when imagining without rewards)."""
    return jnp.zeros((), dtype=state.dtype)


def unroll(
    transition: Callable,
    s0: State,
    policy: PolicyFn,
    horizon: int,
    key: Key,
    reward_fn: RewardFn | None,
    stop_gradient: bool,
) -> Trajectory:
    """Closed-loop unrolling of a one-step ``transition(state, action, k) -> next_state`` with a
    ``lax.scan``: the shared ``imagine`` of state-based models and the simulator. The gradient flows
    through every predicted state, i.e. through all the paths of Figure 1a."""
    reward_fn = zero_reward if reward_fn is None else reward_fn
    step_keys = jax.random.split(key, horizon)

    def body(state, inputs):
        k, step_key = inputs
        seen = jax.lax.stop_gradient(state) if stop_gradient else state
        action = policy(seen, k, step_key)
        next_state = transition(state, action, k)
        return next_state, (next_state, action, reward_fn(state, action, next_state, k))

    _, (states, actions, rewards) = jax.lax.scan(body, s0, (jnp.arange(horizon), step_keys))
    return Trajectory(states=jnp.concatenate([s0[None], states]), actions=actions, rewards=rewards)

"""Problems whose only reward is the distance of the final state to a goal reached from a reference
action (the double pendulum of Figure 4 and the one-bounce task of Figure 3)."""

import abc

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._typing import RealScalar, RealScalarLike, State
from ._integrate import Integrator
from ._problem import AbstractControlProblem


def safe_norm(x: Float[Array, " n"]) -> RealScalar:
    """Euclidean norm with a zero (not NaN) gradient at the origin."""
    sq = jnp.sum(x * x)
    positive = sq > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, sq, 1.0)), 0.0)


class AbstractGoalProblem(AbstractControlProblem):
    """A task whose first action sets the initial condition and whose single terminal reward is
    ``-||features(s_H) - features(s*_H)||``, with ``s*_H`` the final state reached from
    `reference_action` at the same horizon and with the same integrator (so the reference action is
    optimal at every horizon). Later actions have no effect. The goal is computed once, when the
    environment is built."""

    reference_action: eqx.AbstractVar[float]
    goal: eqx.AbstractVar[State | None]

    @abc.abstractmethod
    def goal_features(self, x: State) -> Float[Array, " features"]:
        """The part of the state that the terminal reward compares with the goal."""

    def running_reward(self, t: RealScalarLike, x: State, u: Float[Array, " action_dim"]) -> RealScalar:
        return jnp.zeros((), dtype=x.dtype)

    def terminal_reward(self, x: State) -> RealScalar:
        if self.goal is None:
            raise ValueError(
                f"{type(self).__name__} has no goal yet: build it through awmkit.envs.Env or make(), "
                "which compute the goal for the horizon"
            )
        return -safe_norm(self.goal_features(x) - self.goal_features(self.goal.astype(x.dtype)))

    def with_goal_for(self, horizon: int, dt: float, integrator: Integrator) -> "AbstractGoalProblem":
        """This problem with `goal` set to the state reached from `reference_action` after
        ``horizon`` steps of length ``dt``."""
        x0 = self.initial_state()
        a = jnp.full((self.action_dim,), self.reference_action, dtype=x0.dtype)
        u = self.control(a)

        def body(x, k):
            return self.advance(x, u, k, dt, integrator), None

        goal, _ = jax.lax.scan(body, x0, jnp.arange(horizon))
        return eqx.tree_at(lambda p: p.goal, self, goal, is_leaf=lambda leaf: leaf is None)

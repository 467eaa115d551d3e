"""A control problem discretised into a fixed number of steps, and rollouts through it."""

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._typing import Action, IntScalarLike, Key, PolicyFn, RealScalar, State
from ._goal import AbstractGoalProblem
from ._integrate import Integrator
from ._problem import AbstractControlProblem


class Trajectory(eqx.Module):
    """One episode (or a batch of them: every field may carry the same leading batch axes).

    **Fields:**

    - `states`: ``s_0, ..., s_H``, shape ``(..., H + 1, state_dim)``.
    - `actions`: ``a_0, ..., a_{H-1}`` in ``[-1, 1]``, shape ``(..., H, action_dim)``.
    - `rewards`: ``r_0, ..., r_{H-1}``, shape ``(..., H)``; ``r_k`` is the running reward of step ``k``
      and, on the last step, also the terminal reward.
    """

    states: Float[Array, "*batch steps state_dim"]
    actions: Float[Array, "*batch horizon action_dim"]
    rewards: Float[Array, "*batch horizon"]

    @property
    def horizon(self) -> int:
        return self.actions.shape[-2]

    @property
    def total_return(self) -> Float[Array, "*batch"]:
        """The undiscounted return ``sum_k r_k`` of each episode."""
        return jnp.sum(self.rewards, axis=-1)


def _check_horizon(horizon) -> int:
    if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or horizon <= 0:
        raise ValueError(f"`horizon` must be a positive integer, got {horizon!r}")
    return int(horizon)


class Env(eqx.Module):
    """A control problem split into ``horizon`` control intervals, as pure functions.

    Build one with [`awmkit.envs.make`][] (registered problems) or directly from a problem:
    ``Env(MyProblem(), horizon=100)``. Every method is pure and jittable; batch with ``jax.vmap``.

    **Arguments:**

    - `problem`: the [`awmkit.envs.AbstractControlProblem`][].
    - `horizon`: the number of steps ``H`` (a positive integer).
    - `integrator`: how one interval is integrated (default: the problem's default, explicit Euler
      with one step for the Myriad systems).
    - `initial_state_fn`: optional ``key -> state`` sampler of initial states; by default every episode
      starts at the problem's fixed ``x0``.
    - `name`: a display name.
    """

    problem: AbstractControlProblem
    integrator: Integrator
    horizon: int = eqx.field(static=True)
    dt: float = eqx.field(static=True)
    initial_state_fn: Callable | None = eqx.field(static=True)
    name: str = eqx.field(static=True)

    def __init__(
        self,
        problem: AbstractControlProblem,
        horizon: int | np.integer,
        integrator: Integrator | None = None,
        initial_state_fn: Callable | None = None,
        name: str | None = None,
    ):
        if not isinstance(problem, AbstractControlProblem):
            raise TypeError(
                f"`problem` must be an awmkit.envs.AbstractControlProblem, got {type(problem).__name__}"
            )
        self.horizon = _check_horizon(horizon)
        if integrator is None:
            integrator = problem.default_integrator
        if not isinstance(integrator, Integrator):
            raise TypeError(
                f"`integrator` must be an awmkit.envs.Integrator, got {type(integrator).__name__}"
            )
        self.integrator = integrator
        self.dt = float(problem.step_size(self.horizon))
        self.initial_state_fn = initial_state_fn
        self.name = type(problem).__name__ if name is None else name
        if isinstance(problem, AbstractGoalProblem) and problem.goal is None:
            problem = problem.with_goal_for(self.horizon, self.dt, integrator)
        self.problem = problem

    @property
    def state_dim(self) -> int:
        return self.problem.state_dim

    @property
    def action_dim(self) -> int:
        return self.problem.action_dim

    @property
    def duration(self) -> float:
        """The episode's duration ``horizon * dt`` in the problem's time units."""
        return self.horizon * self.dt

    def _check_state(self, state, argname: str = "state"):
        if jnp.shape(state) != (self.state_dim,):
            raise ValueError(
                f"`{argname}` must have shape (state_dim,) = ({self.state_dim},) for {self.name}, "
                f"got {jnp.shape(state)}"
            )

    def _check_action(self, action, argname: str = "action"):
        if jnp.shape(action) != (self.action_dim,):
            raise ValueError(
                f"`{argname}` must have shape (action_dim,) = ({self.action_dim},) for {self.name}, "
                f"got {jnp.shape(action)}"
            )
        if not jnp.issubdtype(jnp.result_type(action), jnp.floating):
            raise TypeError(
                f"`{argname}` must be a floating-point array, got dtype {jnp.result_type(action)}"
            )

    def reset(self, key: Key | None = None) -> State:
        """The initial state ``s_0`` (sampled from `initial_state_fn` when one was given)."""
        if self.initial_state_fn is None:
            return self.problem.initial_state()
        if key is None:
            raise ValueError(f"`key` is required: {self.name} samples its initial state")
        state = jnp.asarray(self.initial_state_fn(key))
        self._check_state(state, "initial_state_fn(key)")
        return state

    def observation(self, state: State) -> State:
        """What the agent observes of a state: every awmkit problem is fully observed."""
        self._check_state(state)
        return state

    def step(self, state: State, action: Action, k: IntScalarLike) -> State:
        """Advances ``state`` over step ``k`` (time ``[k dt, (k + 1) dt]``) under ``action``.

        The action is clipped to ``[-1, 1]`` and mapped onto the problem's control bounds.
        """
        self._check_state(state)
        self._check_action(action)
        a = jnp.clip(action, -1.0, 1.0).astype(state.dtype)
        return self.problem.advance(state, self.problem.control(a), k, self.dt, self.integrator)

    def reward(
        self,
        state: State,
        action: Action,
        next_state: State,
        k: IntScalarLike,
    ) -> RealScalar:
        """The reward of step ``k``: ``running_reward(k dt, s_k, u_k) dt``, plus the terminal reward of
        ``next_state`` when ``k`` is the last step (``H - 1``)."""
        self._check_state(state)
        self._check_state(next_state, "next_state")
        self._check_action(action)
        a = jnp.clip(action, -1.0, 1.0).astype(state.dtype)
        t = jnp.asarray(k, dtype=state.dtype) * self.dt
        running = self.problem.running_reward(t, state, self.problem.control(a)) * self.dt
        terminal = self.problem.terminal_reward(next_state)
        return running + jnp.where(jnp.asarray(k) == self.horizon - 1, terminal, 0.0)


def _check_finite_actions(actions, what: str) -> None:
    """Refuses non-finite actions with the first step holding one, when the actions are concrete (a
    rollout under ``jit``/``vmap`` is traced: its NaNs are the caller's to guard, e.g. BPO's NaN guard)."""
    if isinstance(actions, jax.core.Tracer):
        return
    bad = ~np.isfinite(np.asarray(actions)).all(axis=-1)
    if bad.any():
        k = int(np.argmax(bad))
        raise ValueError(
            f"{what} hold non-finite values ({int(bad.sum())} of {bad.size} steps, the first at step {k}: "
            f"{np.asarray(actions)[k].tolist()}); the rollout's return would be NaN"
        )


def rollout(
    env: Env,
    policy_or_actions: PolicyFn | Float[Array | np.ndarray, "horizon action_dim"],
    key: Key | None = None,
) -> Trajectory:
    """Rolls a policy or an open-loop action sequence through ``env`` with a ``lax.scan``.

    **Arguments:**

    - `env`: the environment.
    - `policy_or_actions`: either an array of ``H`` actions in ``[-1, 1]`` (shape ``(H, action_dim)``) or
      a policy called as ``policy(state, k, key) -> action``.
    - `key`: a PRNG key; required when the policy is stochastic or the initial state is sampled.

    **Returns:** a [`awmkit.envs.Trajectory`][] with ``H + 1`` states, ``H`` actions and ``H`` rewards.
    Batch over keys, action sequences or policies with ``jax.vmap``.
    """
    if not isinstance(env, Env):
        raise TypeError(f"`env` must be an awmkit.envs.Env, got {type(env).__name__}")
    if key is None:
        key = jax.random.key(0)
    reset_key, policy_key = jax.random.split(key)
    s0 = env.reset(reset_key)
    steps = jnp.arange(env.horizon)

    if callable(policy_or_actions):
        policy = policy_or_actions
        step_keys = jax.random.split(policy_key, env.horizon)

        def body(state, inputs):
            k, step_key = inputs
            action = jnp.asarray(policy(state, k, step_key), dtype=state.dtype)
            env._check_action(action, "policy(state, k, key)")
            next_state = env.step(state, action, k)
            return next_state, (next_state, action, env.reward(state, action, next_state, k))

        _, (states, actions, rewards) = jax.lax.scan(body, s0, (steps, step_keys))
        _check_finite_actions(actions, "the policy's actions")
    else:
        actions = policy_or_actions
        expected = (env.horizon, env.action_dim)
        if jnp.shape(actions) != expected:
            raise ValueError(
                f"`policy_or_actions` (actions) must have shape (horizon, action_dim) = {expected} for "
                f"{env.name}, got {jnp.shape(actions)}"
            )
        if not jnp.issubdtype(jnp.result_type(actions), jnp.floating):
            raise TypeError(
                f"`policy_or_actions` (actions) must be a floating-point array, got dtype "
                f"{jnp.result_type(actions)}"
            )
        actions = jnp.asarray(actions, dtype=s0.dtype)
        _check_finite_actions(actions, "`policy_or_actions` (actions)")

        def body(state, inputs):
            k, action = inputs
            next_state = env.step(state, action, k)
            return next_state, (next_state, env.reward(state, action, next_state, k))

        _, (states, rewards) = jax.lax.scan(body, s0, (steps, actions))
    states = jnp.concatenate([s0[None], states], axis=0)
    return Trajectory(states=states, actions=actions, rewards=rewards)


def random_return(env: Env, key: Key, episodes: int = 100) -> RealScalar:
    """The mean return of ``episodes`` episodes with actions drawn uniformly from ``[-1, 1]``.

    This is the "0" of awmkit's normalised returns (paper, Appendix F).
    """
    if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes <= 0:
        raise ValueError(f"`episodes` must be a positive integer, got {episodes!r}")
    return jnp.mean(_random_episode_returns(env, key, episodes))


def _random_episode_returns(env: Env, key: Key, episodes: int) -> Float[Array, " episodes"]:
    """The returns of the episodes whose mean [`random_return`][awmkit.envs.random_return] is."""
    action_key, reset_key = jax.random.split(key)
    dtype = env.reset(reset_key).dtype if env.initial_state_fn is None else jnp.zeros(()).dtype
    actions = jax.random.uniform(
        action_key, (episodes, env.horizon, env.action_dim), dtype=dtype, minval=-1.0, maxval=1.0
    )
    keys = jax.random.split(reset_key, episodes)
    return jax.vmap(lambda a, k: rollout(env, a, k).total_return)(actions, keys)

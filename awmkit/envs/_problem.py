"""Abstract control problems: the physics, rewards and bounds of a task, independent of its horizon."""

import abc
from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._typing import Action, IntScalarLike, RealScalar, RealScalarLike, State
from ._integrate import Integrator


class AbstractControlProblem(eqx.Module):
    """A deterministic finite-horizon control problem.

    A control problem holds the static structure of a task: its state and action names, how one control
    interval advances the state, the running and terminal rewards, and the bounds. An
    [`awmkit.envs.Env`][] discretises it into a given number of steps.

    **Conventions** (shared by every awmkit problem):

    - The policy acts in ``[-1, 1]^action_dim``; [`control`][awmkit.envs.AbstractControlProblem.control]
      maps that box affinely onto the problem's control bounds ``[control_low, control_high]``.
    - Every task maximises its return. The running reward is a *rate*: the environment multiplies it by
      the step size ``dt`` (a left Riemann sum of the reward integral), so returns are comparable across
      horizons. The terminal reward is added on the last step.
    - States are clipped to ``[state_low, state_high]`` after every step where a problem has physical
      bounds (a clipped state has zero gradient with respect to the quantities that pushed it there).

    Subclasses set the class variables and fields below and implement `step_size`, `advance`,
    `running_reward` and `terminal_reward`. Parameters are ordinary fields, so a problem can be
    ``eqx.filter_vmap``-ed over parameter values (domain randomisation) like any Equinox module.
    """

    state_names: ClassVar[tuple[str, ...]]
    action_names: ClassVar[tuple[str, ...]]
    #: One of ``"running"``, ``"running + terminal"``, ``"terminal"``.
    reward_kind: ClassVar[str]
    #: One line on where the problem is and is not differentiable.
    smoothness: ClassVar[str]
    #: The integrator used when none is given to [`awmkit.envs.make`][].
    default_integrator: ClassVar[Integrator] = Integrator()

    x0: eqx.AbstractVar[tuple[float, ...]]
    control_low: eqx.AbstractVar[tuple[float, ...]]
    control_high: eqx.AbstractVar[tuple[float, ...]]
    state_low: eqx.AbstractVar[tuple[float, ...] | None]
    state_high: eqx.AbstractVar[tuple[float, ...] | None]

    @abc.abstractmethod
    def step_size(self, horizon: int) -> float:
        """The length ``dt`` of one control interval when the task has ``horizon`` steps."""

    @abc.abstractmethod
    def advance(
        self,
        x: State,
        u: Float[Array, " action_dim"],
        k: IntScalarLike,
        dt: RealScalarLike,
        integrator: Integrator,
    ) -> State:
        """Advances the state over control interval ``k`` (``[k dt, (k + 1) dt]``) under control ``u``
        (in the problem's own units) and returns the (clipped) next state."""

    @abc.abstractmethod
    def running_reward(self, t: RealScalarLike, x: State, u: Float[Array, " action_dim"]) -> RealScalar:
        """The reward rate ``-c(t, x, u)`` at time ``t``; the environment multiplies it by ``dt``."""

    @abc.abstractmethod
    def terminal_reward(self, x: State) -> RealScalar:
        """The reward ``-phi(x_H)`` for the final state (zero where the problem has none)."""

    @property
    def state_dim(self) -> int:
        return len(self.state_names)

    @property
    def action_dim(self) -> int:
        return len(self.action_names)

    def initial_state(self) -> State:
        """The fixed initial state ``x(0)`` as an array of the default float dtype."""
        return jnp.asarray(self.x0, dtype=float)

    def control(self, a: Action) -> Float[Array, " action_dim"]:
        """Maps a policy action in ``[-1, 1]^m`` affinely onto ``[control_low, control_high]``."""
        low = jnp.asarray(self.control_low, dtype=a.dtype)
        high = jnp.asarray(self.control_high, dtype=a.dtype)
        return low + (a + 1) * (0.5 * (high - low))

    def clip_state(self, x: State) -> State:
        """Clips a state to the problem's physical bounds (identity where it has none)."""
        if self.state_low is None and self.state_high is None:
            return x
        low = -jnp.inf if self.state_low is None else jnp.asarray(self.state_low, dtype=x.dtype)
        high = jnp.inf if self.state_high is None else jnp.asarray(self.state_high, dtype=x.dtype)
        return jnp.clip(x, low, high)


class AbstractODEProblem(AbstractControlProblem):
    """A control problem given by an ordinary differential equation ``x' = f(t, x, u)``.

    One control interval is integrated by the environment's [`awmkit.envs.Integrator`][], the control
    held constant, and the result is clipped to the state bounds. Subclasses implement
    `vector_field` and `step_size`.
    """

    @abc.abstractmethod
    def vector_field(self, t: RealScalarLike, x: State, u: Float[Array, " action_dim"]) -> State:
        """The time derivative ``f(t, x, u)`` of the state."""

    def advance(
        self,
        x: State,
        u: Float[Array, " action_dim"],
        k: IntScalarLike,
        dt: RealScalarLike,
        integrator: Integrator,
    ) -> State:
        t0 = jnp.asarray(k, dtype=x.dtype) * dt
        x_next = integrator.integrate(self.vector_field, t0, dt, x, u)
        return self.clip_state(x_next)


class AbstractFixedDurationProblem(AbstractODEProblem):
    """An ODE problem over a fixed duration ``[0, T]``: a horizon ``H`` gives steps ``dt = T / H``
    (the paper's convention for Myriad, Appendix F).

    A new task is one such class: declare the names, bounds, ``x0`` and ``T``, and write the vector
    field and the rewards (rates, in the problem's own control units). Everything else (integrators,
    rollouts, batching, gradients, world models, BPO) then works unchanged. ``awmkit.envs.register``
    makes it available to ``make`` and the command line.

    ```python
    import jax.numpy as jnp
    import awmkit
    from awmkit.envs import AbstractFixedDurationProblem, Env


    class Logistic(AbstractFixedDurationProblem):
        # Logistic growth harvested at rate u; the reward is the harvest.
        state_names = ("population",)
        action_names = ("harvest_rate",)
        reward_kind = "running"
        smoothness = "smooth"

        growth: float = 1.0
        T: float = 5.0
        x0: tuple[float, ...] = (0.5,)
        control_low: tuple[float, ...] = (0.0,)
        control_high: tuple[float, ...] = (1.0,)
        state_low: tuple[float, ...] | None = (0.0,)
        state_high: tuple[float, ...] | None = None

        def vector_field(self, t, x, u):
            return self.growth * x * (1.0 - x) - u * x

        def running_reward(self, t, x, u):
            return u[0] * x[0]

        def terminal_reward(self, x):
            return jnp.zeros((), dtype=x.dtype)


    env = Env(Logistic(), horizon=50)  # or awmkit.envs.register("logistic", Logistic)
    traj = awmkit.envs.rollout(env, jnp.zeros((50, 1)))
    ```
    """

    T: eqx.AbstractVar[float]

    def step_size(self, horizon: int) -> float:
        return self.T / horizon

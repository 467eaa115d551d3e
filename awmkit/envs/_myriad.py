"""The eight Myriad systems (Howe et al., 2022; Lenhart & Workman, 2007), exactly as specified in
awmkit's reference (`shared/reference/myriad-systems.md`).

Common conventions: duration ``T`` fixed, ``H`` steps of ``dt = T / H``; actions in ``[-1, 1]`` mapped
affinely onto the control bounds; running reward ``-c(t_k, x_k, u_k) dt`` (left Riemann sum of the cost
integral); terminal reward ``-phi(x_H)`` where a terminal cost exists; states clipped to their physical
bounds after every step.
"""

from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._typing import IntScalarLike, RealScalar, RealScalarLike, State
from ._integrate import Integrator
from ._problem import AbstractControlProblem, AbstractFixedDurationProblem

_NO_TERMINAL = "running"


class CancerTreatment(AbstractFixedDurationProblem):
    """Chemotherapy of a tumour with Gompertzian growth and log-kill (Lenhart & Workman ch. 10, lab 5;
    Fister & Panetta 2003).

    - **State** ``x`` (1-D): normalised tumour density, clipped to ``[1e-3, 1]`` (``ln(1/x)`` needs
      ``x > 0``; the vector field also evaluates the logarithm at ``max(x, 1e-3)`` so that intermediate
      stages of higher-order solvers stay finite).
    - **Float[Array, " action_dim"]** ``a`` in ``[-1, 1]``, mapped to drug strength ``u = a + 1`` in ``[0, 2]``.
    - **Dynamics**: ``x' = r x ln(1/x) - delta u x``.
    - **Reward**: running ``-(a_w x^2 + u^2) dt``; no terminal reward.
    - **Parameters**: ``r = 0.3``, ``a_w = 3`` (the spec's ``a``), ``delta = 0.45``; ``x(0) = 0.975``;
      ``T = 20`` (days).
    - **Differentiability**: smooth, except where the state bound clips.

    ```python
    import jax.numpy as jnp
    import awmkit

    env = awmkit.envs.make("cancer_treatment", horizon=100)
    traj = awmkit.envs.rollout(env, jnp.full((100, 1), -0.5))  # constant dose u = 0.5
    traj.states[-1], traj.total_return  # tumour density at T = 20 and the return (about -23)
    ```
    """

    state_names: ClassVar[tuple[str, ...]] = ("tumour_density",)
    action_names: ClassVar[tuple[str, ...]] = ("drug_strength",)
    reward_kind: ClassVar[str] = _NO_TERMINAL
    smoothness: ClassVar[str] = "smooth; state clipped to [1e-3, 1]"

    r: float = 0.3
    a_w: float = 3.0
    delta: float = 0.45
    T: float = 20.0
    x0: tuple[float, ...] = (0.975,)
    control_low: tuple[float, ...] = (0.0,)
    control_high: tuple[float, ...] = (2.0,)
    state_low: tuple[float, ...] | None = (1e-3,)
    state_high: tuple[float, ...] | None = (1.0,)

    def vector_field(self, t, x, u):
        safe_x = jnp.maximum(x, self.state_low[0])
        return self.r * x * jnp.log(1.0 / safe_x) - self.delta * u * x

    def running_reward(self, t, x, u):
        return -(self.a_w * x[0] ** 2 + u[0] ** 2)

    def terminal_reward(self, x):
        return jnp.zeros((), dtype=x.dtype)


class Bioreactor(AbstractFixedDurationProblem):
    """Bacteria that degrade a contaminant, fed a nutrient (Lenhart & Workman ch. 19, lab 12; Heinricher,
    Lenhart & Solomon 1995).

    - **State** ``x`` (1-D): bacteria concentration, unbounded.
    - **Float[Array, " action_dim"]** in ``[-1, 1]``, mapped to nutrient ``u`` in ``[0, M] = [0, 1]``.
    - **Dynamics**: ``x' = G u x - D x^2``.
    - **Reward**: running ``(K x - u) dt`` (Myriad maximises ``int K x - u dt``); no terminal reward.
    - **Parameters**: ``K = 2``, ``G = 1``, ``D = 1``, ``M = 1``; ``x(0) = 0.5``; ``T = 2``.
    - **Differentiability**: smooth; linear in the control, so the optimum is bang-bang.

    ```python
    import jax
    import jax.numpy as jnp
    import awmkit

    env = awmkit.envs.make("bioreactor", horizon=50)
    ret = lambda actions: awmkit.envs.rollout(env, actions).total_return
    grad = jax.grad(ret)(jnp.zeros((50, 1)))  # d return / d a_k for every step k, shape (50, 1)
    ```
    """

    state_names: ClassVar[tuple[str, ...]] = ("bacteria",)
    action_names: ClassVar[tuple[str, ...]] = ("nutrient",)
    reward_kind: ClassVar[str] = _NO_TERMINAL
    smoothness: ClassVar[str] = "smooth; bang-bang optimum"

    K: float = 2.0
    G: float = 1.0
    D: float = 1.0
    T: float = 2.0
    x0: tuple[float, ...] = (0.5,)
    control_low: tuple[float, ...] = (0.0,)
    control_high: tuple[float, ...] = (1.0,)
    state_low: tuple[float, ...] | None = None
    state_high: tuple[float, ...] | None = None

    def vector_field(self, t, x, u):
        return self.G * u * x - self.D * x**2

    def running_reward(self, t, x, u):
        return self.K * x[0] - u[0]

    def terminal_reward(self, x):
        return jnp.zeros((), dtype=x.dtype)


class MouldFungicide(AbstractFixedDurationProblem):
    """Mould concentration controlled by a fungicide (Lenhart & Workman ch. 6, lab 2).

    - **State** ``x`` (1-D): mould concentration, clipped to ``[0, 5]`` (Myriad's bounds).
    - **Float[Array, " action_dim"]** in ``[-1, 1]``, mapped to fungicide ``u`` in ``[0, 5]``.
    - **Dynamics**: ``x' = r (M - x) - u x``.
    - **Reward**: running ``-(A x^2 + u^2) dt``; no terminal reward.
    - **Parameters**: ``r = 0.3``, ``M = 10``, ``A = 10``; ``x(0) = 1``; ``T = 5``.
    - **Differentiability**: smooth, except where the state bound clips.

    ```python
    import jax
    import jax.numpy as jnp
    import awmkit

    env = awmkit.envs.make("mould_fungicide", horizon=100)
    # Without fungicide (action -1) the mould grows to its bound 5 and stays there.
    none = awmkit.envs.rollout(env, -jnp.ones((100, 1)))
    some = awmkit.envs.rollout(env, jnp.zeros((100, 1)))  # u = 2.5
    none.total_return < some.total_return  # True
    ```
    """

    state_names: ClassVar[tuple[str, ...]] = ("mould",)
    action_names: ClassVar[tuple[str, ...]] = ("fungicide",)
    reward_kind: ClassVar[str] = _NO_TERMINAL
    smoothness: ClassVar[str] = "smooth; state clipped to [0, 5]"

    r: float = 0.3
    M: float = 10.0
    A: float = 10.0
    T: float = 5.0
    x0: tuple[float, ...] = (1.0,)
    control_low: tuple[float, ...] = (0.0,)
    control_high: tuple[float, ...] = (5.0,)
    state_low: tuple[float, ...] | None = (0.0,)
    state_high: tuple[float, ...] | None = (5.0,)

    def vector_field(self, t, x, u):
        return self.r * (self.M - x) - u * x

    def running_reward(self, t, x, u):
        return -(self.A * x[0] ** 2 + u[0] ** 2)

    def terminal_reward(self, x):
        return jnp.zeros((), dtype=x.dtype)


class Bacteria(AbstractFixedDurationProblem):
    """Bacteria grown with a nutrient whose by-product inhibits growth (Lenhart & Workman ch. 7, lab 3).

    - **State** ``x`` (1-D): bacteria concentration, clipped to ``[0, inf)`` (large controls would
      otherwise drive it below zero and to ``-inf`` in finite time).
    - **Float[Array, " action_dim"]** in ``[-1, 1]``, mapped to nutrient ``u`` in ``[0, 2]`` (Myriad leaves it unbounded; the
      free optimum lies in ``[0.11, 1.58]``).
    - **Dynamics**: ``x' = r x + A u x - B u^2 exp(-x)``.
    - **Reward**: running ``-u^2 dt``; terminal ``C x(T)``.
    - **Parameters**: ``r = 1``, ``A = 1``, ``B = 12``, ``C = 1``; ``x(0) = 1``; ``T = 1``.
    - **Differentiability**: smooth, except where the state bound clips.

    ```python
    import jax.numpy as jnp
    import awmkit

    env = awmkit.envs.make("bacteria", horizon=100)
    traj = awmkit.envs.rollout(env, jnp.full((100, 1), -0.8))  # u = 0.2
    traj.rewards[-1]  # the last reward holds the terminal reward C x(T)
    ```
    """

    state_names: ClassVar[tuple[str, ...]] = ("bacteria",)
    action_names: ClassVar[tuple[str, ...]] = ("nutrient",)
    reward_kind: ClassVar[str] = "running + terminal"
    smoothness: ClassVar[str] = "smooth; state clipped to [0, inf)"

    r: float = 1.0
    A: float = 1.0
    B: float = 12.0
    C: float = 1.0
    T: float = 1.0
    x0: tuple[float, ...] = (1.0,)
    control_low: tuple[float, ...] = (0.0,)
    control_high: tuple[float, ...] = (2.0,)
    state_low: tuple[float, ...] | None = (0.0,)
    state_high: tuple[float, ...] | None = None

    def vector_field(self, t, x, u):
        return self.r * x + self.A * u * x - self.B * u**2 * jnp.exp(-x)

    def running_reward(self, t, x, u):
        return -(u[0] ** 2)

    def terminal_reward(self, x):
        return self.C * x[0]


class Harvest(AbstractFixedDurationProblem):
    """A population whose individual mass grows as ``k t / (t + 1)``, harvested at rate ``u``
    (Lenhart & Workman ch. 11, lab 6; Getz 1984).

    - **State** ``x`` (1-D): population level, unbounded.
    - **Float[Array, " action_dim"]** in ``[-1, 1]``, mapped to harvest rate ``u`` in ``[0, M] = [0, 1]``.
    - **Dynamics**: ``x' = -(m + u) x``.
    - **Reward**: running ``(A (k t / (t + 1)) x u - u^2) dt`` (time-dependent); no terminal reward.
    - **Parameters**: ``A = 5``, ``k = 10``, ``m = 0.2``, ``M = 1``; ``x(0) = 0.4``; ``T = 10``.
    - **Differentiability**: smooth.

    ```python
    import jax
    import jax.numpy as jnp
    import awmkit

    # Parameters are fields: override them in `make`, or vmap over them like any Equinox module.
    env = awmkit.envs.make("harvest", horizon=100, m=0.3)
    returns = jax.vmap(lambda a: awmkit.envs.rollout(env, jnp.full((100, 1), a)).total_return)(
        jnp.linspace(-1.0, 1.0, 5)
    )
    ```
    """

    state_names: ClassVar[tuple[str, ...]] = ("population",)
    action_names: ClassVar[tuple[str, ...]] = ("harvest_rate",)
    reward_kind: ClassVar[str] = _NO_TERMINAL
    smoothness: ClassVar[str] = "smooth"

    A: float = 5.0
    k: float = 10.0
    m: float = 0.2
    T: float = 10.0
    x0: tuple[float, ...] = (0.4,)
    control_low: tuple[float, ...] = (0.0,)
    control_high: tuple[float, ...] = (1.0,)
    state_low: tuple[float, ...] | None = None
    state_high: tuple[float, ...] | None = None

    def vector_field(self, t, x, u):
        return -(self.m + u) * x

    def running_reward(self, t, x, u):
        mass = self.k * t / (t + 1.0)
        return self.A * mass * x[0] * u[0] - u[0] ** 2

    def terminal_reward(self, x):
        return jnp.zeros((), dtype=x.dtype)


class InvasivePlant(AbstractControlProblem):
    """One main focus and four satellite populations of an invasive plant, measured by radius, a
    fraction of each removed every year (Lenhart & Workman ch. 24, lab 14; Whittle, Lenhart & Gross
    2007).

    - **State** ``x`` in ``R^5``: radii, clipped to ``[0, inf)``.
    - **Float[Array, " action_dim"]** in ``[-1, 1]^5``, mapped to the fraction removed ``u`` in ``[0, 1]^5``.
    - **Dynamics** (discrete-time in Myriad, one step a year): with ``dt = T / H`` years a step,
      ``x <- (x + dt k x / (eps + x)) (1 - u)^dt``. At ``H = 10`` this is exactly Myriad's map; other
      horizons are awmkit's convention (growth by an Euler step, removal compounded over the
      fraction of a year). At ``u = 1`` the population is removed exactly; the gradient of
      ``(1 - u)^dt`` there is taken as zero (it is infinite for ``dt < 1``).
    - **Reward**: running ``-B sum_j u_j^2 dt``; terminal ``-sum_j x_j(T)``.
    - **Parameters**: ``B = 1``, ``k = 1``, ``eps = 0.01``; ``x(0) = (0.5, 1, 1.5, 2, 10)``; ``T = 10``
      years.
    - **Differentiability**: smooth in the interior of the control box.

    ```python
    import jax.numpy as jnp
    import awmkit

    env = awmkit.envs.make("invasive_plant", horizon=10)  # H = 10: Myriad's yearly map
    traj = awmkit.envs.rollout(env, jnp.zeros((10, 5)))  # remove half of every population each year
    traj.states.shape  # (11, 5)
    ```
    """

    state_names: ClassVar[tuple[str, ...]] = (
        "focus",
        "satellite_1",
        "satellite_2",
        "satellite_3",
        "satellite_4",
    )
    action_names: ClassVar[tuple[str, ...]] = (
        "removed_0",
        "removed_1",
        "removed_2",
        "removed_3",
        "removed_4",
    )
    reward_kind: ClassVar[str] = "running + terminal"
    smoothness: ClassVar[str] = "discrete-time map; smooth for u < 1"

    B: float = 1.0
    k: float = 1.0
    eps: float = 0.01
    T: float = 10.0
    x0: tuple[float, ...] = (0.5, 1.0, 1.5, 2.0, 10.0)
    control_low: tuple[float, ...] = (0.0,) * 5
    control_high: tuple[float, ...] = (1.0,) * 5
    state_low: tuple[float, ...] | None = (0.0,) * 5
    state_high: tuple[float, ...] | None = None

    def step_size(self, horizon: int) -> float:
        return self.T / horizon

    def advance(
        self,
        x: State,
        u: Float[Array, " action_dim"],
        k: IntScalarLike,
        dt: RealScalarLike,
        integrator: Integrator,
    ) -> State:
        del k, integrator  # a discrete map: no vector field to integrate
        grown = x + dt * self.k * x / (self.eps + x)
        # (1 - u)^dt is exact (0 at u = 1, as in Myriad's map); the inner `where` keeps the power's
        # gradient finite there (its derivative is infinite at u = 1 when dt < 1).
        left = 1.0 - u
        positive = left > 0
        kept = jnp.where(positive, jnp.where(positive, left, 1.0) ** dt, 0.0)
        return self.clip_state(grown * kept)

    def running_reward(self, t: RealScalarLike, x: State, u: Float[Array, " action_dim"]) -> RealScalar:
        return -self.B * jnp.sum(u**2)

    def terminal_reward(self, x: State) -> RealScalar:
        return -jnp.sum(x)


class HIVTreatment(AbstractFixedDurationProblem):
    """CD4+ T cells and free virus under a drug that reduces infectivity (Lenhart & Workman ch. 14,
    lab 8; Butler, Kirschner & Lenhart 1997).

    - **State** ``(x0, x1, x2)``: uninfected and infected CD4+ T cells and free virus, clipped to
      ``[0, 1600] x [0, 100] x [0, 100]``.
    - **Float[Array, " action_dim"]** in ``[-1, 1]``, mapped to ``u`` in ``[0, 1]``; ``u = 0`` is maximal therapy, ``u = 1``
      none.
    - **Dynamics**: ``x0' = s / (1 + x2) - m1 x0 + r x0 (1 - (x0 + x1) / T_max) - u k x0 x2``;
      ``x1' = u k x2 x0 - m2 x1``; ``x2' = N m2 x1 - m3 x2`` (the infection term in both ``x0'`` and
      ``x1'``, as in Myriad's code).
    - **Reward**: running ``(A x0 - (1 - u)^2) dt``; no terminal reward.
    - **Parameters**: ``s = 10``, ``m1 = 0.02``, ``m2 = 0.5``, ``m3 = 4.4``, ``r = 0.03``,
      ``T_max = 1500``, ``k = 0.000024``, ``N = 300``, ``A = 0.05``; ``x(0) = (800, 0.04, 1.5)``;
      ``T = 20``.
    - **Differentiability**: smooth, except where the state bounds clip. States span 0.04 to 800:
      world models must normalise them per dimension.

    ```python
    import diffrax
    import jax.numpy as jnp
    import awmkit
    from awmkit.envs import Integrator

    euler = awmkit.envs.make("hiv_treatment", horizon=100)  # the paper's discretisation
    tsit5 = awmkit.envs.make("hiv_treatment", horizon=100, integrator=Integrator(solver=diffrax.Tsit5()))
    actions = -jnp.ones((100, 1))  # maximal therapy throughout
    gap = awmkit.envs.rollout(euler, actions).states - awmkit.envs.rollout(tsit5, actions).states
    ```
    """

    state_names: ClassVar[tuple[str, ...]] = ("uninfected_cd4", "infected_cd4", "free_virus")
    action_names: ClassVar[tuple[str, ...]] = ("infectivity",)
    reward_kind: ClassVar[str] = _NO_TERMINAL
    smoothness: ClassVar[str] = "smooth; states clipped to their bounds"

    s: float = 10.0
    m1: float = 0.02
    m2: float = 0.5
    m3: float = 4.4
    r: float = 0.03
    T_max: float = 1500.0
    k: float = 0.000024
    N: float = 300.0
    A: float = 0.05
    T: float = 20.0
    x0: tuple[float, ...] = (800.0, 0.04, 1.5)
    control_low: tuple[float, ...] = (0.0,)
    control_high: tuple[float, ...] = (1.0,)
    state_low: tuple[float, ...] | None = (0.0, 0.0, 0.0)
    state_high: tuple[float, ...] | None = (1600.0, 100.0, 100.0)

    def vector_field(self, t, x, u):
        healthy, infected, virus = x[0], x[1], x[2]
        infection = u[0] * self.k * healthy * virus
        d_healthy = (
            self.s / (1.0 + virus)
            - self.m1 * healthy
            + self.r * healthy * (1.0 - (healthy + infected) / self.T_max)
            - infection
        )
        d_infected = infection - self.m2 * infected
        d_virus = self.N * self.m2 * infected - self.m3 * virus
        return jnp.stack([d_healthy, d_infected, d_virus])

    def running_reward(self, t, x, u):
        return self.A * x[0] - (1.0 - u[0]) ** 2

    def terminal_reward(self, x):
        return jnp.zeros((), dtype=x.dtype)


class TimberHarvest(AbstractFixedDurationProblem):
    """Timber production whose revenue is partly reinvested (Lenhart & Workman ch. 18, lab 11; Kamien &
    Schwartz 1991).

    - **State** ``x`` (1-D): timber production capacity, unbounded.
    - **Float[Array, " action_dim"]** in ``[-1, 1]``, mapped to the reinvested fraction ``u`` in ``[0, 1]``.
    - **Dynamics**: ``x' = k x u``.
    - **Reward**: running ``exp(-r t) x (1 - u) dt``; no terminal reward. Returns are of order ``1e4``.
    - **Parameters**: ``r = 0`` (no discounting), ``k = 1``; ``x(0) = 100``; ``T = 5``.
    - **Differentiability**: smooth; linear in the control, so the optimum is bang-bang (invest fully,
      then harvest fully).

    ```python
    import jax.numpy as jnp
    import awmkit

    env = awmkit.envs.make("timber_harvest", horizon=50)
    t = jnp.arange(50.0) * env.dt
    # Reinvest everything until one time unit is left, then harvest everything: about 4.5e3.
    bang_bang = jnp.where(t < 4.0, 1.0, -1.0)[:, None]
    ret = awmkit.envs.rollout(env, bang_bang).total_return
    ```
    """

    state_names: ClassVar[tuple[str, ...]] = ("timber",)
    action_names: ClassVar[tuple[str, ...]] = ("reinvested",)
    reward_kind: ClassVar[str] = _NO_TERMINAL
    smoothness: ClassVar[str] = "smooth; bang-bang optimum"

    r: float = 0.0
    k: float = 1.0
    T: float = 5.0
    x0: tuple[float, ...] = (100.0,)
    control_low: tuple[float, ...] = (0.0,)
    control_high: tuple[float, ...] = (1.0,)
    state_low: tuple[float, ...] | None = None
    state_high: tuple[float, ...] | None = None

    def vector_field(self, t, x, u):
        return self.k * x * u

    def running_reward(self, t, x, u):
        return jnp.exp(-self.r * t) * x[0] * (1.0 - u[0])

    def terminal_reward(self, x):
        return jnp.zeros((), dtype=x.dtype)


MYRIAD_SYSTEMS: dict[str, type[AbstractControlProblem]] = {
    "cancer_treatment": CancerTreatment,
    "bioreactor": Bioreactor,
    "mould_fungicide": MouldFungicide,
    "bacteria": Bacteria,
    "harvest": Harvest,
    "invasive_plant": InvasivePlant,
    "hiv_treatment": HIVTreatment,
    "timber_harvest": TimberHarvest,
}

del eqx

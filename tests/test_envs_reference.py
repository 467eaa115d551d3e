"""Every Myriad system against an independent float64 SciPy reference written from the specification
(shared/reference/myriad-systems.md), not from awmkit's code.

The controls are a staircase in time: ten stairs of length T / 10, so that the same piecewise-constant
control function is seen at every horizon that is a multiple of 10, and one reference solution (one
``solve_ivp`` per stair, DOP853, rtol = atol = 1e-13) serves all horizons. The stairs are chosen so that no
state bound is active (checked below); `test_clipping_is_reproduced` covers an active bound separately.
"""

import diffrax
import equinox as eqx
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp

import awmkit
from awmkit.envs import Integrator, make, rollout

# --- the specification in NumPy: (x0, T, control bounds, f(t, x, u), running cost c(t, x, u), phi(x)) ---


def _cancer(t, x, u):
    return 0.3 * x * np.log(1.0 / x) - 0.45 * u * x


def _hiv(t, x, u):
    s, m1, m2, m3, r, tmax, k, n = 10.0, 0.02, 0.5, 4.4, 0.03, 1500.0, 0.000024, 300.0
    infection = u[0] * k * x[0] * x[2]
    return np.array(
        [
            s / (1.0 + x[2]) - m1 * x[0] + r * x[0] * (1.0 - (x[0] + x[1]) / tmax) - infection,
            infection - m2 * x[1],
            n * m2 * x[1] - m3 * x[2],
        ]
    )


SPEC = {
    "cancer_treatment": dict(
        x0=[0.975], T=20.0, low=[0.0], high=[2.0], f=_cancer, cost=lambda t, x, u: 3.0 * x[0] ** 2 + u[0] ** 2
    ),
    "bioreactor": dict(
        x0=[0.5],
        T=2.0,
        low=[0.0],
        high=[1.0],
        f=lambda t, x, u: 1.0 * u * x - 1.0 * x**2,
        cost=lambda t, x, u: -2.0 * x[0] + u[0],
    ),
    "mould_fungicide": dict(
        x0=[1.0],
        T=5.0,
        low=[0.0],
        high=[5.0],
        f=lambda t, x, u: 0.3 * (10.0 - x) - u * x,
        cost=lambda t, x, u: 10.0 * x[0] ** 2 + u[0] ** 2,
    ),
    "bacteria": dict(
        x0=[1.0],
        T=1.0,
        low=[0.0],
        high=[2.0],
        f=lambda t, x, u: x + u * x - 12.0 * u**2 * np.exp(-x),
        cost=lambda t, x, u: u[0] ** 2,
        phi=lambda x: -1.0 * x[0],
    ),
    "harvest": dict(
        x0=[0.4],
        T=10.0,
        low=[0.0],
        high=[1.0],
        f=lambda t, x, u: -(0.2 + u) * x,
        cost=lambda t, x, u: -5.0 * (10.0 * t / (t + 1.0)) * x[0] * u[0] + u[0] ** 2,
    ),
    "hiv_treatment": dict(
        x0=[800.0, 0.04, 1.5],
        T=20.0,
        low=[0.0],
        high=[1.0],
        f=_hiv,
        cost=lambda t, x, u: -0.05 * x[0] + (1.0 - u[0]) ** 2,
    ),
    "timber_harvest": dict(
        x0=[100.0],
        T=5.0,
        low=[0.0],
        high=[1.0],
        f=lambda t, x, u: 1.0 * x * u,
        cost=lambda t, x, u: -np.exp(-0.0 * t) * x[0] * (1.0 - u[0]),
    ),
}
ODE_SYSTEMS = tuple(SPEC)

# Ten stairs per system, in the policy's [-1, 1], chosen inside the state bounds (mould needs u > 0.3,
# i.e. a > -0.88, to stay below its bound 5; bacteria's x stays positive for these nutrient levels).
_SINE = tuple(float(0.6 * np.sin(1.3 * i + 0.4) + 0.1) for i in range(10))
STAIRS = {name: _SINE for name in ODE_SYSTEMS}
STAIRS["bacteria"] = tuple(float(0.2 * np.sin(1.3 * i + 0.4) - 0.7) for i in range(10))


def staircase_actions(name: str, horizon: int) -> np.ndarray:
    """The staircase sampled at the ``horizon`` control intervals (``horizon`` a multiple of 10)."""
    assert horizon % 10 == 0
    return np.repeat(np.asarray(STAIRS[name]), horizon // 10)[:, None]


def to_control(name: str, actions: np.ndarray) -> np.ndarray:
    low, high = np.asarray(SPEC[name]["low"]), np.asarray(SPEC[name]["high"])
    return low + (actions + 1.0) * 0.5 * (high - low)


def reference_states(name: str, horizon: int, *, rtol: float = 1e-13) -> np.ndarray:
    """The exact (to ~1e-12) solution of the ODE under the staircase, at ``t_k = k T / H``."""
    spec = SPEC[name]
    T = spec["T"]
    stair_u = to_control(name, np.asarray(STAIRS[name])[:, None])
    grid = np.linspace(0.0, T, horizon + 1)
    out = np.empty((horizon + 1, len(spec["x0"])))
    out[0] = spec["x0"]
    x = np.asarray(spec["x0"], dtype=np.float64)
    per = horizon // 10
    for j in range(10):
        t0, t1 = grid[j * per], grid[(j + 1) * per]
        u = stair_u[j]
        sol = solve_ivp(
            lambda t, y, u=u: spec["f"](t, y, u),
            (t0, t1),
            x,
            method="DOP853",
            rtol=rtol,
            atol=rtol,
            t_eval=grid[j * per + 1 : (j + 1) * per + 1],
        )
        assert sol.success
        out[j * per + 1 : (j + 1) * per + 1] = sol.y.T
        x = sol.y[:, -1]
    return out


def reference_interval_states(name: str, actions: np.ndarray, *, clip=None) -> np.ndarray:
    """One ``solve_ivp`` per control interval, clipping to ``clip = (low, high)`` after each."""
    spec = SPEC[name]
    horizon = len(actions)
    dt = spec["T"] / horizon
    controls = to_control(name, actions)
    xs = [np.asarray(spec["x0"], dtype=np.float64)]
    for k in range(horizon):
        u = controls[k]
        sol = solve_ivp(
            lambda t, y, u=u: spec["f"](t, y, u),
            (k * dt, (k + 1) * dt),
            xs[-1],
            method="DOP853",
            rtol=1e-13,
            atol=1e-13,
        )
        x = sol.y[:, -1]
        if clip is not None:
            x = np.clip(x, *clip)
        xs.append(x)
    return np.stack(xs)


def reference_return(name: str, states: np.ndarray, actions: np.ndarray) -> float:
    """The spec's return: ``-sum_k c(t_k, x_k, u_k) dt - phi(x_H)``."""
    spec = SPEC[name]
    horizon = len(actions)
    dt = spec["T"] / horizon
    controls = to_control(name, actions)
    running = sum(spec["cost"](k * dt, states[k], controls[k]) for k in range(horizon)) * dt
    terminal = spec["phi"](states[-1]) if "phi" in spec else 0.0
    return float(-running - terminal)


def awmkit_states(name, horizon, integrator=None):
    env = make(name, horizon, integrator=integrator)
    traj = eqx.filter_jit(rollout)(env, jnp.asarray(staircase_actions(name, horizon)))
    return np.asarray(traj.states), float(traj.total_return)


def _relative_error(states, ref):
    scale = np.maximum(np.max(np.abs(ref), axis=0), 1e-12)
    return float(np.max(np.abs(states - ref) / scale))


@pytest.mark.parametrize("name", ODE_SYSTEMS)
def test_reference_stays_inside_state_bounds(name):
    problem = make(name, 10).problem
    ref = reference_states(name, 100)
    if problem.state_low is not None:
        assert np.all(ref > np.asarray(problem.state_low) + 1e-9)
    if problem.state_high is not None:
        assert np.all(ref < np.asarray(problem.state_high) - 1e-9)


@pytest.mark.parametrize("name", ODE_SYSTEMS)
def test_euler_converges_at_first_order(name, x64):
    errors = {}
    for horizon in (200, 400):
        states, ret = awmkit_states(name, horizon)
        ref = reference_states(name, horizon)
        errors[horizon] = _relative_error(states, ref)
        # The return is the spec's left Riemann sum evaluated on awmkit's own states.
        actions = staircase_actions(name, horizon)
        assert ret == pytest.approx(reference_return(name, states, actions), rel=1e-12, abs=1e-12)
    # Euler is O(dt): halving the step halves the error. Bound: 3% of each state's range at H = 200.
    assert errors[200] < 3e-2, errors
    assert 0.4 * errors[200] < errors[400] < 0.6 * errors[200], errors


@pytest.mark.parametrize("name", ODE_SYSTEMS)
def test_high_order_solver_matches_reference(name, x64):
    horizon = 50
    ref = reference_states(name, horizon)
    states, ret = awmkit_states(name, horizon, Integrator(solver=diffrax.Dopri8(), substeps=8))
    np.testing.assert_allclose(states, ref, rtol=1e-9, atol=1e-9 * np.max(np.abs(ref)))
    actions = staircase_actions(name, horizon)
    assert ret == pytest.approx(reference_return(name, ref, actions), rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("name", [pytest.param("hiv_treatment", marks=pytest.mark.slow), "bacteria"])
def test_adaptive_diffeqsolve_matches_reference(name, x64):
    horizon = 20
    ref = reference_states(name, horizon)
    integrator = Integrator(
        solver=diffrax.Tsit5(), stepsize_controller=diffrax.PIDController(rtol=1e-12, atol=1e-12)
    )
    states, _ = awmkit_states(name, horizon, integrator)
    np.testing.assert_allclose(states, ref, rtol=1e-9, atol=1e-9 * np.max(np.abs(ref)))


def test_clipping_is_reproduced(x64):
    # With no fungicide the mould grows past its bound 5 (equilibrium 10): the clip is active.
    horizon = 40
    actions = np.concatenate([np.full((20, 1), -1.0), np.full((20, 1), 0.2)])
    ref = reference_interval_states("mould_fungicide", actions, clip=(0.0, 5.0))
    assert np.sum(ref[:, 0] == 5.0) >= 5  # the bound is reached and held
    env = make("mould_fungicide", horizon, integrator=Integrator(solver=diffrax.Dopri8(), substeps=8))
    states = np.asarray(rollout(env, jnp.asarray(actions)).states)
    np.testing.assert_allclose(states, ref, rtol=1e-9, atol=1e-9)


def test_cancer_clip_keeps_log_finite(x64):
    # Maximal drug for the whole episode with Euler at a coarse step would leave (0, 1]; the clip and
    # the guarded logarithm keep the trajectory finite and inside [1e-3, 1].
    env = make("cancer_treatment", 5)
    traj = rollout(env, jnp.ones((5, 1)))
    assert np.all(np.isfinite(np.asarray(traj.states)))
    assert np.all((np.asarray(traj.states) >= 1e-3) & (np.asarray(traj.states) <= 1.0))


# --- invasive_plant: a discrete map ------------------------------------------------------------------


def invasive_reference(actions: np.ndarray, horizon: int):
    """The spec's map with awmkit's horizon convention, in NumPy (``dt = 10 / H`` years a step)."""
    dt = 10.0 / horizon
    x = np.array([0.5, 1.0, 1.5, 2.0, 10.0])
    u = (actions + 1.0) / 2.0
    xs, ret = [x], 0.0
    for k in range(horizon):
        ret -= 1.0 * np.sum(u[k] ** 2) * dt
        x = np.maximum((x + dt * 1.0 * x / (0.01 + x)) * (1.0 - u[k]) ** dt, 0.0)
        xs.append(x)
    return np.stack(xs), ret - np.sum(x)


@pytest.mark.parametrize("horizon", [10, 40])
def test_invasive_plant_matches_numpy_map(horizon, x64):
    rng = np.random.default_rng(horizon)
    actions = rng.uniform(-0.9, 0.9, size=(horizon, 5))
    traj = rollout(make("invasive_plant", horizon), jnp.asarray(actions))
    states, ret = invasive_reference(actions, horizon)
    np.testing.assert_allclose(np.asarray(traj.states), states, rtol=1e-13, atol=1e-13)
    assert float(traj.total_return) == pytest.approx(ret, rel=1e-13)


def test_invasive_plant_h10_is_myriads_yearly_map(x64):
    # Myriad: x_{t+1} = (x_t + k x_t / (eps + x_t)) (1 - u_t), cost B sum u^2 per year + sum x_T,
    # including full removal (u = 1, action 1), which empties a population exactly.
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1.0, 1.0, size=(10, 5))
    actions[3, 2] = 1.0
    u = (actions + 1.0) / 2.0
    x = np.array([0.5, 1.0, 1.5, 2.0, 10.0])
    xs, cost = [x], 0.0
    for t in range(10):
        cost += np.sum(u[t] ** 2)
        x = (x + x / (0.01 + x)) * (1.0 - u[t])
        xs.append(x)
    cost += np.sum(x)
    traj = rollout(make("invasive_plant", 10), jnp.asarray(actions))
    np.testing.assert_allclose(np.asarray(traj.states), np.stack(xs), rtol=1e-13, atol=1e-13)
    assert np.asarray(traj.states)[4, 2] == 0.0
    assert float(traj.total_return) == pytest.approx(-cost, rel=1e-13)


def test_every_myriad_system_is_covered():
    covered = set(ODE_SYSTEMS) | {"invasive_plant"}
    myriad = {n for n in awmkit.envs.registered() if n not in ("double_pendulum", "one_bounce")}
    assert covered == myriad

"""The double pendulum (Figure 4) and the one-bounce task (Figure 3)."""

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from awmkit.envs import Integrator, make, rollout

# --- double pendulum ---------------------------------------------------------------------------------


def test_double_pendulum_conserves_energy(x64):
    env = make("double_pendulum", 100, integrator=Integrator(solver=diffrax.Dopri8(), substeps=4))
    assert env.duration == pytest.approx(5.0)
    actions = jnp.full((100, 1), 0.7)  # a large swing: theta1 = 0.7 pi
    states = rollout(env, actions).states
    energy = jax.vmap(env.problem.energy)(states[1:])
    e0 = float(env.problem.energy(jnp.array([0.7 * np.pi, 0.0, 0.0, 0.0])))
    assert np.max(np.abs(np.asarray(energy) - e0)) < 1e-3 * abs(e0)
    # The motion is chaotic, not trivial: the outer pendulum swings far from rest.
    assert np.max(np.abs(np.asarray(states[:, 1]))) > 1.0


def _scipy_states(theta1, times):
    """The double pendulum from rest at ``theta1``, by SciPy's DOP853 at rtol = atol = 1e-12 (float64)."""
    from scipy.integrate import solve_ivp

    g = 9.81

    def f(t, y):  # Lagrangian equations of motion, unit masses and rods, written independently
        th1, th2, w1, w2 = y
        d = th1 - th2
        m = np.array([[2.0, np.cos(d)], [np.cos(d), 1.0]])
        rhs = np.array([-np.sin(d) * w2**2 - 2.0 * g * np.sin(th1), np.sin(d) * w1**2 - g * np.sin(th2)])
        return np.concatenate([[w1, w2], np.linalg.solve(m, rhs)])

    y0 = [theta1, 0.0, 0.0, 0.0]
    return solve_ivp(f, (0.0, times[-1]), y0, method="DOP853", rtol=1e-12, atol=1e-12, t_eval=times).y.T


def test_double_pendulum_matches_scipy(x64):
    grid = 0.05 * np.arange(1, 41)
    ref = _scipy_states(-0.4 * np.pi, grid)
    env = make("double_pendulum", 40)  # the default integrator: Dopri8, four sub-steps per dt
    states = np.asarray(rollout(env, jnp.full((40, 1), -0.4)).states[1:])
    np.testing.assert_allclose(states, ref, rtol=1e-8, atol=1e-8)


def _final_state_errors(horizon, initial_actions, integrator=None):
    env = make("double_pendulum", horizon, integrator=integrator)
    actions = jnp.zeros((len(initial_actions), horizon, 1)).at[:, 0, 0].set(initial_actions)
    finals = np.asarray(eqx.filter_jit(jax.vmap(lambda a: rollout(env, a).states[-1]))(actions))
    ref = np.stack([_scipy_states(float(a) * np.pi, [0.05 * horizon])[-1] for a in initial_actions])
    return np.max(np.abs(finals - ref), axis=1)


def test_double_pendulum_default_is_accurate(x64):
    # Issue 10: the final state within 1e-4 of a converged solution (float64). One Tsit5 step per dt,
    # the old default, was off by 7e-3 on these large swings at H = 20.
    initial_actions = jnp.array([-0.95, -0.6, 0.3, 0.8, 0.99])
    errors = _final_state_errors(20, initial_actions)
    assert np.all(errors < 1e-4), errors
    old = _final_state_errors(20, initial_actions, Integrator(solver=diffrax.Tsit5()))
    assert np.max(old) > 1e-3, old  # the check can fail


@pytest.mark.slow  # about 30 s: 100 SciPy solves at rtol 1e-12
@pytest.mark.parametrize("horizon", [50, 100])
def test_double_pendulum_default_is_accurate_over_uniform_actions(x64, horizon):
    initial_actions = jax.random.uniform(jax.random.key(0), (50,), minval=-1.0, maxval=1.0, dtype=float)
    errors = _final_state_errors(horizon, initial_actions)
    assert np.all(errors < 1e-4), (np.max(errors), np.sum(errors >= 1e-4))


@pytest.mark.slow  # about 15 s: two reverse-mode Jacobians of a 100-step Dopri8 rollout
def test_double_pendulum_gradient_grows_with_horizon(x64):
    # Figure 4b: the mean over 50 random initial actions of ||d s_H / d a_0|| grows by orders of
    # magnitude over 5 s (10.4 at H = 5 and 1.03e3 at H = 100 here; one Tsit5 step per dt gave 1.2e3).
    initial_actions = jax.random.uniform(jax.random.key(0), (50,), minval=-1.0, maxval=1.0, dtype=float)
    norms = {}
    for horizon in (5, 100):
        env = make("double_pendulum", horizon)

        def final(a0, env=env):
            actions = jnp.concatenate([a0[None, None], jnp.zeros((env.horizon - 1, 1))])
            return rollout(env, actions).states[-1]

        jac = jax.jit(jax.vmap(jax.jacrev(final)))(initial_actions)
        norms[horizon] = float(np.mean(np.linalg.norm(np.asarray(jac), axis=-1)))
    assert norms[100] > 50.0 * norms[5], norms


def test_double_pendulum_reference_action_is_the_optimum(x64):
    env = make("double_pendulum", 50)
    grid = jnp.linspace(-1.0, 1.0, 51)  # contains -0.4 (index 15)

    @eqx.filter_jit
    def ret(a0):
        return rollout(env, jnp.full((env.horizon, 1), a0)).total_return

    returns = np.asarray(jax.vmap(ret)(grid))
    assert abs(float(ret(jnp.asarray(-0.4)))) < 1e-12
    assert int(np.argmax(returns)) == 15
    assert np.all(returns <= 1e-12)
    assert np.sum(returns < -1.0) > 40  # the landscape is not flat


# --- one bounce --------------------------------------------------------------------------------------


def _final_position(env):
    return lambda a0: rollout(env, jnp.full((env.horizon, 1), a0)).states[-1, 0]


def test_one_bounce_final_position_is_piecewise_linear(x64):
    env = make("one_bounce", 50)
    x_final = eqx.filter_jit(_final_position(env))
    v_max, T = 4.0, 1.0
    for a in (-0.9, -0.7, -0.55):  # no bounce: x_H = v T
        assert float(x_final(jnp.asarray(a))) == pytest.approx(v_max * (a + 1) / 2 * T, abs=1e-12)
        assert float(jax.grad(x_final)(jnp.asarray(a))) == pytest.approx(v_max / 2 * T, abs=1e-12)
    for a in (-0.45, 0.0, 0.5, 0.95):  # one bounce: x_H = 2 wall - v T
        assert float(x_final(jnp.asarray(a))) == pytest.approx(2.0 - v_max * (a + 1) / 2 * T, abs=1e-12)
        assert float(jax.grad(x_final)(jnp.asarray(a))) == pytest.approx(-v_max / 2 * T, abs=1e-12)
    # Continuous at the kink a = -0.5, where the block just touches the wall at t = T.
    for eps in (1e-3, 1e-6):
        left, right = float(x_final(jnp.asarray(-0.5 - eps))), float(x_final(jnp.asarray(-0.5 + eps)))
        assert left == pytest.approx(1.0 - 2 * eps, abs=1e-9)
        assert right == pytest.approx(1.0 - 2 * eps, abs=1e-9)
    assert float(x_final(jnp.asarray(-0.5))) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("horizon", [1, 7, 333])
def test_one_bounce_is_exact_at_every_horizon(horizon, x64):
    env = make("one_bounce", horizon)
    actions = jnp.linspace(-1.0, 1.0, 21)
    finals = np.asarray(jax.vmap(_final_position(env))(actions))
    v = 4.0 * (np.asarray(actions) + 1.0) / 2.0
    np.testing.assert_allclose(finals, np.where(v <= 1.0, v, 2.0 - v), atol=1e-12)


def test_one_bounce_reference_action_is_the_optimum(x64):
    env = make("one_bounce", 20)
    grid = jnp.linspace(-1.0, 1.0, 81)  # contains 0.5 (index 60)
    returns = np.asarray(jax.vmap(lambda a: rollout(env, jnp.full((20, 1), a)).total_return)(grid))
    assert int(np.argmax(returns)) == 60
    assert returns[60] == pytest.approx(0.0, abs=1e-12)
    # -|x_H + 1| = -|3 - v| after a bounce
    v = 4.0 * (np.asarray(grid) + 1.0) / 2.0
    expected = -np.abs(np.where(v <= 1.0, v, 2.0 - v) + 1.0)
    np.testing.assert_allclose(returns, expected, atol=1e-12)


def test_one_bounce_velocity_jumps_at_the_wall(x64):
    env = make("one_bounce", 30)
    states = np.asarray(rollout(env, jnp.full((30, 1), 0.5)).states)  # v = 3: bounce at t = 1/3
    assert np.all(states[1:11, 1] == 3.0) and np.all(states[11:, 1] == -3.0)
    assert np.all(states[:, 0] <= 1.0 + 1e-12)

"""awmkit.diagnostics.lyapunov_exponent on systems whose maximal exponent is known."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from awmkit.diagnostics import LyapunovEstimate, lyapunov_exponent
from awmkit.envs import make


def test_linear_map_exponent_is_log_of_largest_eigenvalue():
    # A non-normal matrix: the one-step growth of a vector is not the eigenvalue, only the average
    # after alignment is. Eigenvalues 1.2 and 0.8: the maximal exponent is ln 1.2 per step exactly.
    A = jnp.array([[1.2, 1.0], [0.0, 0.8]])
    key = jax.random.key(0)
    est = lyapunov_exponent(lambda x: A @ x, jax.random.normal(key, (8, 2)), 200, key=key, transient=60)
    assert isinstance(est, LyapunovEstimate)
    np.testing.assert_allclose(est.per_start, np.log(1.2), rtol=1e-4)
    assert est.low <= np.log(1.2) + 1e-6 and est.high >= np.log(1.2) - 1e-6
    # dt converts the rate per step into a rate per unit time
    per_second = lyapunov_exponent(lambda x: A @ x, jnp.ones((4, 2)), 200, key=key, transient=60, dt=0.1)
    np.testing.assert_allclose(per_second.exponent, np.log(1.2) / 0.1, rtol=1e-4)


def test_logistic_map_at_r4_has_exponent_ln2():
    # Published exactly: the fully chaotic logistic map x -> 4 x (1 - x) has exponent ln 2 per step.
    # float64: in float32 orbits fall onto the fixed point 0 (exponent ln 4) by rounding.
    with jax.enable_x64(True):
        key = jax.random.key(1)
        starts = jax.random.uniform(key, (64, 1), dtype=jnp.float64, minval=0.05, maxval=0.95)
        est = lyapunov_exponent(lambda x: 4.0 * x * (1.0 - x), starts, 2000, key=key, transient=10)
    assert est.low < np.log(2.0) < est.high
    assert abs(est.exponent - np.log(2.0)) < 0.01
    assert est.high - est.low < 0.02


def test_henon_map_matches_published_exponent():
    # Henon map (a = 1.4, b = 0.3): maximal exponent 0.419 per step (Sprott, Chaos and Time-Series
    # Analysis, 2003, Table A.2: 0.41922).
    def henon(x):
        return jnp.stack([1.0 - 1.4 * x[0] ** 2 + x[1], 0.3 * x[0]])

    key = jax.random.key(2)
    est = lyapunov_exponent(henon, 0.1 * jax.random.uniform(key, (32, 2)), 2000, key=key, transient=100)
    assert abs(est.exponent - 0.41922) < 0.01


def test_stable_systems_are_not_positive():
    key = jax.random.key(3)
    A = jnp.array([[0.9, 0.5], [-0.2, 0.5]])  # spectral radius < 1
    linear = lyapunov_exponent(lambda x: A @ x, jax.random.normal(key, (8, 2)), 100, key=key, transient=20)
    assert linear.high < 0

    def damped_pendulum(x):  # one semi-implicit Euler step of a damped pendulum, dt = 0.05: rate -c/2
        th, w = x[0], x[1]
        w = w + 0.05 * (-9.81 * jnp.sin(th) - 1.0 * w)
        return jnp.stack([th + 0.05 * w, w])

    starts = jax.random.uniform(key, (16, 2), minval=-1.0, maxval=1.0)
    damped = lyapunov_exponent(damped_pendulum, starts, 400, key=key, dt=0.05)
    assert damped.high < 0


@pytest.mark.slow  # ~10 s: Dopri8 Jacobians compile slowly
def test_double_pendulum_is_chaotic_from_an_env():
    # An Env: its dynamics under the zero action from step 1 on (step 0 places the initial angle).
    env = make("double_pendulum", 40)
    key = jax.random.key(4)
    actions = jnp.linspace(0.5, 0.9, 6)[:, None]  # high-energy starts: chaotic from the first seconds
    starts = jax.vmap(lambda a: env.step(env.reset(), a, 0))(actions)
    est = lyapunov_exponent(env, starts, 40, key=key, transient=10)
    assert est.dt == env.dt
    assert est.low > 0
    assert est.as_dict()["starts"] == 6


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"steps": 0}, "`steps`"),
        ({"transient": -1}, "`transient`"),
        ({"confidence": 1.5}, "`confidence`"),
        ({"mode": "sideways"}, "`mode`"),
        ({"dt": -1.0}, "`dt`"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    args = {"steps": 5, **kwargs}
    with pytest.raises(ValueError, match=match):
        lyapunov_exponent(lambda x: x, jnp.ones((3, 2)), key=jax.random.key(0), **args)


def test_bad_system_and_starts():
    with pytest.raises(TypeError, match="system"):
        lyapunov_exponent(3, jnp.ones((3, 2)), 5, key=jax.random.key(0))
    with pytest.raises(ValueError, match="`starts`"):
        lyapunov_exponent(lambda x: x, jnp.ones((1, 2)), 5, key=jax.random.key(0))

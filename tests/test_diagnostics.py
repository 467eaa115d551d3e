"""Tests of awmkit.diagnostics: Jacobians against finite differences, bounds never below the measured
policy-gradient norm, path lengths read off the jaxpr, growth fits, landscapes, bad input."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import finite_difference_grad
from hypothesis import Phase, given, settings, strategies as st

import awmkit
from awmkit import models
from awmkit.diagnostics import (
    AttentionAWM,
    ElmanAWM,
    action_jacobians,
    bounds,
    fit_growth,
    gradient_paths,
    horizon_growth,
    policy_gradient_norm,
    return_landscape,
    train_offline,
)
from awmkit.envs import make

SMALL = {
    "markovian": dict(width_sizes=(16, 16)),
    "hwm-transformer": dict(embed_size=12, mlp_width=16),
    "awm-transformer": dict(embed_size=12),
    "awm-rnn": dict(embed_size=12),
    "awm-lstm": dict(embed_size=12),
}


def _model(kind, env, key):
    if kind == "simulator":
        return env
    if kind == "elman":
        return ElmanAWM(env.state_dim, env.action_dim, 8, key=key)
    if kind == "attention":
        return AttentionAWM(env.state_dim, env.action_dim, 4, key=key)
    return models.make(kind, env, key=key, **SMALL[kind])


class LinearPolicy(eqx.Module):
    w: jax.Array
    b: jax.Array

    def __call__(self, state, k, key):
        # Squash the state first: some Myriad states are in the thousands and would saturate tanh.
        return jnp.tanh(self.w @ jnp.tanh(state / 10.0) + self.b)


SLOW = pytest.mark.slow
KINDS = [
    "simulator",
    "markovian",
    "awm-rnn",
    "elman",
    "attention",
    pytest.param("hwm-transformer", marks=SLOW),
    pytest.param("awm-transformer", marks=SLOW),
    pytest.param("awm-lstm", marks=SLOW),
]


@pytest.mark.parametrize("kind", KINDS)
def test_jacobians_match_finite_differences(kind, x64, getkey):
    env = make("hiv_treatment", horizon=3)
    model = _model(kind, env, getkey())
    s0 = env.reset()
    actions = jax.random.uniform(getkey(), (3, 1), jnp.float64, -0.8, 0.8)
    jac = action_jacobians(model, s0, actions)
    assert jac.jacobians.shape == (4, 3, 3, 1) and jac.norms.shape == (4, 3)
    wrapped = models.SimulatorModel(model) if kind == "simulator" else model
    rollout = jax.jit(lambda a: wrapped.rollout_actions(s0, a))
    for t in range(1, 4):
        for i in range(3):
            fd = finite_difference_grad(lambda a, t=t, i=i: rollout(a)[t, i], actions)
            np.testing.assert_allclose(jac.jacobians[t, i], fd, rtol=1e-4, atol=1e-7)
    causal = np.arange(3)[None, :] >= np.arange(4)[:, None]  # k >= t
    assert np.all(np.asarray(jac.jacobians).transpose(0, 2, 1, 3)[causal] == 0)
    np.testing.assert_allclose(jac.norms, np.linalg.norm(np.asarray(jac.jacobians), axis=(1, 3)), rtol=1e-6)


def test_jacobian_modes_and_norms_agree(getkey):
    env = make("invasive_plant", horizon=4)  # 5 states, 5 actions: blocks are 5 x 5 matrices
    model = _model("elman", env, getkey())
    s0, actions = env.reset(), jax.random.uniform(getkey(), (4, 5), minval=-1, maxval=1)
    fwd = action_jacobians(model, s0, actions, mode="forward", chunk_size=3)
    rev = action_jacobians(model, s0, actions, mode="reverse", norm="frobenius", chunk_size=7)
    np.testing.assert_allclose(fwd.jacobians, rev.jacobians, rtol=1e-4, atol=1e-6)
    blocks = np.asarray(fwd.jacobians).transpose(0, 2, 1, 3)
    np.testing.assert_allclose(fwd.norms, np.linalg.norm(blocks, ord=2, axis=(-2, -1)), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(rev.norms, np.linalg.norm(blocks, axis=(-2, -1)), rtol=1e-4, atol=1e-6)
    batched = jax.vmap(lambda a: action_jacobians(model, s0, a).norms)(jnp.stack([actions, -actions]))
    np.testing.assert_allclose(batched[0], fwd.norms, rtol=1e-4, atol=1e-6)


def _check_bounds(b):
    measured = float(b.measured)
    assert np.isfinite(measured) and measured > 0
    for name in b.ratios():
        value = float(getattr(b, name))
        if not np.isnan(value):
            assert value >= measured * (1 - 1e-4), (name, value, measured)
    # The local forms are the tightest: each uses the measured per-step factors.
    assert float(b.theorem2_local) <= float(b.theorem2) * (1 + 1e-4)
    assert float(b.theorem1_local) <= float(b.theorem1) * (1 + 1e-4)
    assert float(b.prediction_mismatch) < 1e-3


@pytest.mark.parametrize(
    "kind", ["simulator", "markovian", pytest.param("awm-rnn", marks=SLOW), "elman", "attention"]
)
@settings(max_examples=2, deadline=None, phases=(Phase.explicit, Phase.generate), derandomize=True)
@given(seed=st.integers(0, 2**16), scale=st.floats(0.1, 3.0))
def test_bounds_never_below_measured(kind, seed, scale):
    env = make("hiv_treatment", horizon=5)
    keys = jax.random.split(jax.random.key(seed), 4)
    model = _model(kind, env, keys[0])
    policy = LinearPolicy(
        jax.random.normal(keys[1], (1, env.state_dim)) * scale, jax.random.normal(keys[2], (1,)) * scale
    )
    b = bounds(model, policy, env.reset(), env.reward, 5, keys[3])
    _check_bounds(b)
    if kind == "elman":
        assert np.isfinite(float(b.corollary_2_1))
    if kind == "attention":
        assert np.isfinite(float(b.corollary_2_2))
    np.testing.assert_allclose(
        b.measured, policy_gradient_norm(model, policy, env.reset(), env.reward, 5, keys[3]), rtol=1e-5
    )


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["hwm-transformer", "awm-transformer", "awm-lstm"])
def test_bounds_never_below_measured_transformers(kind, getkey):
    env = make("hiv_treatment", horizon=5)
    model = _model(kind, env, getkey())
    policy = LinearPolicy(jax.random.normal(getkey(), (1, 3)), jnp.zeros(1))
    _check_bounds(bounds(model, policy, env.reset(), env.reward, 5, getkey()))


class ConstantPolicy(eqx.Module):
    theta: jax.Array

    def __call__(self, state, k, key):
        return self.theta


@pytest.mark.parametrize("w_x", [0.7, 1.3])
def test_corollary_2_1_attained_in_one_dimensional_positive_case(w_x, x64):
    """Appendix A.2: with scalar positive gradients (identity activation, so sigma' = 1/beta = gamma),
    a linear reward and a constant policy, every inequality of the proof is an equality."""
    ratios = []
    for horizon in (3, 8):
        m = ElmanAWM(1, 1, 1, activation=lambda x: x, activation_bound=1.0, key=jax.random.key(0))
        m = eqx.tree_at(
            lambda m: (m.W_x, m.W_a, m.W_o, m.W_s),
            m,
            (jnp.array([[w_x]]), jnp.array([[0.5]]), jnp.array([[2.0]]), jnp.array([[1.0]])),
        )
        b = bounds(
            m,
            ConstantPolicy(jnp.array([0.3])),
            jnp.ones(1),
            lambda s, a, s1, k: s1[0],
            horizon,
            jax.random.key(1),
        )
        eta = w_x
        exact = sum(2.0 * 0.5 * eta ** (t - k - 1) for t in range(1, horizon + 1) for k in range(t))
        np.testing.assert_allclose(b.measured, exact, rtol=1e-10)
        ratios.append(float(b.corollary_2_1 / b.measured))
    np.testing.assert_allclose(ratios, 1.0, rtol=1e-10)


def test_corollary_2_2_paper_step_fails_but_corrected_bound_holds(x64):
    """The paper's per-pair bound ||W_v||(1 + alpha t) omits the logits' dependence on a_k; with a
    sharp query-key product two equally weighted keys with different values break it."""
    beta = 100.0
    m = AttentionAWM(1, 2, 1, key=jax.random.key(0))
    W_q, W_k, W_v = jnp.array([[beta, 0.0]]), jnp.array([[1.0, 0.0]]), jnp.array([[0.0, 1.0]])
    m = eqx.tree_at(lambda m: (m.W_q, m.W_k, m.W_v), m, (W_q, W_k, W_v))
    actions = jnp.array([[0.3, -1.0], [0.3, 1.0]])
    jac = action_jacobians(m, jnp.zeros(1), actions)
    alpha = float(jnp.max(jnp.linalg.norm(actions, axis=1)))
    paper_pair = 1.0 * (1 + alpha * 2)
    assert float(jac.norms[2, 0]) > 3 * paper_pair
    qk = float(jnp.linalg.norm(W_q.T @ W_k, ord=2))
    for t in (1, 2):
        for k in range(t):
            corrected = 1.0 * (1 + 2 * alpha**2 * qk * (1 + (k == t - 1)))
            assert float(jac.norms[t, k]) <= corrected


def _assert_linear(table, per_step):
    H = table.shape[1]
    for t in range(H + 1):
        for k in range(H):
            if k < t:
                assert table[t, k] == per_step * (t - k), (t, k, table)
            else:
                assert table[t, k] == -np.inf


def _assert_affine(table):
    """``table[t, k] = c + slope (t - k - 1)`` below the diagonal with ``slope >= 1``, ``-inf`` above."""
    H = table.shape[1]
    c, slope = table[1, 0], table[2, 0] - table[1, 0]
    assert slope >= 1, table
    for t in range(H + 1):
        for k in range(H):
            expected = c + slope * (t - k - 1) if k < t else -np.inf
            assert table[t, k] == expected, (t, k, table)


@pytest.mark.parametrize(
    "kind",
    [
        "simulator",
        "markovian",
        "awm-rnn",
        "elman",
        pytest.param("awm-lstm", marks=SLOW),
        pytest.param("hwm-transformer", marks=SLOW),
    ],
)
def test_paths_linear_for_recurrent_structures(kind, getkey):
    # hiv_treatment's states clip at their bounds within four long steps, which (correctly) cuts the
    # simulator's gradient paths; harvest keeps them.
    env = make("harvest" if kind == "simulator" else "hiv_treatment", horizon=4)
    # Random interior actions: path edges with an exactly zero local derivative are not counted.
    actions = jax.random.uniform(getkey(), (4, 1), minval=-0.9, maxval=0.9)
    paths = gradient_paths(_model(kind, env, getkey()), 4, actions=actions)
    apps, dots = np.asarray(paths.applications), np.asarray(paths.matmuls)
    if kind == "elman":
        # One marked application for the whole sequence; the recurrence shows in matmul depth.
        assert np.all(apps[np.tril_indices(5, -1, 4)] == 1)
        for t in range(1, 5):
            for k in range(t):
                assert dots[t, k] == t - k + 1
    else:
        _assert_linear(apps, 1)
        if kind != "simulator":  # an Euler step has no matrix multiply
            _assert_affine(dots)


# The minimal attention AWM in the default suite; the transformer AWM (same assertions, 15 s with -n 2 on two
# cores, mostly the first eager run of its many operations) in the slow one, as the recurrent test does.
@pytest.mark.parametrize("kind", [pytest.param("awm-transformer", marks=SLOW), "attention"])
def test_paths_constant_for_attention_awms(kind, getkey):
    env = make("hiv_treatment", horizon=4)
    paths = gradient_paths(_model(kind, env, getkey()), 4)
    apps, dots = np.asarray(paths.applications), np.asarray(paths.matmuls)
    lower = np.tril_indices(5, -1, 4)
    assert np.all(apps[lower] == 1)
    assert np.all(dots[lower] == dots[1, 0]) and dots[1, 0] >= 1
    assert np.all(apps[np.triu_indices(5, 0, 4)] == -np.inf)
    assert np.all(dots[np.triu_indices(5, 0, 4)] == -np.inf)


@pytest.mark.slow  # tens of seconds on 2 cores; the default suite keeps a faster test of the same feature
def test_paths_double_pendulum_only_initial_action_matters():
    paths = gradient_paths(make("double_pendulum", horizon=3), 3)
    apps = np.asarray(paths.applications)
    np.testing.assert_array_equal(apps[1:, 0], [1, 2, 3])
    assert np.all(apps[:, 1:] == -np.inf)
    assert paths.by_lag()[1] == (-np.inf, 1.0)


def test_fit_growth_classifies_synthetic_curves():
    h = np.array([5, 10, 20, 40, 60, 80, 100])
    rng = np.random.default_rng(0)
    noise = np.exp(rng.normal(0, 0.05, h.size))
    assert fit_growth(h, 2.0 * np.exp(0.08 * h) * noise)[2] == "exponential"
    assert fit_growth(h, 0.5 * h**2.5 * noise)[2] == "polynomial"
    assert fit_growth(h, 3.0 * noise)[2] == "none"
    exp_fit, poly_fit, _ = fit_growth(h, np.exp(0.08 * h))
    np.testing.assert_allclose(exp_fit.slope, 0.08)
    assert exp_fit.r2 > 0.999 > poly_fit.r2


@pytest.mark.slow
def test_growth_double_pendulum_simulator_exponential_transformer_not(getkey):
    horizons = [5, 10, 20, 40, 60, 80, 100]
    sim = horizon_growth(lambda h: make("double_pendulum", horizon=h), horizons, key=getkey(), samples=8)
    assert sim.verdict == "exponential"

    model = models.make("awm-transformer", make("double_pendulum", horizon=100), key=getkey())
    awm = horizon_growth(
        lambda h: (model, make("double_pendulum", horizon=h)), horizons, key=getkey(), samples=8
    )
    assert awm.verdict != "exponential"


def test_growth_on_small_horizons(getkey):
    g = horizon_growth(
        lambda h: make("hiv_treatment", horizon=h), [2, 4, 6], key=getkey(), samples=3, target="return"
    )
    assert g.norms.shape == (3, 3) and g.verdict in ("exponential", "polynomial", "none")
    assert set(g.as_dict()) >= {"horizons", "mean_norm", "exponential", "polynomial", "verdict"}


def test_landscape_and_offline_training(getkey):
    env = make("double_pendulum", horizon=10)
    model, losses = train_offline(
        models.make("markovian", env, key=getkey(), **SMALL["markovian"]),
        env,
        key=getkey(),
        transitions=200,
        steps=5,
    )
    assert losses.shape == (5,) and np.all(np.isfinite(losses))
    grid = np.linspace(-1, 1, 11)
    land = return_landscape({"simulator": env, "markovian": model}, env, grid=grid)
    sim = land.returns["simulator"]
    assert grid[int(np.argmax(sim))] == pytest.approx(-0.4) and sim.max() == pytest.approx(0.0, abs=1e-5)
    assert land.returns["markovian"].shape == (11,)


def test_bad_input(getkey):
    env = make("hiv_treatment", horizon=4)
    other = make("double_pendulum", horizon=4)
    model = _model("awm-rnn", env, getkey())
    with pytest.raises(ValueError, match="state_dim"):
        return_landscape({"m": model}, other)
    with pytest.raises(ValueError, match="actions"):
        action_jacobians(model, env.reset(), jnp.zeros((4, 2)))
    with pytest.raises(ValueError, match="s0"):
        action_jacobians(model, jnp.zeros(4), jnp.zeros((4, 1)))
    short = models.make("awm-transformer", env, key=getkey(), embed_size=12)
    with pytest.raises(ValueError, match="max_horizon"):
        action_jacobians(short, env.reset(), jnp.zeros((5, 1)))
    with pytest.raises(ValueError, match="max_horizon"):
        gradient_paths(short, 9)
    with pytest.raises(ValueError, match="empty"):
        horizon_growth(lambda h: env, [], key=getkey())
    with pytest.raises(ValueError, match="three distinct"):
        horizon_growth(lambda h: env, [3, 3, 4], key=getkey())
    with pytest.raises(ValueError, match="max_horizon"):
        horizon_growth(lambda h: (short, make("hiv_treatment", horizon=h)), [2, 4, 8], key=getkey())
    with pytest.raises(ValueError, match="norm"):
        action_jacobians(env, env.reset(), jnp.zeros((4, 1)), norm="nuclear")
    with pytest.raises(ValueError, match="no parameters"):
        bounds(env, lambda s, k, key: jnp.zeros(1), env.reset(), None, 4, getkey())
    with pytest.raises(ValueError, match="reward_fn"):
        bounds(model, LinearPolicy(jnp.zeros((1, 3)), jnp.zeros(1)), env.reset(), None, 4, getkey())
    with pytest.raises(TypeError, match="Env or an awmkit.models"):
        action_jacobians("hiv", env.reset(), jnp.zeros((4, 1)))


def test_jacobians_without_forward_mode_fall_back_to_reverse(x64):
    # The double pendulum integrates with Dopri8, whose Diffrax stages have no forward mode.
    env = make("double_pendulum", horizon=3)
    actions = jnp.array([[-0.3], [0.2], [0.5]])
    jac = action_jacobians(env, env.reset(), actions, mode="forward")
    rollout = jax.jit(lambda a: models.SimulatorModel(env).rollout_actions(env.reset(), a)[3, 0])
    np.testing.assert_allclose(
        jac.jacobians[3, 0], finite_difference_grad(rollout, actions), rtol=1e-5, atol=1e-8
    )
    assert np.all(np.asarray(jac.norms)[:, 1:] == 0)  # only the first action places the pendulum


def test_corollary_2_1_applies_to_one_layer_rnn_actions_model(getkey):
    env = make("hiv_treatment", horizon=5)
    backbone = models.RNNBackbone(12, 3, hidden_sizes=(8,), key=getkey())
    model = models.ActionsModel(3, 1, 5, backbone=backbone, embed_size=12, encoder="linear", key=getkey())
    policy = LinearPolicy(jax.random.normal(getkey(), (1, 3)), jnp.zeros(1))
    b = bounds(model, policy, env.reset(), env.reward, 5, getkey())
    assert np.isfinite(float(b.corollary_2_1))
    _check_bounds(b)
    # The default two-layer backbone is not of the form of equation 4: no Corollary 2.1 number.
    two = bounds(_model("awm-rnn", env, getkey()), policy, env.reset(), env.reward, 5, getkey())
    assert np.isnan(float(two.corollary_2_1))


def test_paths_default_inputs_for_a_made_simulator():
    # A SimulatorModel from models.make starts at env.reset(), not at a zero state that may sit on a
    # state bound where every local derivative vanishes.
    env = awmkit.envs.make("harvest", horizon=5)
    model = awmkit.models.make("simulator", env, key=jax.random.key(0))
    paths = awmkit.diagnostics.gradient_paths(model, 5)
    np.testing.assert_array_equal(paths.applications[-1], [5.0, 4.0, 3.0, 2.0, 1.0])

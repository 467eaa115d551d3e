"""The state-space Actions World Model: parallel and step modes, causality, the one-pass policy
gradient, gradient paths and the spectral-radius bound."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import finite_difference_grad
from hypothesis import Phase, given, settings, strategies as st
from test_models import leaves_close, make_policy, policy_grad, quadratic_reward

import awmkit
from awmkit.models import ActionsModel, SSMBackbone
from awmkit.nn import DiagonalSSM, StateSpaceModel


def small_ssm(state_dim, action_dim, max_horizon, key, **kwargs):
    kb, km = jax.random.split(key)
    kwargs = {"state_size": 8, "mlp_width": 16, **kwargs}
    backbone = SSMBackbone(12, state_dim, key=kb, **kwargs)
    return ActionsModel(state_dim, action_dim, max_horizon, backbone=backbone, embed_size=12, key=km)


def scan_steps(module, tokens, state):
    def body(state, token):
        out, state = module.step(token, state)
        return state, out

    return jax.lax.scan(body, state, tokens)


# --- the layer -----------------------------------------------------------------------------------------


def test_eigenvalues_lie_inside_the_unit_circle(getkey):
    layer = DiagonalSSM(6, 16, r_min=0.2, r_max=0.99, key=getkey())
    lr, li = layer.eigenvalues()
    modulus = jnp.sqrt(lr**2 + li**2)
    assert bool(jnp.all(modulus < 1.0)) and bool(jnp.all(modulus >= 0.2 - 1e-6))
    np.testing.assert_allclose(layer.spectral_radius(), jnp.max(modulus), rtol=1e-6)
    # Any parameter value keeps it stable: the modulus is exp(-exp(nu)).
    wild = eqx.tree_at(lambda m: m.nu_log, layer, 3.0 * jax.random.normal(getkey(), (16,)))
    assert float(wild.spectral_radius()) < 1.0
    with pytest.raises(ValueError, match="r_max"):
        DiagonalSSM(6, 4, r_min=0.5, r_max=1.0, key=getkey())


@pytest.mark.parametrize("length", [1, 2, 37])
def test_parallel_and_step_modes_agree(length, getkey, x64):
    net = StateSpaceModel(10, depth=2, state_size=6, mlp_width=12, r_min=0.5, key=getkey())
    tokens = jax.random.normal(getkey(), (length, 10))
    parallel = eqx.filter_jit(lambda n, t: n(t))(net, tokens)
    state, stepped = eqx.filter_jit(lambda n, t: scan_steps(n, t, n.init_state()))(net, tokens)
    assert parallel.dtype == jnp.float64
    np.testing.assert_allclose(parallel, stepped, rtol=1e-12, atol=1e-12)
    assert state.shape == (2, 2, 6)
    # The single layer as well, against the recurrence written out in complex arithmetic (NumPy).
    layer = net.blocks[0].ssm
    lr, li = map(np.asarray, layer.eigenvalues())
    lam, gamma = lr + 1j * li, np.exp(np.asarray(layer.gamma_log))
    B = np.asarray(layer.B_re) + 1j * np.asarray(layer.B_im)
    C = np.asarray(layer.C_re) + 1j * np.asarray(layer.C_im)
    h, ys = np.zeros(6, np.complex128), []
    for u in np.asarray(tokens):
        h = lam * h + gamma * (B @ u)
        ys.append(np.real(C @ h) + np.asarray(layer.D) * u)
    np.testing.assert_allclose(layer(tokens), np.stack(ys), rtol=1e-12, atol=1e-12)


def test_generation_with_a_policy_equals_the_parallel_pass(getkey, x64):
    horizon = 12
    model = small_ssm(3, 2, horizon, getkey())
    policy = make_policy(3, 2, getkey())
    s0, key = jax.random.normal(getkey(), (3,)), getkey()

    @eqx.filter_jit
    def both(model, policy):
        generated = model.imagine_sequential(s0, policy, horizon, key, reward_fn=quadratic_reward)
        shortcut = model.imagine(s0, policy, horizon, key, reward_fn=quadratic_reward)
        return generated, shortcut, model.rollout_actions(s0, generated.actions)

    generated, shortcut, parallel = both(model, policy)
    np.testing.assert_allclose(generated.states, parallel, rtol=1e-12, atol=1e-12)
    for a, b in zip(jax.tree.leaves(generated), jax.tree.leaves(shortcut)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    # The policy was in the loop: the actions vary along the rollout.
    assert float(jnp.std(generated.actions[:, 0])) > 1e-3


# --- causality -----------------------------------------------------------------------------------------


def test_predictions_never_depend_on_later_actions(getkey):
    horizon = 9
    model = small_ssm(2, 2, horizon, getkey())
    s0 = jax.random.normal(getkey(), (2,))
    actions = jax.random.uniform(getkey(), (horizon, 2), minval=-1, maxval=1)
    states = jnp.zeros((horizon, 2))
    jac = eqx.filter_jit(lambda m, a: jax.jacrev(lambda a: m.predict(s0, states, a))(a))(model, actions)
    norms = jnp.sqrt(jnp.sum(jac**2, axis=(1, 3)))  # [prediction of s_{t+1}, action k]
    for t in range(horizon):
        assert float(jnp.max(norms[t, t + 1 :], initial=0.0)) == 0.0
        assert bool(jnp.all(norms[t, : t + 1] > 0.0))
    # Changing the later actions leaves the earlier predictions bit-for-bit unchanged.
    predict = eqx.filter_jit(lambda m, a: m.predict(s0, states, a))
    base = predict(model, actions)
    for t in (0, 4, horizon - 1):
        changed = actions.at[t:].set(jax.random.uniform(getkey(), (horizon - t, 2), minval=-1, maxval=1))
        np.testing.assert_array_equal(predict(model, changed)[:t], base[:t])
    np.testing.assert_array_equal(eqx.filter_jit(lambda m: m.predict(s0, states + 1.0, actions))(model), base)


# --- policy gradients ----------------------------------------------------------------------------------


def test_one_pass_policy_gradient_equals_generation_and_finite_differences(getkey, x64):
    horizon = 10
    model = small_ssm(2, 1, horizon, getkey())
    policy = make_policy(2, 1, getkey())
    s0, key = jax.random.normal(getkey(), (2,)), getkey()
    value, shortcut = policy_grad(model, policy, s0, horizon, key, value=True)
    reference, exact = policy_grad(model, policy, s0, horizon, key, method="sequential", value=True)
    np.testing.assert_allclose(value, reference, rtol=1e-11)
    leaves_close(shortcut, exact, rtol=1e-9)
    assert float(jnp.linalg.norm(exact.weight)) > 1e-3

    # Without the stop-gradient, the sequential path through the step mode is used; it matches
    # finite differences of the whole objective.
    @eqx.filter_jit
    def objective(weight, bias, model):
        p = eqx.tree_at(lambda p: (p.weight, p.bias), policy, (weight, bias))
        return model.policy_objective(p, s0, quadratic_reward, horizon, key, stop_gradient=False)[0]

    full = policy_grad(model, policy, s0, horizon, key, stop_gradient=False)
    fd = finite_difference_grad(lambda w: objective(w, policy.bias, model), policy.weight)
    np.testing.assert_allclose(full.weight, fd, rtol=1e-6, atol=1e-9)


def test_stop_gradient_objective_matches_finite_differences(getkey, x64):
    """Equation 3 by finite differences: with the states the policy sees held fixed at the
    unperturbed rollout, J is a function of the actions only, a_k = pi_theta(s_k)."""
    horizon = 8
    model = small_ssm(2, 1, horizon, getkey())
    policy = make_policy(2, 1, getkey())
    s0, key = jax.random.normal(getkey(), (2,)), getkey()
    grad = policy_grad(model, policy, s0, horizon, key)
    seen = model.imagine(s0, policy, horizon, key).states[:-1]
    step_keys = jax.random.split(key, horizon)

    @eqx.filter_jit
    def frozen_objective(weight):
        p = eqx.tree_at(lambda p: p.weight, policy, weight)
        actions = jax.vmap(p)(seen, jnp.arange(horizon), step_keys)
        states = model.rollout_actions(s0, actions)
        rewards = jax.vmap(quadratic_reward)(states[:-1], actions, states[1:], jnp.arange(horizon))
        return jnp.sum(rewards)

    fd = finite_difference_grad(frozen_objective, policy.weight)
    np.testing.assert_allclose(grad.weight, fd, rtol=1e-6, atol=1e-9)


# --- the model by name, long horizons and diagnostics --------------------------------------------------


@pytest.mark.slow  # tens of seconds on 2 cores; the default suite keeps a faster test of the same feature
def test_make_awm_ssm_handles_long_horizons(getkey):
    env = awmkit.envs.make("cancer_treatment", horizon=2000)
    assert "awm-ssm" in awmkit.models.names()
    model = awmkit.models.make("awm-ssm", env, key=getkey(), embed_size=12)
    assert isinstance(model.backbone, SSMBackbone) and model.max_horizon == 2000 and not model.remat
    policy = make_policy(env.state_dim, env.action_dim, getkey())
    value, grads = policy_grad(model, policy, env.reset(), 2000, getkey(), value=True)
    assert bool(jnp.isfinite(value)) and all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grads))
    with pytest.raises(ValueError, match="ssm"):
        ActionsModel(2, 1, backbone="s4", key=getkey())


def test_gradient_paths_are_one_application_at_every_lag(getkey):
    horizon = 6
    model = small_ssm(2, 1, horizon, getkey())
    paths = awmkit.diagnostics.gradient_paths(model, horizon)
    lags = paths.by_lag("applications")
    assert all(v == (1.0, 1.0) for v in lags.values())
    # The matrix-multiply depth is constant too: the embedding (the authors' MLP, three layers), B, C
    # and the gated MLP of each layer, the read-out; the associative scan itself is elementwise.
    matmuls = set(paths.by_lag("matmuls").values())
    assert len(matmuls) == 1 and next(iter(matmuls))[0] == 3 + 4 * 2 + 1
    jac = awmkit.diagnostics.action_jacobians(model, jnp.zeros(2), jnp.full((horizon, 1), 0.3))
    assert bool(jnp.all(jac.norms[0] == 0.0)) and bool(jnp.all(jnp.diagonal(jac.norms[1:]) > 0.0))


# --- the spectral-radius bound (Theorem 2 for the SSM) -------------------------------------------------


def _random_ssm(seed, log_radius, weight_scale, skip_scale):
    """A random small SSM AWM, its eigenvalue moduli spread over (0, exp(-10^log_radius)) and its
    projections and skips rescaled, to explore far from the initialisation."""
    keys = jax.random.split(jax.random.key(seed), 6)
    model = small_ssm(2, 2, 10, keys[0])
    layers = [block.ssm for block in model.backbone.ssm.blocks]
    nu = [log_radius + jax.random.uniform(k, (8,), maxval=2.0) for k in jax.random.split(keys[1], 2)]
    model = eqx.tree_at(lambda m: [s.nu_log for s in layers_of(m)], model, nu)
    model = eqx.tree_at(
        lambda m: [w for s in layers_of(m) for w in (s.B_re, s.B_im, s.C_re, s.C_im)],
        model,
        [weight_scale * w for s in layers for w in (s.B_re, s.B_im, s.C_re, s.C_im)],
    )
    model = eqx.tree_at(lambda m: [s.D for s in layers_of(m)], model, [skip_scale * s.D for s in layers])
    s0 = jax.random.normal(keys[2], (2,))
    actions = jax.random.uniform(keys[3], (10, 2), minval=-1, maxval=1)
    return model, s0, actions, keys[4], keys[5]


def layers_of(model):
    return [block.ssm for block in model.backbone.ssm.blocks]


@settings(max_examples=3, deadline=None, phases=(Phase.explicit, Phase.generate), derandomize=True)
@given(
    seed=st.integers(0, 2**16),
    log_radius=st.floats(-7.0, 0.5),
    weight_scale=st.floats(0.2, 5.0),
    skip_scale=st.floats(0.0, 3.0),
)
def test_spectral_radius_bound_is_never_below_the_measured_norms(seed, log_radius, weight_scale, skip_scale):
    with jax.enable_x64(True):
        model, s0, actions, kp, kr = _random_ssm(seed, log_radius, weight_scale, skip_scale)
        bound = awmkit.diagnostics.ssm_bound(model, s0, actions)
        jac = awmkit.diagnostics.action_jacobians(model, s0, actions).norms[1:]  # rows t = 1..H
        assert bool(jnp.all(bound.spectral_radius < 1.0))
        assert bool(jnp.all(bound.pairs >= jac)), float(jnp.min(bound.pairs - jac))
        # The row sums stay below the horizon-free constant (the geometric series).
        assert bool(jnp.all(jnp.sum(bound.pairs, axis=1) <= bound.horizon_free * (1 + 1e-12)))
        policy = make_policy(2, 2, kp)
        b = awmkit.diagnostics.bounds(model, policy, s0, quadratic_reward, 10, kr)
        assert bool(jnp.isfinite(b.corollary_ssm)) and float(b.measured) > 0.0
        assert float(b.corollary_ssm) >= float(b.measured)
        assert float(b.corollary_ssm) >= float(b.theorem2) * (1 - 1e-12)  # it bounds each ||G_tk||


@pytest.mark.slow  # 10 s; the default suite keeps test_spectral_radius_bound_is_never_below_the_measured_norms
def test_spectral_radius_bound_does_not_grow_with_the_horizon(getkey):
    model = small_ssm(2, 1, 400, getkey(), r_min=0.5, r_max=0.9)
    s0 = jnp.ones(2)
    sums = []
    for horizon in (50, 400):
        actions = jax.random.uniform(getkey(), (horizon, 1), minval=-1, maxval=1)
        bound = awmkit.diagnostics.ssm_bound(model, s0, actions)
        sums.append(float(jnp.sum(bound.lags)))
        assert sums[-1] <= float(bound.horizon_free) * (1 + 1e-5)
        assert float(jnp.max(bound.spectral_radius)) <= 0.9
    # Far lags decay geometrically (at most 0.9 per step, times a polynomial from the two layers).
    assert float(bound.lags[-1]) < 1e-9 * float(jnp.max(bound.lags))
    with pytest.raises(ValueError, match="SSMBackbone"):
        rnn = awmkit.models.make("awm-rnn", awmkit.envs.make("harvest", horizon=10), key=getkey())
        awmkit.diagnostics.ssm_bound(rnn, s0, jnp.zeros((3, 1)))

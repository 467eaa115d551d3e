import io
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from awmkit.policies import DeterministicPolicy, TanhGaussianPolicy


def test_log_prob_matches_direct_computation(getkey, x64):
    policy = TanhGaussianPolicy(3, 2, horizon=10, key=getkey())
    state = jnp.array([0.3, -1.2, 2.0])
    for k in (0, 4, 9):
        action, logp = policy.sample_and_log_prob(state, k, getkey())
        mean, log_std = policy.distribution(state, k)
        u = np.arctanh(np.asarray(action))
        # Change of variables by hand: N(u; mu, sigma) / prod |d tanh(u) / du|.
        direct = np.sum(scipy.stats.norm.logpdf(u, np.asarray(mean), np.exp(np.asarray(log_std))))
        direct -= np.sum(np.log(1.0 - np.tanh(u) ** 2))
        assert math.isclose(float(logp), direct, rel_tol=1e-8, abs_tol=1e-8)
        assert math.isclose(float(policy.log_prob(state, k, action)), direct, rel_tol=1e-6, abs_tol=1e-6)


def test_tanh_density_integrates_to_one(getkey, x64):
    # The tanh correction is right iff exp(log_prob) is a density on (-1, 1).
    policy = TanhGaussianPolicy(1, 1, horizon=5, key=getkey())
    state = jnp.array([0.7])
    grid = np.linspace(-1 + 1e-9, 1 - 1e-9, 400_001)
    log_probs = jax.vmap(lambda a: policy.log_prob(state, 2, a[None]))(jnp.asarray(grid))
    mass = np.trapezoid(np.exp(np.asarray(log_probs)), grid)
    assert abs(mass - 1.0) < 1e-4
    # And the uncorrected Gaussian density of u would not be one on the action scale.
    mean, log_std = policy.distribution(state, 2)
    wrong = scipy.stats.norm.pdf(np.arctanh(grid), float(mean[0]), math.exp(float(log_std[0])))
    assert abs(np.trapezoid(wrong, grid) - 1.0) > 1e-2


def test_sampling_is_reparameterised_and_in_bounds(getkey):
    policy = TanhGaussianPolicy(2, 3, horizon=8, key=getkey())
    state = jnp.array([0.5, -0.5])
    keys = jax.random.split(getkey(), 256)
    actions = eqx.filter_jit(jax.vmap(lambda k: policy(state, 3, k)))(keys)
    assert actions.shape == (256, 3)
    assert bool(jnp.all(jnp.abs(actions) <= 1.0))
    assert float(jnp.std(actions)) > 0.01
    assert jnp.allclose(policy(state, 3, None), jnp.tanh(policy.distribution(state, 3)[0]))
    assert jnp.allclose(policy.deterministic(state, 3), policy(state, 3))

    key = getkey()
    grads = eqx.filter_jit(eqx.filter_grad(lambda p: jnp.sum(p(state, 3, key))))(policy)
    assert float(jnp.abs(grads.mlp.layers[0].weight).sum()) > 0


def test_time_input_changes_the_action(getkey):
    policy = TanhGaussianPolicy(1, 1, horizon=4, key=getkey())
    state = jnp.array([0.1])
    actions = [float(policy.deterministic(state, k)[0]) for k in range(4)]
    assert len(set(actions)) == 4


def test_normaliser_is_used_saved_and_never_trained(getkey):
    policy = TanhGaussianPolicy(2, 1, horizon=4, key=getkey())
    normalised = policy.with_normaliser(jnp.array([10.0, -3.0]), jnp.array([2.0, 0.0]))
    assert jnp.allclose(normalised.features(jnp.array([12.0, -3.0]), 2), jnp.array([1.0, 0.0, 0.5]))
    assert float(normalised.state_std[1]) > 0  # a constant dimension does not divide by zero
    grads = eqx.filter_grad(lambda p: jnp.sum(p.deterministic(jnp.array([1.0, 2.0]), 1)))(normalised)
    assert float(jnp.abs(grads.state_mean).sum()) == 0 and float(jnp.abs(grads.state_std).sum()) == 0

    buffer = io.BytesIO()
    eqx.tree_serialise_leaves(buffer, normalised)
    buffer.seek(0)
    loaded = eqx.tree_deserialise_leaves(buffer, TanhGaussianPolicy(2, 1, horizon=4, key=getkey()))
    assert bool(eqx.tree_equal(loaded, normalised))

    with pytest.raises(ValueError, match="state_dim"):
        policy.with_normaliser(jnp.zeros(3), jnp.ones(3))


def test_deterministic_policy(getkey):
    policy = DeterministicPolicy(2, 2, horizon=6, key=getkey())
    state = jnp.array([0.2, 0.4])
    a1, logp = policy.sample_and_log_prob(state, 1, getkey())
    assert jnp.array_equal(a1, policy(state, 1, getkey()))
    assert jnp.array_equal(a1, policy(state, 1))
    assert float(logp) == 0.0
    assert bool(jnp.all(jnp.abs(a1) <= 1.0))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(state_dim=0, action_dim=1, horizon=3), "state_dim"),
        (dict(state_dim=1, action_dim=1.5, horizon=3), "action_dim"),
        (dict(state_dim=1, action_dim=1, horizon=-2), "horizon"),
        (dict(state_dim=1, action_dim=1, horizon=3, width_size=0), "width_size"),
        (dict(state_dim=1, action_dim=1, horizon=3, log_std_min=1.0, log_std_max=0.0), "log_std_min"),
    ],
)
def test_bad_arguments(kwargs, match, getkey):
    # Under pytest the runtime type-checker may catch a wrongly typed argument first.
    with pytest.raises((ValueError, TypeError), match=match):
        TanhGaussianPolicy(**kwargs, key=getkey())


def test_hyperparameters_are_json(getkey):
    hp = TanhGaussianPolicy(2, 1, horizon=4, key=getkey()).hyperparameters()
    assert hp == {
        "class": "TanhGaussianPolicy",
        "state_dim": 2,
        "action_dim": 1,
        "horizon": 4,
        "width_size": 64,
        "depth": 2,
        "activation": "tanh",
        "log_std_min": -5.0,
        "log_std_max": 2.0,
        "time_input": "fraction",
    }

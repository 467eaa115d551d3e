"""BPOConfig(profile="authors"): the authors' per-model settings, checked against their definitions."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from awmkit import models
from awmkit.bpo import BPOConfig
from awmkit.bpo._profile import damped_policy_objective
from awmkit.bpo._run import _builders
from awmkit.bpo._train import Program, _policy_objective
from awmkit.envs import make
from awmkit.policies import DeterministicPolicy, TanhGaussianPolicy

H = 6


@pytest.fixture(scope="module")
def env():
    return make("bioreactor", H)


def test_profile_values_and_default():
    default, authors = BPOConfig(), BPOConfig(profile="authors")
    assert default.profile == "awmkit"
    assert (default.policy_time_input, authors.policy_time_input) == ("fraction", "step")
    assert [authors.entropy_reduction(m) for m in (True, False)] == ["sum", "mean"]
    assert [authors.bp_discount(m) for m in (True, False)] == [0.9, 1.0]
    assert default.entropy_reduction(True) == "mean" and default.bp_discount(True) == 1.0
    assert BPOConfig.from_dict(authors.to_dict()) == authors
    with pytest.raises(ValueError, match="BPOConfig.profile must be one of 'awmkit', 'authors'"):
        BPOConfig(profile="paper")


@pytest.mark.parametrize("cls", [TanhGaussianPolicy, DeterministicPolicy])
def test_policy_time_input(cls):
    key = jax.random.key(0)
    s = jnp.array([1.0, 2.0])
    # the authors' policy input: the state and the integer time step (observation = state + timestep)
    step = cls(2, 1, 50, time_input="step", key=key)
    np.testing.assert_allclose(step.features(s, 37), [1.0, 2.0, 37.0])
    fraction = cls(2, 1, 50, key=key)  # awmkit's default: k / H
    np.testing.assert_allclose(fraction.features(s, 37), [1.0, 2.0, 37.0 / 50.0])
    assert step.hyperparameters()["time_input"] == "step"
    with pytest.raises(ValueError, match="`time_input`"):
        cls(2, 1, 50, time_input="seconds", key=key)


def test_default_policy_follows_the_profile(env):
    for config, expected in ((BPOConfig(), "fraction"), (BPOConfig(profile="authors"), "step")):
        _, build_policy = _builders(env, "markovian", None, jnp.float32, config.policy_time_input)
        assert build_policy(jax.random.key(0)).time_input == expected


def test_damping_scales_the_gradient_by_discount_per_predicted_state(env):
    # The authors' svginf step: next_obs = sg(n) + d n - d sg(n) for every predicted state, so with a
    # terminal-only reward the gradient with respect to a_j passes H - j damped states: d ** (H - j).
    model = models.make("markovian", env, key=jax.random.key(1))
    actions = jax.random.uniform(jax.random.key(2), (H, 1), minval=-1.0, maxval=1.0)
    s0 = env.reset()

    def terminal(s, a, n, k):
        return jnp.where(k == H - 1, jnp.sum(n), 0.0)

    def grad(discount):
        def J(acts):
            policy = lambda s, k, key: acts[k]  # noqa: E731 (open loop)
            if discount == 1.0:
                return model.policy_objective(policy, s0, terminal, H, jax.random.key(0))[0]
            return damped_policy_objective(model, policy, s0, terminal, H, jax.random.key(0), discount)[0]

        return jax.grad(J)(actions)

    plain, damped = grad(1.0), grad(0.9)
    factors = 0.9 ** (H - np.arange(H))
    np.testing.assert_allclose(damped[:, 0], factors * plain[:, 0], rtol=2e-4)
    # the value is unchanged
    policy = lambda s, k, key: actions[k]  # noqa: E731
    np.testing.assert_allclose(
        damped_policy_objective(model, policy, s0, terminal, H, jax.random.key(0), 0.9)[0],
        model.policy_objective(policy, s0, terminal, H, jax.random.key(0))[0],
        rtol=1e-6,
    )


def test_markovian_entropy_is_summed_over_time_under_the_authors_profile(env):
    policy = TanhGaussianPolicy(env.state_dim, env.action_dim, H, key=jax.random.key(3))
    params, static = eqx.partition(policy, eqx.is_inexact_array)
    s0 = jnp.stack([env.reset()] * 2)
    keys = jax.random.split(jax.random.key(4), 2)
    model = models.make("markovian", env, key=jax.random.key(5))
    out = {}
    for profile in ("awmkit", "authors"):
        program = Program(env, BPOConfig(profile=profile, entropy_coef=0.1), learn_model=True)
        out[profile] = eqx.filter_jit(_policy_objective)(program, model, params, static, s0, keys)
    # by hand: the entropy estimate -log pi(a_k | sg[s_k]) of every imagined step

    def by_hand(s, key):
        _, traj = model.policy_objective(policy, s, env.reward, H, key)
        _, lp = jax.vmap(policy.sample_and_log_prob)(
            traj.states[:-1], jnp.arange(H), jax.random.split(key, H)
        )
        return traj.total_return, -lp

    returns, per_step = jax.jit(jax.vmap(by_hand))(s0, keys)
    summed, averaged = jnp.mean(jnp.sum(per_step, axis=1)), jnp.mean(jnp.mean(per_step, axis=1))
    loss, (_, entropy) = out["authors"]
    np.testing.assert_allclose(entropy, summed, rtol=1e-5)
    np.testing.assert_allclose(loss, -(jnp.mean(returns) + 0.1 * summed), rtol=1e-5)
    np.testing.assert_allclose(out["awmkit"][1][1], averaged, rtol=1e-5)
    np.testing.assert_allclose(out["awmkit"][0], -(jnp.mean(returns) + 0.1 * averaged), rtol=1e-5)

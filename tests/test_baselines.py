"""Soft Actor-Critic: configuration checks (fast) and a short training run on a small system (slow)."""

import json

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import awmkit
from awmkit.baselines import SACConfig, train_sac
from awmkit.evaluation import normalised_return, results_summary
from awmkit.runs import RunExistsError, load_run

# Small networks and a short run: cancer_treatment at H = 20 is solved to ~0.93 normalised return in
# 4 000 steps (measured, 2 seeds), well above a random policy (0).
SMALL = SACConfig(
    steps=4000,
    warmup_steps=500,
    eval_interval=512,
    batch_size=64,
    critic_width=64,
    policy_width=64,
    critic_lr=1e-3,
    policy_lr=1e-3,
)


def test_table2_defaults_and_bad_config():
    config = SACConfig()
    assert (config.steps, config.warmup_steps, config.batch_size) == (200_000, 1500, 128)
    assert (config.discount, config.polyak) == (0.995, 0.995)
    assert (config.critic_replay_ratio, config.policy_replay_ratio) == (2, 16)
    assert (config.critic_width, config.critic_depth, config.buffer_size) == (256, 2, 1_000_000)
    with pytest.raises(ValueError, match="multiple of `critic_replay_ratio`"):
        SACConfig(critic_replay_ratio=3)
    with pytest.raises(ValueError, match="eval_interval"):
        SACConfig(eval_interval=0)
    with pytest.raises(ValueError, match="warmup_steps"):
        SACConfig(steps=1000, warmup_steps=1500)
    with pytest.raises(ValueError, match="discount"):
        SACConfig(discount=1.5)
    with pytest.raises(ValueError, match="`horizon` is required"):
        train_sac("cancer_treatment", SMALL)
    with pytest.raises(ValueError, match="seeds"):
        train_sac("cancer_treatment", SMALL, horizon=20, seeds=0)


@pytest.fixture(scope="module")
def sac_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("sac") / "cancer_h20"
    return train_sac("cancer_treatment", SMALL, horizon=20, seeds=2, key=0, out=run_dir)


@pytest.mark.slow
def test_sac_improves_over_random(sac_run):
    final = normalised_return(sac_run.final_return, "cancer_treatment", 20)
    first = normalised_return(sac_run.eval_returns[0], "cancer_treatment", 20)
    assert np.all(final > 0.8)  # random is 0, optimal 1
    assert final.mean() > first.mean()
    # An independent check of the trained policies: roll each seed's deterministic policy out.
    env = awmkit.envs.make("cancer_treatment", 20)
    for seed in range(2):
        policy = jax.tree.map(lambda x, i=seed: x[i] if eqx.is_array(x) else x, sac_run.policy)
        ret = awmkit.envs.rollout(env, lambda s, k, key, p=policy: p(s, k, None)).total_return
        assert float(ret) == pytest.approx(sac_run.final_return[seed], rel=1e-5)
        sampled = awmkit.envs.rollout(env, policy, jax.random.key(seed)).actions
        assert bool(jnp.all(jnp.abs(sampled) <= 1.0))


@pytest.mark.slow
def test_sac_writes_the_shared_run_directory_format(sac_run):
    run = load_run(sac_run.out)
    assert run.algo == "sac" and run.model is None and run.horizon == 20 and run.seeds == 2
    assert run.config["entropy_coef"] == SMALL.entropy_coef and run.config["key"] == 0
    np.testing.assert_allclose(run.final_returns(), sac_run.final_return)
    curves = run.learning_curves()
    assert sorted(curves) == [0, 1]
    np.testing.assert_array_equal(curves[0][0], sac_run.eval_steps)
    assert {"critic_loss", "policy_loss", "entropy", "q_mean"} <= set(run.metrics[-1])
    assert (sac_run.out / "learning_curve.png").is_file()
    assert json.loads((sac_run.out / "result.json").read_text())["env_steps"] == int(sac_run.eval_steps[-1])
    summary = results_summary([run], n_resamples=200)
    assert summary["overall"][0]["algo"] == "sac" and summary["overall"][0]["iqm"]["estimate"] > 0.8
    # The checkpoint restores the policies.
    restored = eqx.tree_deserialise_leaves(sac_run.out / "checkpoints" / "policies.eqx", sac_run.policy)
    assert bool(eqx.tree_equal(restored, sac_run.policy))
    with pytest.raises(RunExistsError, match="already holds a run"):
        train_sac("cancer_treatment", SMALL, horizon=20, out=sac_run.out)

"""The authors' update schedule (environment steps between updates) and time-averaged entropy."""

import json
import os
import signal
import subprocess
import sys
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import awmkit
from awmkit.bpo import BPOConfig, read_checkpoint, train
from awmkit.bpo._train import Program, _policy_objective
from awmkit.models import SimulatorModel
from awmkit.policies import TanhGaussianPolicy


def _authors_loop(steps: int, warmup: int, every: int) -> int:
    """The authors' ``for i in range(num_steps): if i % every == 0 and i > warmup_steps: update``."""
    return sum(1 for i in range(steps) if i % every == 0 and i > warmup)


def test_expected_counts_are_the_authors_loop():
    c = BPOConfig(steps=3000, warmup_steps=1500)
    # authors-code.md: over 3 000 steps with warm-up 1 500, 749 model and 94 policy updates.
    assert (c.expected_dynamics_updates(), c.expected_policy_updates()) == (749, 94)
    assert BPOConfig().expected_dynamics_updates() == _authors_loop(200_000, 1500, 2) == 99_249
    for steps, warmup, every in [
        (1700, 1500, 2),
        (1700, 1500, 16),
        (997, 33, 7),
        (640, 100, 16),
        (50, 20, 1),
    ]:
        config = BPOConfig(steps=steps, warmup_steps=warmup, dynamics_update_every=every)
        assert config.expected_dynamics_updates() == _authors_loop(steps, warmup, every)
        for horizon in (1, 7, 20, 37, 100):
            if steps < config.warmup_episodes(horizon) * horizon + horizon:
                continue
            per_iteration = config.updates_per_iteration(every, horizon)
            assert len(per_iteration) == config.iterations(horizon) and min(per_iteration) >= 0
            assert sum(per_iteration) == _authors_loop(steps, warmup, every)
    assert BPOConfig(dynamics_update_every=0).expected_dynamics_updates() == 0


@pytest.mark.parametrize(
    "horizon",
    [
        20,
        pytest.param(37, marks=pytest.mark.slow),
        pytest.param(100, marks=pytest.mark.slow),
        pytest.param(500, marks=pytest.mark.slow),
    ],
)
def test_update_counts_over_a_run_equal_the_authors_formula(horizon):
    env = awmkit.envs.make("cancer_treatment", horizon=horizon)
    # A warm-up that is not a whole number of episodes and a budget that ends mid-episode, so both
    # the warm-up's rounding and the cap at `steps` are exercised.
    warmup = horizon + 13
    steps = 2 * horizon + warmup + horizon // 2 + 3
    config = BPOConfig(
        steps=steps,
        warmup_steps=warmup,
        dynamics_batch_size=2,
        policy_batch_size=2,
        eval_interval=10 * steps,
        eval_episodes=1,
        chunk_size=2,
    )

    def tiny(key):
        return awmkit.models.make("markovian", env, key=key, width_sizes=(8,))

    result = train(env, config, model=tiny, key=0, seeds=2, progress=False)
    expected = (_authors_loop(steps, warmup, 2), _authors_loop(steps, warmup, 16))
    assert expected == (config.expected_dynamics_updates(), config.expected_policy_updates())
    np.testing.assert_array_equal(result.state.dynamics_updates, [expected[0]] * 2)
    np.testing.assert_array_equal(result.state.policy_updates, [expected[1]] * 2)


@pytest.mark.slow
def test_update_loops_agree():
    """The while loop and the masked scan are two ways of running the same updates."""
    horizon = 20
    env = awmkit.envs.make("cancer_treatment", horizon=horizon)
    config = BPOConfig(
        steps=5 * horizon, warmup_steps=30, dynamics_batch_size=2, policy_batch_size=2, chunk_size=4,
        eval_interval=10_000, eval_episodes=1,
    )  # fmt: skip
    from awmkit.bpo._train import chunk_program, init_program

    keys = jax.random.split(jax.random.key(0), 2)
    models = eqx.filter_vmap(lambda k: awmkit.models.make("markovian", env, key=k, width_sizes=(8,)))(keys)
    policies = eqx.filter_vmap(lambda k: TanhGaussianPolicy(env.state_dim, env.action_dim, horizon, key=k))(
        keys
    )
    states = []
    for loop in ("while", "masked"):
        program = Program(env, config, learn_model=True, update_loop=loop)
        state, _ = init_program(program, models, policies, keys)
        state, _ = chunk_program(program, state, jnp.asarray(0, jnp.int32))
        states.append(state)
    assert int(states[0].dynamics_updates[0]) == sum(config.updates_per_iteration(2, horizon)[:4])
    for a, b in zip(
        jax.tree.leaves(eqx.filter(states[0], eqx.is_array)),
        jax.tree.leaves(eqx.filter(states[1], eqx.is_array)),
    ):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="update_loop"):
        Program(env, config, learn_model=True, update_loop="unrolled")


def _entropy_term(horizon: int, batch: int) -> float:
    env = awmkit.envs.make("cancer_treatment", horizon=horizon)
    config = BPOConfig(steps=10 * horizon, warmup_steps=horizon)
    program = Program(env, config, learn_model=False)
    policy = TanhGaussianPolicy(env.state_dim, env.action_dim, horizon, key=jax.random.key(0))
    # A policy of fixed spread: mean 0 and log-std -0.5 whatever the state and time.
    last = policy.mlp.layers[-1]
    bias = jnp.concatenate(
        [jnp.zeros(env.action_dim), jnp.full(env.action_dim, jnp.arctanh(4.5 / 7 * 2 - 1))]
    )
    policy = eqx.tree_at(lambda p: (p.mlp.layers[-1].weight, p.mlp.layers[-1].bias), policy,
                         (jnp.zeros_like(last.weight), bias))  # fmt: skip
    params, static = eqx.partition(policy, eqx.is_inexact_array)
    s0 = jnp.broadcast_to(env.reset(), (batch, env.state_dim))
    keys = jax.random.split(jax.random.key(horizon), batch)
    _, (_, entropy) = _policy_objective(program, SimulatorModel(env), params, static, s0, keys)
    return float(entropy)


def test_entropy_term_does_not_grow_with_the_horizon():
    short, long = _entropy_term(20, 2000), _entropy_term(500, 80)
    # Both average 40 000 per-step estimates of the same per-step entropy; a sum over time would
    # make the long one 25 times larger.
    assert abs(short - long) < 0.03, (short, long)
    # The tanh-Gaussian with sigma = exp(-0.5): Gaussian entropy plus E[log(1 - tanh(u)^2)].
    u = np.exp(-0.5) * np.random.default_rng(0).standard_normal(1_000_000)
    per_coordinate = 0.5 * np.log(2 * np.pi * np.e) - 0.5 + np.mean(np.log1p(-(np.tanh(u) ** 2)))
    exact = awmkit.envs.make("cancer_treatment", horizon=20).action_dim * per_coordinate
    assert abs(short - exact) < 0.03 and abs(long - exact) < 0.03, (short, long, exact)


# --- the counts survive a SIGKILL and a resume in a new process -------------------------------------

_FLAGS = [
    "--env", "cancer_treatment", "--model", "markovian", "--horizon", "20", "--seeds", "2", "--key", "3",
    "--steps", "1230", "--warmup-steps", "25", "--dynamics-batch-size", "4", "--policy-batch-size", "4",
    "--eval-interval", "200", "--eval-episodes", "1", "--chunk-size", "2", "--no-progress",
]  # fmt: skip


def _cli(args, **kwargs):
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")])),
    }
    return subprocess.Popen([sys.executable, "-m", "awmkit", "train", *args], env=env, **kwargs)


@pytest.mark.slow
def test_update_counts_survive_sigkill_and_resume(tmp_path):
    out = tmp_path / "run"
    checkpoint = out / "checkpoints" / "checkpoint.eqx"
    process = _cli([*_FLAGS, "--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline and process.poll() is None:
            if checkpoint.exists() and read_checkpoint(checkpoint)[0]["chunk"] >= 2:
                break
            time.sleep(0.05)
        assert process.poll() is None, process.stderr.read().decode()
        process.send_signal(signal.SIGKILL)
        process.wait()
    finally:
        if process.poll() is None:
            process.kill()
    header, _ = read_checkpoint(checkpoint)
    assert 2 <= header["chunk"] < header["num_chunks"] and not (out / "result.json").exists()

    resumed = _cli(
        [*_FLAGS, "--out", str(out), "--resume", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    stdout, stderr = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, stderr.decode()
    summary = json.loads(stdout)
    config = BPOConfig(steps=1230, warmup_steps=25)
    expected = (config.expected_dynamics_updates(), config.expected_policy_updates())
    assert expected == (_authors_loop(1230, 25, 2), _authors_loop(1230, 25, 16)) == (602, 75)
    assert summary["dynamics_updates"] == [expected[0]] * 2
    assert summary["policy_updates"] == [expected[1]] * 2
    result = json.loads((out / "result.json").read_text())
    assert (result["dynamics_updates"], result["policy_updates"]) == ([602] * 2, [75] * 2)

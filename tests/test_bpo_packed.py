"""Many runs in one compiled program (awmkit.bpo.train_packed): a packed run equals each of its runs
made alone, bit for bit on the CPU in float32."""

import dataclasses

import numpy as np
import pytest
from state_compare import bit_identical

import awmkit
from awmkit.bpo import PER_RUN_FIELDS, BPOConfig, check_packable, pack, train, train_packed
from awmkit.bpo._packed import rows_of as _rows

H = 20
CONFIG = BPOConfig(
    steps=6 * H,
    warmup_steps=H,
    dynamics_batch_size=4,
    policy_batch_size=4,
    policy_lr=1e-3,
    eval_interval=2 * H,
    eval_episodes=2,
    chunk_size=2,
)
# The paper's entropy sweep end points, with different learning rates and clips as well.
SETTINGS = [
    dataclasses.replace(CONFIG, entropy_coef=0.1),
    dataclasses.replace(CONFIG, entropy_coef=0.001, policy_lr=3e-4, dynamics_lr=3e-3, policy_grad_clip=1.0),
]


@pytest.fixture(scope="module")
def env():
    return awmkit.envs.make("cancer_treatment", horizon=H)


def _check_equal(env, model, settings, seeds):
    packed = train_packed(env, settings, model=model, key=3, seeds=seeds)
    assert packed[0].num_traces == 1
    for config, got in zip(settings, packed):
        alone = train(env, config, model=model, key=3, seeds=seeds)
        assert got.config == config and got.seeds == alone.seeds
        assert bit_identical(alone.state, got.state)
        assert np.array_equal(alone.eval_returns, got.eval_returns)
        assert np.array_equal(alone.eval_steps, got.eval_steps)
    # The settings really differ (else the check above could not fail on a mixed-up row).
    assert not np.array_equal(packed[0].eval_returns, packed[1].eval_returns)
    return packed


def test_packed_runs_equal_runs_made_alone(env):
    """Two settings x one seed packed in one program against seed 0 of each setting trained on its own
    (with a second seed, so that both programs have two rows: the CPU compiles one program for all
    three runs, since per-run values are program inputs, not constants)."""
    packed = train_packed(env, SETTINGS, model="markovian", key=3, seeds=[0])
    assert packed[0].num_traces == 1
    for config, got in zip(SETTINGS, packed):
        alone = train(env, config, model="markovian", key=3, seeds=2)
        assert alone.num_traces == 0  # the packed run's compilation served it
        assert bit_identical(_rows(alone.state, slice(0, 1)), got.state)
        assert np.array_equal(alone.eval_returns[:, :1], got.eval_returns)
    assert not np.array_equal(packed[0].eval_returns, packed[1].eval_returns)


@pytest.mark.slow  # two markovian compiles, ~40 s on 2 cores
def test_packed_runs_with_model_learning_equal_runs_made_alone(env):
    _check_equal(env, "markovian", SETTINGS, 2)


@pytest.mark.slow  # a transformer compile; ~1 min on 2 cores
def test_packed_runs_in_one_vmapped_group_equal_runs_made_alone(env):
    """The GPU's layout (every row in one vmapped group) on the CPU, with the transformer and three
    entropy settings: still bit-identical on the CPU (measured, 2026-12-04)."""
    settings = [
        dataclasses.replace(c, seed_group_size=6)
        for c in (*SETTINGS, dataclasses.replace(CONFIG, entropy_coef=0.01))
    ]
    _check_equal(env, "awm-transformer", settings, 2)


def test_pack_refuses_a_shape_changing_field(env):
    other = dataclasses.replace(CONFIG, policy_batch_size=8)
    with pytest.raises(ValueError, match=r"configs\[1\]\.policy_batch_size=8 differs"):
        check_packable([CONFIG, other])
    with pytest.raises((ValueError, TypeError)):  # jaxtyping's check comes first under pytest
        check_packable(CONFIG)
    with pytest.raises(ValueError, match="stop_gradient"):
        pack(env, [CONFIG, dataclasses.replace(CONFIG, stop_gradient=False)], model="markovian", key=0)
    assert check_packable(SETTINGS) is SETTINGS[0]
    assert set(PER_RUN_FIELDS) == {"entropy_coef", "dynamics_lr", "policy_lr", "policy_grad_clip"}

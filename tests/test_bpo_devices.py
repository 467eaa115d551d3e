"""Seed groups and device sharding of BPO runs (awmkit.bpo._devices)."""

import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from state_compare import bit_identical, leaves  # noqa: E402

import awmkit
from awmkit.bpo import BPOConfig, seed_layout, train
from awmkit.runs import RunDir

H = 20
# Three chunks of two episodes (the last one padded); only fields every schedule keeps.
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


@pytest.fixture(scope="module")
def env():
    return awmkit.envs.make("cancer_treatment", horizon=H)


def _run(env, group, **kwargs):
    config = dataclasses.replace(CONFIG, seed_group_size=group)
    return train(env, config, model="simulator", key=3, seeds=4, progress=False, **kwargs)


@pytest.fixture(scope="module")
def one_group(env):
    return _run(env, 4)


def test_seed_layout_divides_the_seeds():
    assert seed_layout(10, 2) == (1, 2)
    assert seed_layout(10, 4) == (1, 2)  # the largest divisor of 10 not above 4
    assert seed_layout(10, None) == (1, 10)
    assert seed_layout(7, 3) == (1, 1)
    assert seed_layout(3, 8) == (1, 3)
    with pytest.raises((ValueError, TypeError), match="seed_group_size"):
        BPOConfig(seed_group_size=0)


@pytest.mark.slow  # tens of seconds on 2 cores; the default suite keeps a faster test of the same feature
def test_groups_give_each_seed_the_same_bits(env, one_group, tmp_path, monkeypatch):
    """Two groups of two seeds, run one after the other in the chunk, compute exactly what one
    vmapped group of four does; a run may be resumed with another group size."""
    two_groups = _run(env, 2)
    assert two_groups.num_traces == 1
    assert bit_identical(one_group.state, two_groups.state)
    assert np.array_equal(one_group.eval_returns, two_groups.eval_returns)
    # Groups of one seed drop the batch axis altogether (XLA compiles other kernels): equal to rounding.
    singles = _run(env, 1)
    for a, b in zip(leaves(one_group.state), leaves(singles.state)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)

    # Killed after the first chunk with groups of 2, resumed with groups of 4: the same bits.
    original, calls = RunDir.write_checkpoint, []

    def save(self, header, state):
        calls.append(header["chunk"])
        if len(calls) > 2:
            raise KeyboardInterrupt
        original(self, header, state)

    with monkeypatch.context() as m:
        m.setattr(RunDir, "write_checkpoint", save)
        with pytest.raises(KeyboardInterrupt):
            _run(env, 2, out=tmp_path / "run")
    resumed = _run(env, 4, out=tmp_path / "run", resume=True)
    assert bit_identical(one_group.state, resumed.state)


_SHARDED = """
import dataclasses, json, sys
import jax, equinox as eqx, numpy as np
import awmkit
sys.path.insert(0, {tests!r})
from test_bpo_devices import CONFIG, H
from awmkit.bpo import seed_layout, train
assert jax.local_device_count() == 2, jax.devices()
env = awmkit.envs.make("cancer_treatment", horizon=H)
result = train(env, dataclasses.replace(CONFIG, seed_group_size=2), model="simulator", key=3, seeds=4,
               progress=False, out={out!r})
leaves = [np.asarray(x) for x in jax.tree.leaves(eqx.filter(result.state, eqx.is_array))]
np.savez({npz!r}, *leaves)
sharding = jax.tree.leaves(eqx.filter(result.state, eqx.is_array))[0].sharding
print(json.dumps({{"layout": seed_layout(4, 2), "devices": len(sharding.device_set)}}))
"""


@pytest.mark.slow  # tens of seconds on 2 cores; the default suite keeps a faster test of the same feature
def test_seeds_are_sharded_over_local_devices(one_group, tmp_path):
    """With two (forced) host devices each takes two seeds, and every seed's result equals the
    one-device run's to float rounding: XLA compiles the partitioned program into other kernels (the
    sharded run is a second process; this one reads its files)."""
    npz, out = tmp_path / "sharded.npz", tmp_path / "run"
    script = _SHARDED.format(tests=os.path.dirname(__file__), out=str(out), npz=str(npz))
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
    command = [sys.executable, "-c", script]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"layout": [2, 2], "devices": 2}
    with np.load(npz) as data:
        sharded = [data[f"arr_{i}"] for i in range(len(data.files))]
    reference = leaves(one_group.state)
    assert len(sharded) == len(reference)
    for a, b in zip(sharded, reference):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    result = json.loads((out / "result.json").read_text())
    np.testing.assert_allclose(result["final_return"], one_group.final_return, rtol=1e-5)

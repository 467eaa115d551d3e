"""Run fingerprints (``awmkit/_fingerprint.py``): values, never object identities."""

import functools
import json

import jax
import jax.numpy as jnp

import awmkit
from awmkit import _fingerprint


def test_description_holds_names_and_shapes_not_addresses():
    policy = awmkit.policies.TanhGaussianPolicy(1, 1, 20, key=jax.random.key(0))
    text = json.dumps(_fingerprint.describe(policy))
    assert "0x" not in text and "tanh" in text
    assert '"class": "awmkit.policies.TanhGaussianPolicy"' in text
    # Another instance (other weights, other objects) of the same run has the same fingerprint.
    other = awmkit.policies.TanhGaussianPolicy(1, 1, 20, key=jax.random.key(1))
    assert _fingerprint.structure(policy) == _fingerprint.structure(other)
    wider = awmkit.policies.TanhGaussianPolicy(1, 1, 20, width_size=32, key=jax.random.key(0))
    assert _fingerprint.structure(policy) != _fingerprint.structure(wider)
    assert _fingerprint.describe(functools.partial(jnp.sin, 2.0)) != _fingerprint.describe(jnp.cos)


def test_environment_parameters_are_described_by_value():
    a = _fingerprint.describe(awmkit.envs.make("harvest", 20), values=True)
    b = _fingerprint.describe(awmkit.envs.make("harvest", 20, m=0.3), values=True)
    assert [line.split(":")[0] for line in _fingerprint.differences(a, b)] == ["problem.m"]


def test_mismatch_message_puts_the_run_fields_first():
    saved = {"run": {"env": "a", "horizon": 20, "policy_lr": 1e-3}, "structure": "x"}
    current = {"run": {"env": "b", "horizon": 20, "policy_lr": 1e-3}, "structure": "y"}
    message = _fingerprint.mismatch_message("ck.eqx", saved, current)
    assert message.splitlines() == [
        "checkpoint ck.eqx belongs to a different run; to resume it, set --env to the checkpoint's values; "
        "or choose another run directory:",
        "  env: checkpoint has 'a', this run has 'b' (--env)",
        "  (and 1 more difference that follows from those)",
    ]
    assert _fingerprint.mismatch_message("ck.eqx", saved, saved) is None

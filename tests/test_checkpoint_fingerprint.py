"""A checkpoint's structure fingerprint is the same in every process (so a new process can resume it)
and still tells different structures apart."""

import subprocess
import sys

import equinox as eqx
import jax
import jax.numpy as jnp

import awmkit
from awmkit._fingerprint import structure as tree_fingerprint

# The model's structure, as a run computes it (``eqx.filter_eval_shape``: shapes, no initialisation).
_SCRIPT = """
import equinox as eqx, jax, awmkit
from awmkit._fingerprint import structure as tree_fingerprint
env = awmkit.envs.make("cancer_treatment", horizon=10)
print(tree_fingerprint(eqx.filter_eval_shape(awmkit.models.make, "hwm-transformer", env, key=jax.random.key(0))))
"""


def test_fingerprint_is_the_same_in_a_new_process():
    env = awmkit.envs.make("cancer_treatment", horizon=10)
    model = eqx.filter_eval_shape(awmkit.models.make, "hwm-transformer", env, key=jax.random.key(0))
    here = tree_fingerprint(model)
    # A model with static callables: their repr carries memory addresses that differ between processes.
    there = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, check=True)
    assert there.stdout.strip() == here


class _Net(eqx.Module):
    w: jax.Array
    act: object = eqx.field(static=True)


def test_fingerprint_tells_structures_apart():
    base = tree_fingerprint(_Net(jnp.zeros(3), jax.nn.relu))
    # Static fields count by value (a function by its qualified name), never by identity.
    assert tree_fingerprint(_Net(jnp.zeros(3), jax.nn.tanh)) != base
    assert tree_fingerprint(_Net(jnp.zeros(3), jax.nn.relu)) == base
    assert tree_fingerprint(_Net(jnp.zeros(4), jax.nn.relu)) != base
    assert tree_fingerprint(_Net(jnp.zeros(3, jnp.int32), jax.nn.relu)) != base
    assert tree_fingerprint({"w": jnp.zeros(3)}) != base
    assert tree_fingerprint([jnp.zeros(3), jnp.zeros(2)]) != tree_fingerprint([jnp.zeros(2), jnp.zeros(3)])

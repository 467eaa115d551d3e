"""Leaf-wise helpers of the training program: finiteness, global norms, selection and float casts."""

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Bool

from .._typing import RealScalar


def _all_finite(tree) -> Bool[Array, ""]:
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(eqx.filter(tree, eqx.is_inexact_array))]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.array(True)


def _global_norm(tree) -> RealScalar:
    return optax.tree.norm(eqx.filter(tree, eqx.is_inexact_array))


def _select(pred, new, old):
    """``new`` where ``pred`` else ``old``, leaf by leaf over the arrays of two same-structured trees."""
    new_arrays, static = eqx.partition(new, eqx.is_array)
    old_arrays, _ = eqx.partition(old, eqx.is_array)
    chosen = jax.tree.map(lambda n, o: jnp.where(pred, n, o), new_arrays, old_arrays)
    return eqx.combine(chosen, static)


def is_float_dtype(x) -> bool:
    return eqx.is_array(x) and jnp.issubdtype(x.dtype, jnp.floating)


def cast_floats(tree, dtype):
    """Casts every floating array leaf of ``tree`` to ``dtype``."""
    return jax.tree.map(lambda x: x.astype(dtype) if is_float_dtype(x) else x, tree)

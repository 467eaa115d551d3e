"""Comparing trained states leaf by leaf (shared by the BPO tests)."""

import equinox as eqx
import jax
import numpy as np


def leaves(state) -> list[np.ndarray]:
    """The array leaves of ``state`` as NumPy arrays."""
    return [np.asarray(x) for x in jax.tree.leaves(eqx.filter(state, eqx.is_array))]


def bit_identical(a, b) -> bool:
    """Whether two states have the same leaves, dtypes and bits."""
    la, lb = leaves(a), leaves(b)
    return len(la) == len(lb) and all(x.dtype == y.dtype and np.array_equal(x, y) for x, y in zip(la, lb))

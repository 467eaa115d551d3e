"""Shared test helpers: tree comparison and float64 finite-difference gradients."""

import equinox as eqx
import jax.numpy as jnp
import numpy as np


def tree_allclose(x, y, *, rtol=1e-5, atol=1e-8) -> bool:
    """Whether two PyTrees have the same structure and allclose array leaves."""
    return eqx.tree_equal(x, y, typematch=True, rtol=rtol, atol=atol) is True


def finite_difference_grad(fn, x, *, eps=1e-6) -> np.ndarray:
    """Central-difference gradient of a scalar function of one array, evaluated in float64.

    ``fn`` must accept a float64 array shaped like ``x``; call under ``jax.enable_x64(True)``.
    """
    x = np.asarray(x, dtype=np.float64)
    grad = np.zeros_like(x)
    flat = grad.reshape(-1)
    for i in range(x.size):
        step = np.zeros(x.size)
        step[i] = eps
        step = step.reshape(x.shape)
        hi = float(fn(jnp.asarray(x + step)))
        lo = float(fn(jnp.asarray(x - step)))
        flat[i] = (hi - lo) / (2 * eps)
    return grad

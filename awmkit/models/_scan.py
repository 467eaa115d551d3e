"""A ``lax.scan`` with optional block-wise rematerialisation for long differentiable unrolls."""

import math

import jax
import jax.numpy as jnp
import jax.tree_util as jtu


def remat_scan(body, init, xs, length: int, remat: bool):
    """``lax.scan(body, init, xs)``; with ``remat=True`` the steps are grouped into blocks of about
    ``sqrt(length)`` steps whose insides are recomputed on the backward pass (``jax.checkpoint``).

    Reverse-mode memory then holds ``~2 sqrt(length)`` carries instead of one (or two) per step, at the
    price of one extra forward pass. This matters when the carry is large, e.g. the key/value cache of
    a transformer world model, which makes plain backpropagation through ``H`` steps cost ``O(H^2)``.
    """
    if not remat or length < 4:
        return jax.lax.scan(body, init, xs, length=length)
    block = int(math.isqrt(length))
    blocks, rest = divmod(length, block)
    head = jtu.tree_map(lambda x: x[: blocks * block].reshape(blocks, block, *x.shape[1:]), xs)

    @jax.checkpoint
    def run_block(carry, block_xs):
        return jax.lax.scan(body, carry, block_xs)

    carry, ys = jax.lax.scan(run_block, init, head)
    ys = jtu.tree_map(lambda y: y.reshape(blocks * block, *y.shape[2:]), ys)
    if rest:
        tail = jtu.tree_map(lambda x: x[blocks * block :], xs)
        carry, ys_tail = run_block(carry, tail)
        ys = jtu.tree_map(lambda a, b: jnp.concatenate([a, b]), ys, ys_tail)
    return carry, ys

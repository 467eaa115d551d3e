"""Recurrent cells: the vanilla RNN of equation 4 and an LSTM."""

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._typing import Key


def _uniform(key, shape, fan_in, dtype):
    bound = 1.0 / jnp.sqrt(fan_in)
    return jax.random.uniform(key, shape, dtype=dtype, minval=-bound, maxval=bound)


class RNNCell(eqx.Module):
    r"""The vanilla recurrent cell of the paper's equation 4,

    $$x_{t+1} = \sigma(W_x x_t) + W_a a_t + b,$$

    with the input entering *outside* the nonlinearity, so that
    $\partial x_{t+1} / \partial x_t = \operatorname{diag}(\sigma'(W_x x_t)) W_x$ and
    $\partial x_{t+1} / \partial a_t = W_a$ exactly as in the proof of Corollary 2.1. The linear read-out
    $\hat s = W_o x$ belongs to the model using the cell.

    **Arguments:**

    - `input_size`: the size of the input ``a_t``.
    - `hidden_size`: the size of the recurrent state ``x_t``.
    - `activation`: $\sigma$ (default ``tanh``, whose derivative is bounded by ``1``, i.e. $\beta = 1$).
    - `key`: a PRNG key (keyword-only).

    **Fields:** `W_x` ``(hidden, hidden)``, `W_a` ``(hidden, input)``, `b` ``(hidden,)``, initialised
    uniformly in $\pm 1/\sqrt{\text{fan-in}}$.
    """

    W_x: Float[Array, "hidden hidden"]
    W_a: Float[Array, "hidden input"]
    b: Float[Array, " hidden"]
    activation: Callable = eqx.field(static=True)
    input_size: int = eqx.field(static=True)
    hidden_size: int = eqx.field(static=True)

    def __init__(self, input_size: int, hidden_size: int, activation: Callable = jnp.tanh, *, key: Key):
        for name, size in (("input_size", input_size), ("hidden_size", hidden_size)):
            if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
                raise ValueError(f"`{name}` must be a positive integer, got {size!r}")
        kx, ka, kb = jax.random.split(key, 3)
        dtype = jnp.zeros(()).dtype
        self.W_x = _uniform(kx, (hidden_size, hidden_size), hidden_size, dtype)
        self.W_a = _uniform(ka, (hidden_size, input_size), input_size, dtype)
        self.b = _uniform(kb, (hidden_size,), hidden_size, dtype)
        self.activation = activation
        self.input_size = input_size
        self.hidden_size = hidden_size

    def init_state(self, dtype=None) -> Float[Array, " hidden"]:
        """The zero state ``x_0``."""
        return jnp.zeros((self.hidden_size,), dtype=self.b.dtype if dtype is None else dtype)

    def __call__(self, x: Float[Array, " hidden"], a: Float[Array, " input"]) -> Float[Array, " hidden"]:
        """One step: returns $x_{t+1}$ from $x_t$ and the input $a_t$."""
        return self.activation(self.W_x @ x) + self.W_a @ a + self.b


class LSTMCell(eqx.Module):
    r"""A long short-term memory cell (Hochreiter & Schmidhuber, 1997) with state ``(h, c)``:

    $$\begin{aligned} [i, f, g, o] &= W_i a_t + W_h h_t + b, \\
    c_{t+1} &= \sigma(f) \odot c_t + \sigma(i) \odot \tanh(g), \qquad h_{t+1} = \sigma(o) \odot \tanh(c_{t+1}). \end{aligned}$$

    The forget-gate bias starts at ``1`` so that gradients initially flow along ``c``.

    **Arguments:**

    - `input_size`, `hidden_size`: the input and state sizes.
    - `key`: a PRNG key (keyword-only).
    """

    W_i: Float[Array, "four_hidden input"]
    W_h: Float[Array, "four_hidden hidden"]
    b: Float[Array, " four_hidden"]
    input_size: int = eqx.field(static=True)
    hidden_size: int = eqx.field(static=True)

    def __init__(self, input_size: int, hidden_size: int, *, key: Key):
        for name, size in (("input_size", input_size), ("hidden_size", hidden_size)):
            if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
                raise ValueError(f"`{name}` must be a positive integer, got {size!r}")
        ki, kh, kb = jax.random.split(key, 3)
        dtype = jnp.zeros(()).dtype
        self.W_i = _uniform(ki, (4 * hidden_size, input_size), hidden_size, dtype)
        self.W_h = _uniform(kh, (4 * hidden_size, hidden_size), hidden_size, dtype)
        bias = _uniform(kb, (4 * hidden_size,), hidden_size, dtype)
        self.b = bias.at[hidden_size : 2 * hidden_size].add(1.0)
        self.input_size = input_size
        self.hidden_size = hidden_size

    def init_state(self, dtype=None) -> tuple[Float[Array, " hidden"], Float[Array, " hidden"]]:
        """The zero state ``(h_0, c_0)``."""
        zeros = jnp.zeros((self.hidden_size,), dtype=self.b.dtype if dtype is None else dtype)
        return zeros, zeros

    def __call__(
        self, state: tuple[Float[Array, " hidden"], Float[Array, " hidden"]], a: Float[Array, " input"]
    ) -> tuple[Float[Array, " hidden"], Float[Array, " hidden"]]:
        """One step: returns ``(h_{t+1}, c_{t+1})`` from ``(h_t, c_t)`` and the input ``a_t``."""
        h, c = state
        i, f, g, o = jnp.split(self.W_i @ a + self.W_h @ h + self.b, 4)
        c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
        h = jax.nn.sigmoid(o) * jnp.tanh(c)
        return h, c

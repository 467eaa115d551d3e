"""A multi-layer perceptron with a free choice of hidden widths."""

from collections.abc import Callable, Sequence

import equinox as eqx
import jax
from jaxtyping import Array, Float

from .._typing import Key


class MLP(eqx.Module):
    """A fully connected network ``in_size -> width_sizes[0] -> ... -> out_size``.

    The activation follows every hidden layer; the output layer is linear.

    **Arguments:**

    - `in_size`: the input size.
    - `out_size`: the output size.
    - `width_sizes`: the hidden widths, e.g. ``(64, 64)`` (Appendix C.1); ``()`` gives a linear map.
    - `activation`: the hidden activation (default ReLU).
    - `key`: a PRNG key for the initialisation (keyword-only).
    """

    layers: tuple[eqx.nn.Linear, ...]
    activation: Callable = eqx.field(static=True)
    in_size: int = eqx.field(static=True)
    out_size: int = eqx.field(static=True)
    width_sizes: tuple[int, ...] = eqx.field(static=True)

    def __init__(
        self,
        in_size: int,
        out_size: int,
        width_sizes: Sequence[int] = (64, 64),
        activation: Callable = jax.nn.relu,
        *,
        key: Key,
    ):
        width_sizes = tuple(int(w) for w in width_sizes)
        for name, size in (("in_size", in_size), ("out_size", out_size)) + tuple(
            (f"width_sizes[{i}]", w) for i, w in enumerate(width_sizes)
        ):
            if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
                raise ValueError(f"`{name}` must be a positive integer, got {size!r}")
        sizes = (in_size, *width_sizes, out_size)
        keys = jax.random.split(key, len(sizes) - 1)
        self.layers = tuple(eqx.nn.Linear(i, o, key=k) for i, o, k in zip(sizes[:-1], sizes[1:], keys))
        self.activation = activation
        self.in_size = in_size
        self.out_size = out_size
        self.width_sizes = width_sizes

    def __call__(self, x: Float[Array, " in_size"]) -> Float[Array, " out_size"]:
        for layer in self.layers[:-1]:
            x = self.activation(layer(x))
        return self.layers[-1](x)

"""Sequence backbones of Actions World Models: causal maps from a token sequence to predictions."""

import abc
import itertools
from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PyTree

from .._graph import mark_application
from .._typing import Key
from ..nn import CausalTransformer, LSTMCell, RNNCell, StateSpaceModel, cache_lengths
from ._common import check_size


def _mark_together(arrays):
    """Passes the whole new recurrent state through one marker: one step is one application of the
    network, however many layers or (h, c) parts its state has."""
    marked = mark_application(jnp.concatenate(arrays))
    return tuple(jnp.split(marked, list(itertools.accumulate(a.shape[0] for a in arrays[:-1]))))


class AbstractBackbone(eqx.Module):
    """The sequence network inside an [`awmkit.models.ActionsModel`][].

    A backbone is a *causal* map from tokens ``(T, in_size)`` to outputs ``(T, out_size)``: output ``t``
    may depend on tokens ``0, ..., t`` only. The Actions World Model feeds it the embedded initial state
    followed by the embedded actions and reads the predicted states off outputs ``1, ..., H``.

    It can be run two ways that must agree:

    - `__call__(tokens)`: the whole sequence at once (teacher forcing, training, and, when
      `parallel` is ``True``, the policy gradient: one pass over the generated actions);
    - `init_carry(length, dtype)` then `step(token, carry) -> (output, carry)` token by token
      (generation, and the exact sequential policy gradient).

    **Adding a backbone.** Subclass it as a final class: declare the fields (including `in_size`,
    `out_size` and `max_length`, the longest sequence or ``None``), set the class variable `parallel`
    (``True`` when `__call__` processes all tokens at once, as attention or a convolution does;
    ``False`` for a recurrence whose `__call__` is a scan of `step`), and implement the three methods.
    Build it with ``in_size`` equal to the model's `embed_size` and ``out_size`` equal to ``state_dim``
    and pass it as ``ActionsModel(..., backbone=my_backbone)``. So that
    `awmkit.diagnostics` can count gradient-path lengths, pass the output of each application of the
    network through ``awmkit.models.mark_application``: the outputs of a parallel pass, or the new
    recurrent state of each step.
    """

    in_size: eqx.AbstractVar[int]
    out_size: eqx.AbstractVar[int]
    max_length: eqx.AbstractVar[int | None]
    parallel: eqx.AbstractClassVar[bool]

    @abc.abstractmethod
    def __call__(self, tokens: Float[Array, "seq in_size"]) -> Float[Array, "seq out_size"]:
        """All outputs of a token sequence (causal)."""

    @abc.abstractmethod
    def init_carry(self, length: int, dtype) -> PyTree:
        """The state before the first token, for sequences of up to ``length`` tokens."""

    @abc.abstractmethod
    def step(
        self, token: Float[Array, " in_size"], carry: PyTree
    ) -> tuple[Float[Array, " out_size"], PyTree]:
        """The output for the next token and the updated carry."""

    def carry_lengths(self, length: int) -> tuple[int, ...]:
        """Static carry sizes for generating ``length`` tokens in segments: segment ``j`` decodes the
        tokens before position ``lengths[j]`` with a carry built for that many (see `grow_carry`).
        Default ``(length,)``: one segment, for carries whose size does not depend on the length."""
        return (length,)

    def grow_carry(self, carry: PyTree, length: int) -> PyTree:
        """The carry resized for sequences of up to ``length`` tokens (default: unchanged)."""
        return carry


class TransformerBackbone(AbstractBackbone):
    """A [`awmkit.nn.CausalTransformer`][] and a linear read-out; `step` decodes through a KV cache,
    grown between generation segments (`carry_lengths` is `awmkit.nn.cache_lengths`).

    **Arguments:**

    - `in_size`: the token width (the model's embedding size, 72 in the paper).
    - `out_size`: the output size (``state_dim``).
    - `max_length`: the position table size (``max_horizon + 1`` in an Actions World Model).
    - `depth`, `num_heads`, `mlp_width`: 2, 3 and 64 by default (Appendix C.1).
    - `generation_block`: tokens per generation segment (64; at most 8 segments, see
      `awmkit.nn.cache_lengths`); it changes the speed of generation, never its result.
    - `key`: a PRNG key (keyword-only).
    """

    transformer: CausalTransformer
    head: eqx.nn.Linear
    in_size: int = eqx.field(static=True)
    out_size: int = eqx.field(static=True)
    max_length: int = eqx.field(static=True)
    generation_block: int = eqx.field(static=True)
    parallel = True

    def __init__(
        self,
        in_size: int,
        out_size: int,
        max_length: int,
        *,
        depth: int = 2,
        num_heads: int = 3,
        mlp_width: int = 64,
        generation_block: int = 64,
        key: Key,
    ):
        self.generation_block = check_size("generation_block", generation_block)
        kt, kh = jax.random.split(key)
        self.transformer = CausalTransformer(in_size, depth, num_heads, mlp_width, max_length, key=kt)
        self.head = eqx.nn.Linear(in_size, out_size, key=kh)
        self.in_size = check_size("in_size", in_size)
        self.out_size = check_size("out_size", out_size)
        self.max_length = max_length

    def __call__(self, tokens: Float[Array, "seq in_size"]) -> Float[Array, "seq out_size"]:
        hidden = self.transformer(tokens)
        return mark_application(hidden @ self.head.weight.T + self.head.bias[None])

    def init_carry(self, length: int, dtype) -> PyTree:
        return self.transformer.init_cache(length, dtype)

    def step(
        self, token: Float[Array, " in_size"], carry: PyTree
    ) -> tuple[Float[Array, " out_size"], PyTree]:
        hidden, carry = self.transformer.decode(token, carry)
        return mark_application(self.head(hidden)), carry

    def carry_lengths(self, length: int) -> tuple[int, ...]:
        return cache_lengths(length, self.generation_block)

    def grow_carry(self, carry: PyTree, length: int) -> PyTree:
        return carry if carry.length == length else self.transformer.grow_cache(carry, length)


class RNNBackbone(AbstractBackbone):
    r"""A stack of vanilla [`awmkit.nn.RNNCell`][]s (equation 4) and the linear read-out
    $\hat s = W_o x$ of the last layer's state.

    With one layer (``hidden_sizes=(h,)``) this is exactly the $g_{\text{RNN}}$ of equation 4 and
    Corollary 2.1, with $W_x$, $W_a$ at ``cells[0].W_x``, ``cells[0].W_a`` and $W_o$ at `W_o`. The
    default follows Appendix C.1: two layers of 64.

    **Arguments:**

    - `in_size`, `out_size`: the token width and the output size.
    - `hidden_sizes`: the state size of each layer (default ``(64, 64)``).
    - `activation`: the cells' $\sigma$ (default ``tanh``).
    - `key`: a PRNG key (keyword-only).
    """

    cells: tuple[RNNCell, ...]
    W_o: Float[Array, "out hidden"]
    in_size: int = eqx.field(static=True)
    out_size: int = eqx.field(static=True)
    max_length: None = eqx.field(static=True)
    parallel = False

    def __init__(
        self,
        in_size: int,
        out_size: int,
        hidden_sizes: Sequence[int] = (64, 64),
        activation: Callable = jnp.tanh,
        *,
        key: Key,
    ):
        hidden_sizes = tuple(hidden_sizes)
        if not hidden_sizes:
            raise ValueError("`hidden_sizes` must name at least one layer")
        keys = jax.random.split(key, len(hidden_sizes) + 1)
        inputs = (check_size("in_size", in_size), *hidden_sizes[:-1])
        self.cells = tuple(RNNCell(i, h, activation, key=k) for i, h, k in zip(inputs, hidden_sizes, keys))
        bound = 1.0 / jnp.sqrt(hidden_sizes[-1])
        self.W_o = jax.random.uniform(
            keys[-1], (check_size("out_size", out_size), hidden_sizes[-1]), minval=-bound, maxval=bound
        )
        self.in_size = in_size
        self.out_size = out_size
        self.max_length = None

    def init_carry(self, length: int, dtype) -> PyTree:
        return tuple(cell.init_state(dtype) for cell in self.cells)

    def step(
        self, token: Float[Array, " in_size"], carry: PyTree
    ) -> tuple[Float[Array, " out_size"], PyTree]:
        x, new = token, []
        for cell, state in zip(self.cells, carry):
            x = cell(state, x)
            new.append(x)
        new = _mark_together(new)
        return self.W_o @ new[-1], new

    def __call__(self, tokens: Float[Array, "seq in_size"]) -> Float[Array, "seq out_size"]:
        def body(carry, token):
            out, carry = self.step(token, carry)
            return carry, out

        return jax.lax.scan(body, self.init_carry(tokens.shape[0], tokens.dtype), tokens)[1]


class LSTMBackbone(AbstractBackbone):
    """A stack of [`awmkit.nn.LSTMCell`][]s and an affine read-out of the last layer's ``h``.

    **Arguments:**

    - `in_size`, `out_size`: the token width and the output size.
    - `hidden_sizes`: the state size of each layer (default ``(64, 64)``).
    - `key`: a PRNG key (keyword-only).
    """

    cells: tuple[LSTMCell, ...]
    head: eqx.nn.Linear
    in_size: int = eqx.field(static=True)
    out_size: int = eqx.field(static=True)
    max_length: None = eqx.field(static=True)
    parallel = False

    def __init__(self, in_size: int, out_size: int, hidden_sizes: Sequence[int] = (64, 64), *, key: Key):
        hidden_sizes = tuple(hidden_sizes)
        if not hidden_sizes:
            raise ValueError("`hidden_sizes` must name at least one layer")
        keys = jax.random.split(key, len(hidden_sizes) + 1)
        inputs = (check_size("in_size", in_size), *hidden_sizes[:-1])
        self.cells = tuple(LSTMCell(i, h, key=k) for i, h, k in zip(inputs, hidden_sizes, keys))
        self.head = eqx.nn.Linear(hidden_sizes[-1], check_size("out_size", out_size), key=keys[-1])
        self.in_size = in_size
        self.out_size = out_size
        self.max_length = None

    def init_carry(self, length: int, dtype) -> PyTree:
        return tuple(cell.init_state(dtype) for cell in self.cells)

    def step(
        self, token: Float[Array, " in_size"], carry: PyTree
    ) -> tuple[Float[Array, " out_size"], PyTree]:
        x, new = token, []
        for cell, state in zip(self.cells, carry):
            h, c = cell(state, x)
            new.append((h, c))
            x = h
        marked = _mark_together([v for hc in new for v in hc])
        new = tuple((marked[2 * i], marked[2 * i + 1]) for i in range(len(new)))
        return self.head(new[-1][0]), new

    def __call__(self, tokens: Float[Array, "seq in_size"]) -> Float[Array, "seq out_size"]:
        def body(carry, token):
            out, carry = self.step(token, carry)
            return carry, out

        return jax.lax.scan(body, self.init_carry(tokens.shape[0], tokens.dtype), tokens)[1]


class SSMBackbone(AbstractBackbone):
    r"""A [`awmkit.nn.StateSpaceModel`][] (stable diagonal linear recurrences with gated MLPs, LRU /
    S5 style) and a linear read-out.

    It is *parallel*: `__call__` runs every layer's recurrence as one associative scan, so an Actions
    World Model takes its policy gradient as one teacher-forced pass over the generated actions (as
    with the transformer); `step` updates the recurrent state of every layer in ``O(1)`` per token,
    so generation costs ``O(H)`` in all, against the transformer's ``O(H^2)``. There is no position
    table: any horizon is accepted (`max_length` is ``None``).

    **Arguments:**

    - `in_size`: the token width (the model's embedding size, 72 by default).
    - `out_size`: the output size (``state_dim``).
    - `depth`, `state_size`, `mlp_width`: 2 layers of 64 complex modes with gated MLPs of width 64
      by default.
    - `r_min`, `r_max`: the ring of initial eigenvalue moduli (default ``0.9``, ``0.999``).
    - `key`: a PRNG key (keyword-only).
    """

    ssm: StateSpaceModel
    head: eqx.nn.Linear
    in_size: int = eqx.field(static=True)
    out_size: int = eqx.field(static=True)
    max_length: None = eqx.field(static=True)
    parallel = True

    def __init__(
        self,
        in_size: int,
        out_size: int,
        *,
        depth: int = 2,
        state_size: int = 64,
        mlp_width: int = 64,
        r_min: float = 0.9,
        r_max: float = 0.999,
        key: Key,
    ):
        ks, kh = jax.random.split(key)
        self.in_size = check_size("in_size", in_size)
        self.out_size = check_size("out_size", out_size)
        self.ssm = StateSpaceModel(in_size, depth, state_size, mlp_width, r_min=r_min, r_max=r_max, key=ks)
        self.head = eqx.nn.Linear(in_size, out_size, key=kh)
        self.max_length = None

    def __call__(self, tokens: Float[Array, "seq in_size"]) -> Float[Array, "seq out_size"]:
        hidden = self.ssm(tokens)
        return mark_application(hidden @ self.head.weight.T + self.head.bias[None])

    def init_carry(self, length: int, dtype) -> PyTree:
        return self.ssm.init_state(dtype)

    def step(
        self, token: Float[Array, " in_size"], carry: PyTree
    ) -> tuple[Float[Array, " out_size"], PyTree]:
        hidden, carry = self.ssm.step(token, carry)
        return mark_application(self.head(hidden)), carry

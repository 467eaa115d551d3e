"""A GPT-2-style causal transformer over continuous tokens, with a parallel (teacher-forced) forward
pass and incremental decoding through a key/value cache."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from .._typing import IntScalarLike, Key
from ._attention import causal_attention
from ._precision import einsum as _einsum, matmul as _matmul


def _check_positive(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"`{name}` must be a positive integer, got {value!r}")


def _linear(x, layer: eqx.nn.Linear):
    # One matmul over the sequence instead of a vmap of matrix-vector products.
    y = _matmul(x, layer.weight.T)
    return y if layer.bias is None else y + layer.bias.reshape((1,) * (y.ndim - 1) + layer.bias.shape)


def _layer_norm(x, ln: eqx.nn.LayerNorm):
    return jax.vmap(ln)(x) if x.ndim == 2 else ln(x)


class CausalSelfAttention(eqx.Module):
    r"""Multi-head causal self-attention,

    $$\operatorname{Att}(X)_t = \sum_{i \le t} \operatorname{softmax}_i\!\Big(\frac{q_t \cdot k_i}{\sqrt{d_h}}\Big) v_i W_o^\top,
    \qquad q = X W_q^\top,\ k = X W_k^\top,\ v = X W_v^\top.$$

    The three input projections are one fused linear layer `qkv_proj` (weight ``[W_q; W_k; W_v]``,
    one matmul per token or sequence instead of three). The value projection $W_v$ (Corollary 2.2)
    is available as the property `W_v` (likewise `W_q`, `W_k`).

    **Arguments:**

    - `width`: the token width ``d``; must be divisible by `num_heads`.
    - `num_heads`: the number of heads; each has width ``d_h = width // num_heads``.
    - `key`: a PRNG key (keyword-only).
    """

    qkv_proj: eqx.nn.Linear
    out_proj: eqx.nn.Linear
    width: int = eqx.field(static=True)
    num_heads: int = eqx.field(static=True)

    def __init__(self, width: int, num_heads: int, *, key: Key):
        _check_positive("width", width)
        _check_positive("num_heads", num_heads)
        if width % num_heads != 0:
            raise ValueError(f"`width`={width} must be divisible by `num_heads`={num_heads}")
        kqkv, ko = jax.random.split(key)
        # Same initialisation as three separate width -> width layers (uniform in +-1/sqrt(width)).
        self.qkv_proj = eqx.nn.Linear(width, 3 * width, key=kqkv)
        self.out_proj = eqx.nn.Linear(width, width, key=ko)
        self.width = width
        self.num_heads = num_heads

    @property
    def head_size(self) -> int:
        return self.width // self.num_heads

    @property
    def W_q(self) -> Float[Array, "width width"]:
        """The query projection matrix (rows: output features, columns: input features)."""
        return self.qkv_proj.weight[: self.width]

    @property
    def W_k(self) -> Float[Array, "width width"]:
        """The key projection matrix."""
        return self.qkv_proj.weight[self.width : 2 * self.width]

    @property
    def W_v(self) -> Float[Array, "width width"]:
        """The value projection matrix (rows: output features, columns: input features)."""
        return self.qkv_proj.weight[2 * self.width :]

    def _qkv(self, x):
        """``q, k, v`` of shape ``(*x.shape[:-1], heads, head)`` from one fused matmul."""
        qkv = _linear(x, self.qkv_proj).reshape(*x.shape[:-1], 3, self.num_heads, self.head_size)
        return qkv[..., 0, :, :], qkv[..., 1, :, :], qkv[..., 2, :, :]

    def __call__(self, x: Float[Array, "seq width"]) -> Float[Array, "seq width"]:
        """The parallel pass: token ``t`` attends to tokens ``0, ..., t``."""
        q, k, v = self._qkv(x)
        out = causal_attention(q, k, v, 1.0 / math.sqrt(self.head_size))
        return _linear(out.reshape(x.shape[0], self.width), self.out_proj)

    def decode(
        self,
        x: Float[Array, " width"],
        keys: Float[Array, "heads length head"],
        values: Float[Array, "heads length head"],
        index: IntScalarLike,
    ) -> tuple[Float[Array, " width"], Float[Array, "heads length head"], Float[Array, "heads length head"]]:
        """One incremental step: writes the key and value of token ``x`` at position ``index`` of this
        layer's cache (head-major, ``(heads, length, head)``) and attends over positions
        ``0, ..., index``. Returns the output and the updated cache.

        The write is a ``dynamic_update_slice`` of the cache buffer itself, which XLA performs in place
        inside a ``scan``; attention reads the same buffer with the heads as a batch dimension, so no
        copy or transpose of the cache is made per token."""
        q, k, v = self._qkv(x)
        index = jnp.asarray(index)
        zero = jnp.zeros((), dtype=index.dtype)
        keys = jax.lax.dynamic_update_slice(keys, k[:, None].astype(keys.dtype), (zero, index, zero))
        values = jax.lax.dynamic_update_slice(values, v[:, None].astype(values.dtype), (zero, index, zero))
        logits = _einsum("hd,hld->hl", q, keys) / math.sqrt(self.head_size)
        visible = jnp.arange(keys.shape[1], dtype=index.dtype) <= index
        weights = jax.nn.softmax(jnp.where(visible[None], logits, -jnp.inf), axis=-1)
        out = _einsum("hl,hld->hd", weights, values).reshape(self.width)
        return _linear(out, self.out_proj), keys, values


class TransformerBlock(eqx.Module):
    """A pre-LayerNorm GPT-2 block: ``x + Att(LN(x))`` then ``x + MLP(LN(x))`` with a GELU MLP.

    **Arguments:**

    - `width`: the token width.
    - `num_heads`: the attention heads.
    - `mlp_width`: the hidden width of the MLP.
    - `key`: a PRNG key (keyword-only).
    """

    ln_attn: eqx.nn.LayerNorm
    attention: CausalSelfAttention
    ln_mlp: eqx.nn.LayerNorm
    mlp_in: eqx.nn.Linear
    mlp_out: eqx.nn.Linear

    def __init__(self, width: int, num_heads: int, mlp_width: int, *, key: Key):
        _check_positive("mlp_width", mlp_width)
        ka, ki, ko = jax.random.split(key, 3)
        self.ln_attn = eqx.nn.LayerNorm(width)
        self.attention = CausalSelfAttention(width, num_heads, key=ka)
        self.ln_mlp = eqx.nn.LayerNorm(width)
        self.mlp_in = eqx.nn.Linear(width, mlp_width, key=ki)
        self.mlp_out = eqx.nn.Linear(mlp_width, width, key=ko)

    def _mlp(self, x):
        return _linear(jax.nn.gelu(_linear(_layer_norm(x, self.ln_mlp), self.mlp_in)), self.mlp_out)

    def __call__(self, x: Float[Array, "seq width"]) -> Float[Array, "seq width"]:
        x = x + self.attention(_layer_norm(x, self.ln_attn))
        return x + self._mlp(x)

    def decode(self, x: Float[Array, " width"], keys, values, index: IntScalarLike):
        """One incremental step of the block (see `CausalSelfAttention.decode`)."""
        y, keys, values = self.attention.decode(_layer_norm(x, self.ln_attn), keys, values, index)
        x = x + y
        return x + self._mlp(x), keys, values


class KVCache(eqx.Module):
    """The keys and values of every layer for the tokens decoded so far.

    **Fields:** `keys`, `values`: one array per layer (a tuple of `depth` arrays), each head-major of
    shape ``(num_heads, length, head_size)``, and `index`, the position the next token is written to.
    One buffer per layer (rather than one stacked ``(depth, ...)`` array) lets every layer read its
    keys without slicing, hence without a copy, at each generated token.
    """

    keys: tuple[Float[Array, "heads length head"], ...]
    values: tuple[Float[Array, "heads length head"], ...]
    index: Int[Array, ""]

    @property
    def length(self) -> int:
        """The number of positions the cache holds (static)."""
        return self.keys[0].shape[-2]


def cache_lengths(length: int, block: int = 64, max_blocks: int = 8) -> tuple[int, ...]:
    """The static cache lengths of blocked generation over ``length`` tokens.

    Generation runs in ``n = min(max_blocks, ceil(length / block))`` segments of about equal size;
    segment ``j`` decodes with a cache of ``lengths[j]`` positions (the end of the segment), so each
    token attends over at most one segment more than its own prefix rather than over all ``length``
    positions. With ``n`` segments the mean attended length is ``~(1 + 1/n) length / 2``.

    >>> cache_lengths(21), cache_lengths(101), cache_lengths(501)
    ((21,), (51, 101), (63, 126, 188, 251, 314, 376, 439, 501))
    """
    _check_positive("length", length)
    n = min(max_blocks, -(-length // block))
    return tuple(sorted({-(-length * (j + 1) // n) for j in range(n)}))


class CausalTransformer(eqx.Module):
    r"""A GPT-2-style causal transformer acting on one sequence of continuous tokens.

    ``y = LN_f(Block_depth(... Block_1(x + P[:T])))`` with learned position embeddings ``P``
    (``max_length`` rows), pre-LayerNorm blocks and GELU MLPs; no dropout. Two ways to run it give the
    same outputs:

    - `__call__` (parallel, teacher-forced): all ``T`` tokens at once, token ``t`` attending to ``0..t``.
    - `init_cache` then `decode` token by token (generation), reusing the cached keys and values.

    **Arguments:**

    - `width`: the token width (the embedding size; 72 in the paper's Appendix C.1).
    - `depth`: the number of blocks (2).
    - `num_heads`: the attention heads per block (3).
    - `mlp_width`: the hidden width of each block's MLP (64).
    - `max_length`: the number of position embeddings, the longest sequence the model accepts.
    - `key`: a PRNG key (keyword-only).
    """

    position: Float[Array, "max_length width"]
    blocks: tuple[TransformerBlock, ...]
    ln_final: eqx.nn.LayerNorm
    width: int = eqx.field(static=True)
    depth: int = eqx.field(static=True)
    num_heads: int = eqx.field(static=True)
    mlp_width: int = eqx.field(static=True)
    max_length: int = eqx.field(static=True)

    def __init__(
        self,
        width: int = 72,
        depth: int = 2,
        num_heads: int = 3,
        mlp_width: int = 64,
        max_length: int = 501,
        *,
        key: Key,
    ):
        for name, value in (("width", width), ("depth", depth), ("max_length", max_length)):
            _check_positive(name, value)
        kp, *kb = jax.random.split(key, depth + 1)
        dtype = jnp.zeros(()).dtype
        self.position = 0.02 * jax.random.normal(kp, (max_length, width), dtype=dtype)
        self.blocks = tuple(TransformerBlock(width, num_heads, mlp_width, key=k) for k in kb)
        self.ln_final = eqx.nn.LayerNorm(width)
        self.width = width
        self.depth = depth
        self.num_heads = num_heads
        self.mlp_width = mlp_width
        self.max_length = max_length

    def _check_length(self, length):
        if length > self.max_length:
            raise ValueError(
                f"sequence length {length} exceeds the transformer's max_length={self.max_length} "
                "(its position table)"
            )

    def __call__(self, tokens: Float[Array, "seq width"]) -> Float[Array, "seq width"]:
        """The parallel pass over ``tokens`` (already embedded, without positions)."""
        self._check_length(tokens.shape[0])
        x = tokens + self.position[: tokens.shape[0]].astype(tokens.dtype)
        for block in self.blocks:
            x = block(x)
        return _layer_norm(x, self.ln_final)

    def init_cache(self, length: int | None = None, dtype=None) -> KVCache:
        """An empty cache for sequences of up to ``length`` tokens (default `max_length`)."""
        length = self.max_length if length is None else length
        _check_positive("length", length)
        self._check_length(length)
        dtype = self.position.dtype if dtype is None else dtype
        zeros = tuple(
            jnp.zeros((self.num_heads, length, self.width // self.num_heads), dtype=dtype)
            for _ in range(self.depth)
        )
        return KVCache(keys=zeros, values=zeros, index=jnp.zeros((), dtype=jnp.int32))

    def grow_cache(self, cache: KVCache, length: int) -> KVCache:
        """``cache`` with room for ``length`` positions (zero-padded at the end; the filled prefix and
        `index` are unchanged). Blocked generation grows the cache between segments (one copy per
        segment) so that each token attends over a short cache (see `cache_lengths`)."""
        _check_positive("length", length)
        self._check_length(length)
        if length < cache.length:
            raise ValueError(f"cannot grow a cache of {cache.length} positions to {length}")

        def pad(c):
            return jnp.pad(c, ((0, 0), (0, length - c.shape[1]), (0, 0)))

        return KVCache(
            keys=tuple(map(pad, cache.keys)), values=tuple(map(pad, cache.values)), index=cache.index
        )

    def decode(self, token: Float[Array, " width"], cache: KVCache) -> tuple[Float[Array, " width"], KVCache]:
        """Processes the next token: returns its output (equal to row ``cache.index`` of the parallel
        pass over all tokens so far) and the cache with the token appended. Cost per token:
        ``O(cache.length)`` for the attention, with no copy of the cache."""
        x = token + jax.lax.dynamic_index_in_dim(self.position, cache.index, keepdims=False).astype(
            token.dtype
        )
        keys, values = [], []
        for block, k, v in zip(self.blocks, cache.keys, cache.values):
            x, k, v = block.decode(x, k, v, cache.index)
            keys.append(k)
            values.append(v)
        cache = KVCache(keys=tuple(keys), values=tuple(values), index=cache.index + 1)
        return _layer_norm(x, self.ln_final), cache

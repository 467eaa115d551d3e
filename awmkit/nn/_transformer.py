"""A GPT-2-style causal transformer over continuous tokens, with a parallel (teacher-forced) forward
pass and incremental decoding through a key/value cache."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from .._typing import IntScalarLike, Key


def _check_positive(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"`{name}` must be a positive integer, got {value!r}")


def _linear(x, layer: eqx.nn.Linear):
    # One matmul over the sequence instead of a vmap of matrix-vector products.
    y = x @ layer.weight.T
    return y if layer.bias is None else y + layer.bias.reshape((1,) * (y.ndim - 1) + layer.bias.shape)


def _layer_norm(x, ln: eqx.nn.LayerNorm):
    return jax.vmap(ln)(x) if x.ndim == 2 else ln(x)


class CausalSelfAttention(eqx.Module):
    r"""Multi-head causal self-attention,

    $$\operatorname{Att}(X)_t = \sum_{i \le t} \operatorname{softmax}_i\!\Big(\frac{q_t \cdot k_i}{\sqrt{d_h}}\Big) v_i W_o^\top,
    \qquad q = X W_q^\top,\ k = X W_k^\top,\ v = X W_v^\top.$$

    The value projection $W_v$ (Corollary 2.2) is `v_proj.weight`, also available as the property `W_v`.

    **Arguments:**

    - `width`: the token width ``d``; must be divisible by `num_heads`.
    - `num_heads`: the number of heads; each has width ``d_h = width // num_heads``.
    - `key`: a PRNG key (keyword-only).
    """

    q_proj: eqx.nn.Linear
    k_proj: eqx.nn.Linear
    v_proj: eqx.nn.Linear
    out_proj: eqx.nn.Linear
    width: int = eqx.field(static=True)
    num_heads: int = eqx.field(static=True)

    def __init__(self, width: int, num_heads: int, *, key: Key):
        _check_positive("width", width)
        _check_positive("num_heads", num_heads)
        if width % num_heads != 0:
            raise ValueError(f"`width`={width} must be divisible by `num_heads`={num_heads}")
        kq, kk, kv, ko = jax.random.split(key, 4)
        self.q_proj = eqx.nn.Linear(width, width, key=kq)
        self.k_proj = eqx.nn.Linear(width, width, key=kk)
        self.v_proj = eqx.nn.Linear(width, width, key=kv)
        self.out_proj = eqx.nn.Linear(width, width, key=ko)
        self.width = width
        self.num_heads = num_heads

    @property
    def head_size(self) -> int:
        return self.width // self.num_heads

    @property
    def W_v(self) -> Float[Array, "width width"]:
        """The value projection matrix (rows: output features, columns: input features)."""
        return self.v_proj.weight

    def _heads(self, x, layer):
        return _linear(x, layer).reshape(*x.shape[:-1], self.num_heads, self.head_size)

    def __call__(self, x: Float[Array, "seq width"]) -> Float[Array, "seq width"]:
        """The parallel pass: token ``t`` attends to tokens ``0, ..., t``."""
        seq = x.shape[0]
        q, k, v = self._heads(x, self.q_proj), self._heads(x, self.k_proj), self._heads(x, self.v_proj)
        logits = jnp.einsum("qhd,khd->hqk", q, k) / math.sqrt(self.head_size)
        causal = jnp.tril(jnp.ones((seq, seq), dtype=bool))
        weights = jax.nn.softmax(jnp.where(causal, logits, -jnp.inf), axis=-1)
        out = jnp.einsum("hqk,khd->qhd", weights, v).reshape(seq, self.width)
        return _linear(out, self.out_proj)

    def decode(
        self,
        x: Float[Array, " width"],
        keys: Float[Array, "length heads head"],
        values: Float[Array, "length heads head"],
        index: IntScalarLike,
    ) -> tuple[Float[Array, " width"], Float[Array, "length heads head"], Float[Array, "length heads head"]]:
        """One incremental step: writes the key and value of token ``x`` at position ``index`` of the
        cache and attends over positions ``0, ..., index``. Returns the output and the updated cache."""
        q, k, v = self.project(x)
        keys = jax.lax.dynamic_update_index_in_dim(keys, k.astype(keys.dtype), index, axis=0)
        values = jax.lax.dynamic_update_index_in_dim(values, v.astype(values.dtype), index, axis=0)
        return self.attend(q, keys, values, index), keys, values

    def project(self, x: Float[Array, " width"]):
        """The query, key and value of one token, each ``(num_heads, head_size)``."""
        return self._heads(x, self.q_proj), self._heads(x, self.k_proj), self._heads(x, self.v_proj)

    def attend(self, q, keys, values, index: IntScalarLike) -> Float[Array, " width"]:
        """The output for query ``q`` attending over cached positions ``0, ..., index``."""
        logits = jnp.einsum("hd,lhd->hl", q, keys) / math.sqrt(self.head_size)
        index = jnp.asarray(index)
        visible = jnp.arange(keys.shape[0], dtype=index.dtype) <= index
        weights = jax.nn.softmax(jnp.where(visible, logits, -jnp.inf), axis=-1)
        out = jnp.einsum("hl,lhd->hd", weights, values).reshape(self.width)
        return _linear(out, self.out_proj)


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

    def decode_in_place(self, x: Float[Array, " width"], cache: "KVCache", layer: int):
        """`decode` writing straight into layer ``layer`` of the whole cache, so that XLA updates the
        cache buffer in place instead of copying it at every generated token."""
        q, k, v = self.attention.project(_layer_norm(x, self.ln_attn))
        zero = jnp.zeros((), dtype=cache.index.dtype)
        position = (zero + layer, cache.index, zero, zero)
        keys = jax.lax.dynamic_update_slice(cache.keys, k[None, None].astype(cache.keys.dtype), position)
        values = jax.lax.dynamic_update_slice(
            cache.values, v[None, None].astype(cache.values.dtype), position
        )
        x = x + self.attention.attend(q, keys[layer], values[layer], cache.index)
        return x + self._mlp(x), KVCache(keys=keys, values=values, index=cache.index)


class KVCache(eqx.Module):
    """The keys and values of every layer for the tokens decoded so far.

    **Fields:** `keys`, `values` of shape ``(depth, length, num_heads, head_size)`` and `index`, the
    position the next token is written to.
    """

    keys: Float[Array, "depth length heads head"]
    values: Float[Array, "depth length heads head"]
    index: Int[Array, ""]


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
        head = self.width // self.num_heads
        zeros = jnp.zeros((self.depth, length, self.num_heads, head), dtype=dtype)
        return KVCache(keys=zeros, values=zeros, index=jnp.zeros((), dtype=jnp.int32))

    def decode(self, token: Float[Array, " width"], cache: KVCache) -> tuple[Float[Array, " width"], KVCache]:
        """Processes the next token: returns its output (equal to row ``cache.index`` of the parallel
        pass over all tokens so far) and the cache with the token appended."""
        x = token + jax.lax.dynamic_index_in_dim(self.position, cache.index, keepdims=False).astype(
            token.dtype
        )
        for i, block in enumerate(self.blocks):
            x, cache = block.decode_in_place(x, cache, i)
        cache = KVCache(keys=cache.keys, values=cache.values, index=cache.index + 1)
        return _layer_norm(x, self.ln_final), cache

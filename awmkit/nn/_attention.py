"""Causal softmax attention of the teacher-forced pass, with a switch between implementations.

| name | what | where | (L x L) scores in memory |
|---|---|---|---|
| ``"auto"`` (default) | the backend's measured default: ``"blocked"`` on a CPU, ``"xla"`` on a GPU | all | see those |
| ``"blocked"`` | einsum-mask-softmax by query blocks of 64 (the upper triangle never formed) | all | one block row at a time |
| ``"xla"`` | ``jax.nn.dot_product_attention`` (XLA's own choice) | all | yes (XLA's fusion) |
| ``"cudnn"`` | ``jax.nn.dot_product_attention(implementation="cudnn")``: cuDNN's fused flash attention, bf16 ``q, k, v``, float32 accumulation and softmax | NVIDIA GPUs | no |
| ``"pallas"`` | JAX's Pallas flash attention (``jax.experimental.pallas.ops.gpu.attention.mha``, Triton) with its fused backward pass, float32 | NVIDIA GPUs; on a CPU in Pallas's interpret mode (slow: for tests) | no |

The choice is read when a function is traced; `set_attention` clears JAX's compilation caches when it
changes it, so that no program compiled under the old choice is reused. On a GPU ``"auto"`` is the
committed GPU table's choice (``awmkit/data/gpu_defaults.json``, written from a ``benchmarks/gpu_tune.py``
result; ``"xla"`` until one from a GPU is committed).
"""

import functools

import jax
import jax.numpy as jnp

from .._gpu_defaults import gpu_default
from ._precision import einsum

#: The attention implementations `set_attention` accepts.
ATTENTION_IMPLEMENTATIONS = ("auto", "blocked", "xla", "cudnn", "pallas")

#: What ``"auto"`` means per backend other than a GPU (measured: ``benchmarks/policy_gradient.py``;
#: backends not listed use ``"blocked"``). On a GPU ``"auto"`` is the committed GPU table's
#: ``attention`` (``awmkit/data/gpu_defaults.json``: ``"xla"`` until a ``gpu_tune.py`` result is committed).
AUTO_ATTENTION = {"cpu": "blocked"}

# Query-block length of the blocked attention. 64 measured best on the 2-core CPU
# (benchmarks/policy_gradient.py, H = 100 and 500, interleaved against None, 32 and 128): the policy
# gradient at H = 500 1.5-1.7x faster, the model update 1.8x, H = 100 unchanged or faster.
_ATTENTION_BLOCK: int | None = 64
# Pallas flash-attention tiles (sequence positions); sequences are padded to a multiple of _PALLAS_BLOCK.
_PALLAS_BLOCK = 64
_PALLAS_BACKWARD_BLOCK = 32

_CURRENT = ["auto"]


def set_attention(name: str) -> None:
    """Chooses the teacher-forced attention of every `awmkit.nn.CausalTransformer` traced from now on
    (one of ``ATTENTION_IMPLEMENTATIONS``); clears JAX's compilation caches when the choice changes.
    GPU-only choices raise a ``ValueError`` on other backends when traced."""
    if name not in ATTENTION_IMPLEMENTATIONS:
        raise ValueError(
            f"`attention` must be one of {', '.join(map(repr, ATTENTION_IMPLEMENTATIONS))}, got {name!r}"
        )
    if name != _CURRENT[0]:
        _CURRENT[0] = name
        jax.clear_caches()


def attention_implementation(backend: str | None = None) -> str:
    """The implementation the current choice resolves to on `backend` (default: JAX's)."""
    backend = backend or jax.default_backend()
    name = _CURRENT[0]
    if name != "auto":
        return name
    return gpu_default("attention", backend, AUTO_ATTENTION.get(backend, "blocked"))


def causal_attention(q, k, v, scale: float):
    """Causal softmax attention of one sequence, ``q, k, v`` of shape ``(seq, heads, head)``."""
    name = attention_implementation()
    if name == "blocked":
        return blocked_attention(q, k, v, scale)
    if name == "xla":
        return jax.nn.dot_product_attention(q, k, v, scale=scale, is_causal=True)
    backend = jax.default_backend()
    if name == "cudnn":
        if backend not in ("gpu", "cuda"):
            raise ValueError(f"attention 'cudnn' needs an NVIDIA GPU, but JAX's backend is {backend!r}")
        out = jax.nn.dot_product_attention(
            *(x.astype(jnp.bfloat16) for x in (q, k, v)), scale=scale, is_causal=True, implementation="cudnn"
        )
        return out.astype(q.dtype)
    return pallas_attention(q, k, v, scale, interpret=backend == "cpu")


def blocked_attention(q, k, v, scale: float, block: int | None = None):
    """The reference einsum-mask-softmax attention, by query blocks of `block` (default 64; ``None``
    in `_ATTENTION_BLOCK` forms the full square)."""
    block = _ATTENTION_BLOCK if block is None else block
    seq = q.shape[0]
    if block is None or seq <= block:
        return _attend(q, k, v, scale, 0)
    # Query blocks attend to the keys up to their own end only: the upper triangle of the score matrix
    # is never formed (about half of the attention's work and memory at long horizons).
    return jnp.concatenate(
        [_attend(q[s : s + block], k[: s + block], v[: s + block], scale, s) for s in range(0, seq, block)]
    )


def _attend(q, k, v, scale, offset: int):
    """Softmax attention of the queries at positions ``offset, offset + 1, ...`` over the keys at
    ``0, 1, ...`` (query ``i`` sees the keys up to its own position)."""
    logits = einsum("qhd,khd->hqk", q, k) * scale
    visible = jnp.arange(k.shape[0])[None, :] <= jnp.arange(offset, offset + q.shape[0])[:, None]
    weights = jax.nn.softmax(jnp.where(visible[None], logits, -jnp.inf), axis=-1)
    return einsum("hqk,khd->qhd", weights, v)


@functools.cache
def _pallas_mha():
    from jax.experimental.pallas.ops.gpu import attention

    return attention


def pallas_attention(q, k, v, scale: float, *, interpret: bool = False, block: int | None = None):
    """Flash attention through Pallas (``jax.experimental.pallas.ops.gpu.attention.mha``, forward and
    backward kernels): the sequence is zero-padded at the end to a multiple of the tile (`block`,
    default 64; padded keys come after every real query, so causality hides them, and padded queries
    are dropped). `interpret` runs the kernels in Pallas's interpreter (any backend)."""
    attention = _pallas_mha()
    block = block or _PALLAS_BLOCK
    seq = q.shape[0]
    tile = min(block, max(16, 1 << (seq - 1).bit_length()))
    padded = -(-seq // tile) * tile
    back = min(_PALLAS_BACKWARD_BLOCK, tile)
    sizes = attention.BlockSizes(
        block_q=tile, block_k=tile, block_q_dkv=back, block_kv_dkv=back, block_q_dq=back, block_kv_dq=back
    )

    def prep(x):
        return jnp.pad(x, ((0, padded - seq), (0, 0), (0, 0)))[None]

    out = attention.mha(
        prep(q), prep(k), prep(v), None, sm_scale=scale, causal=True, block_sizes=sizes, interpret=interpret
    )
    return out[0, :seq]


__all__ = ["ATTENTION_IMPLEMENTATIONS", "AUTO_ATTENTION", "set_attention", "attention_implementation"]

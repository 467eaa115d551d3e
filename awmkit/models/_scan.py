"""A ``lax.scan`` with optional block-wise rematerialisation for long differentiable unrolls."""

import math

import jax
import jax.numpy as jnp
import jax.tree_util as jtu

from .._gpu_defaults import gpu_default

#: ``lax.scan``'s `unroll` for the world models' generation loops (`remat_scan`), per backend; 1 (no
#: unrolling) everywhere until measured: on an H200 the transformer's generation is launch-bound
#: (37-44 us per token at every H) and unroll 4 measured 29 us per token at H = 100
#: (``benchmarks/generation.py``), so ``benchmarks/gpu_tune.py`` times it inside whole updates before
#: a GPU default is committed. Set it with `set_generation_unroll`. A backend not listed uses 1, or on a
#: GPU the committed GPU table's ``generation_unroll`` (``awmkit/data/gpu_defaults.json``).
GENERATION_UNROLL: dict[str, int] = {}


def set_generation_unroll(unroll: int, backend: str | None = None) -> None:
    """Unrolls the world models' generation scans `unroll` steps per loop iteration on `backend`
    (default: JAX's); fewer, larger loop bodies (fewer kernel launches on a GPU) for a longer
    compilation. Clears JAX's compilation caches when the value changes."""
    if isinstance(unroll, bool) or not isinstance(unroll, int) or unroll < 1:
        raise ValueError(f"`unroll` must be a positive integer, got {unroll!r}")
    backend = backend or jax.default_backend()
    if _unroll(backend) != unroll:
        jax.clear_caches()
    GENERATION_UNROLL[backend] = unroll


def _unroll(backend: str | None = None) -> int:
    backend = backend or jax.default_backend()
    if backend in GENERATION_UNROLL:
        return GENERATION_UNROLL[backend]
    return int(gpu_default("generation_unroll", backend, 1))


def remat_scan(body, init, xs, length: int, remat: bool):
    """``lax.scan(body, init, xs)``; with ``remat=True`` the steps are grouped into blocks of about
    ``sqrt(length)`` steps whose insides are recomputed on the backward pass (``jax.checkpoint``).

    Reverse-mode memory then holds ``~2 sqrt(length)`` carries instead of one (or two) per step, at the
    price of one extra forward pass. This matters when the carry is large, e.g. the key/value cache of
    a transformer world model, which makes plain backpropagation through ``H`` steps cost ``O(H^2)``.
    """
    if not remat or length < 4:
        return jax.lax.scan(body, init, xs, length=length, unroll=min(_unroll(), max(length, 1)))
    block = int(math.isqrt(length))
    blocks, rest = divmod(length, block)
    head = jtu.tree_map(lambda x: x[: blocks * block].reshape(blocks, block, *x.shape[1:]), xs)

    @jax.checkpoint
    def run_block(carry, block_xs):
        return jax.lax.scan(body, carry, block_xs, unroll=min(_unroll(), block))

    carry, ys = jax.lax.scan(run_block, init, head)
    ys = jtu.tree_map(lambda y: y.reshape(blocks * block, *y.shape[2:]), ys)
    if rest:
        tail = jtu.tree_map(lambda x: x[blocks * block :], xs)
        carry, ys_tail = run_block(carry, tail)
        ys = jtu.tree_map(lambda a, b: jnp.concatenate([a, b]), ys, ys_tail)
    return carry, ys


def blocked_scan(body, init, xs, bounds, resize, remat: bool):
    """`remat_scan` over consecutive segments ``[0, bounds[0]), [bounds[0], bounds[1]), ...`` of the
    scanned steps, with ``carry = resize(carry, j)`` before segment ``j``.

    This is how a transformer generates with a growing key/value cache: segment ``j`` runs with a
    cache of a static length that covers its last position (see `awmkit.nn.cache_lengths`), so the
    attention at each token costs ``O(its prefix)`` rather than ``O(H)``. Each segment is its own
    ``scan`` (compiled once per segment length); the outputs are concatenated.
    """
    ys_parts, start = [], 0
    for j, end in enumerate(bounds):
        init = resize(init, j)
        if end > start:
            segment = jtu.tree_map(lambda x, start=start, end=end: x[start:end], xs)
            init, ys = remat_scan(body, init, segment, end - start, remat)
            ys_parts.append(ys)
        start = end
    ys = ys_parts[0] if len(ys_parts) == 1 else jtu.tree_map(lambda *a: jnp.concatenate(a), *ys_parts)
    return init, ys


#: Per backend, the most bytes of key/value cache one differentiated generated sequence may keep for
#: the backward pass before ``remat=None`` ("auto") turns rematerialisation on (`cache_residual_bytes`).
#: Without remat the transformer's generation at H = 100 keeps ~8 MB per sequence and saves the
#: extra forward pass; at H = 500 it would keep ~160 MB per sequence (2.5 GB for a policy batch of 16,
#: per seed), more than a CPU process should hold, so there remat pays. GPUs hold far more memory per
#: sequence in flight. (``benchmarks/policy_gradient.py`` rows ``hwm-transformer/remat`` and
#: ``/no-remat`` time both.)
REMAT_BUDGET_BYTES = {"cpu": 16 * 2**20, "gpu": 64 * 2**20, "cuda": 64 * 2**20}


def cache_residual_bytes(lengths, depth: int, width: int, num_heads: int, itemsize: int) -> int:
    """Bytes a scan differentiated through a KV-cache generation keeps per sequence: at every step,
    each layer's keys and values (``2 width`` numbers per cached position) and attention weights
    (``num_heads`` per position), for the segmented cache lengths ``lengths`` (see
    `awmkit.nn.cache_lengths`)."""
    total, start = 0, 0
    for end in lengths:
        total += (end - start) * end
        start = end
    return total * depth * (2 * width + num_heads) * itemsize


def resolve_remat(remat: bool | None, residual_bytes: int = 0) -> bool:
    """The rematerialisation a model uses: `remat` itself when given, else ("auto", ``None``) whether
    the generation's stored residuals per sequence exceed the budget of the backend being traced for
    (`REMAT_BUDGET_BYTES`; backends not listed always rematerialise)."""
    if remat is not None:
        return bool(remat)
    return residual_bytes > REMAT_BUDGET_BYTES.get(jax.default_backend(), 0)

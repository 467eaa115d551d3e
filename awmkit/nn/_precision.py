"""The matmul precision policy of the world models, set in one place.

| policy | operands of a world-model matmul | accumulation | on a GPU | on a CPU |
|---|---|---|---|---|
| ``None`` (default) | as JAX's default | float32 | TF32 tensor cores (XLA's default) | float32 |
| ``"float32"`` | float32 | float32 | ``precision=HIGHEST`` (no TF32) | float32 |
| ``"tf32"`` | rounded to 10 mantissa bits | float32 | TF32 tensor cores | emulated: operands rounded |
| ``"bf16"`` | rounded to bfloat16 | float32 | bf16 tensor cores | emulated: operands rounded |

Parameters, activations and optimiser states stay float32 in every policy; only the operands of the
matrix products are rounded. The policy is set process-wide with `set_matmul_precision` (e.g. before
``awmkit.bpo.train``) or for a block of code with `matmul_precision` (a context manager), and read
while a function is traced:

- every matmul traced inside gets JAX's matching ``default_matmul_precision`` (``"highest"``,
  ``"tensorfloat32"``, ``"bfloat16"``), which keys JAX's compilation cache, and which the GPU
  compiler honours;
- the transformer layers (`awmkit.nn.CausalTransformer`'s linear maps and attention, the matmuls of
  the ``*-transformer`` world models) round their operands explicitly (`matmul`), because the CPU
  compiler ignores the precision setting: their CPU error is the GPU's, up to summation order.

When no policy is set (neither function used), a GPU backend uses the committed GPU table's
``matmul_precision`` (``awmkit/data/gpu_defaults.json``; ``None`` until a ``benchmarks/gpu_tune.py``
result is committed) for the transformer layers' matmuls (`matmul`, `einsum`); other backends use
``None``.

The gradient errors against float64 of each policy are measured by
``benchmarks/precision_error.py`` (docs: "GPU and packed runs").
"""

import contextlib

import jax
import jax.numpy as jnp

from .._gpu_defaults import gpu_default

#: The matmul precision policies (``None``: JAX's default).
MATMUL_PRECISIONS = ("float32", "tf32", "bf16")

_JAX_PRECISION = {"float32": "highest", "tf32": "tensorfloat32", "bf16": "bfloat16"}
_CURRENT: list[str | None] = [None]
_SET = [False]  # whether a policy was set (else a GPU backend takes the committed table's)


def check_matmul_precision(name, what: str = "matmul_precision") -> None:
    """A one-line ``ValueError`` unless `name` is ``None`` or one of ``MATMUL_PRECISIONS``."""
    if name is not None and name not in MATMUL_PRECISIONS:
        raise ValueError(
            f"`{what}` must be None or one of {', '.join(map(repr, MATMUL_PRECISIONS))}, got {name!r}"
        )


@contextlib.contextmanager
def matmul_precision(name: str | None):
    """Traces the world models' matmuls under the precision policy `name` (one of
    ``MATMUL_PRECISIONS``, or ``None`` for JAX's default). Nested uses restore the outer policy."""
    check_matmul_precision(name)
    outer = _CURRENT[0], _SET[0]
    _CURRENT[0], _SET[0] = name, True
    try:
        if name is None:
            yield
        else:
            with jax.default_matmul_precision(_JAX_PRECISION[name]):
                yield
    finally:
        _CURRENT[0], _SET[0] = outer


def set_matmul_precision(name: str | None) -> None:
    """Sets the policy for everything traced from now on (the process-wide form of `matmul_precision`;
    it also sets JAX's ``jax_default_matmul_precision``, so programs compiled under another policy are
    not reused)."""
    check_matmul_precision(name)
    _CURRENT[0], _SET[0] = name, True
    jax.config.update("jax_default_matmul_precision", None if name is None else _JAX_PRECISION[name])


def current_matmul_precision() -> str | None:
    """The policy in force (``None``: JAX's default): the one set, else on a GPU backend the committed
    GPU table's."""
    if _SET[0]:
        return _CURRENT[0]
    return gpu_default("matmul_precision", jax.default_backend(), None)


def _policy():
    """The policy of the next world-model matmul, and the JAX precision to trace it under when it comes
    from the GPU table (a set policy has set JAX's already)."""
    policy = current_matmul_precision()
    return policy, (None if _SET[0] or policy is None else _JAX_PRECISION[policy])


def _round_operand(x, policy: str | None):
    if policy == "bf16":
        return x.astype(jnp.bfloat16)
    if policy == "tf32" and jax.default_backend() == "cpu":
        return jax.lax.reduce_precision(x, exponent_bits=8, mantissa_bits=10)
    return x


def einsum(spec: str, a, b):
    """``jnp.einsum(spec, a, b)`` under the current policy: bf16 operands with float32 accumulation
    for ``"bf16"``, TF32-rounded operands for ``"tf32"`` on a CPU (the GPU's compiler rounds them
    itself); the result has ``a``'s dtype."""
    policy, traced = _policy()
    with contextlib.nullcontext() if traced is None else jax.default_matmul_precision(traced):
        if policy is None or policy == "float32":
            return jnp.einsum(spec, a, b)
        out = jnp.einsum(
            spec, _round_operand(a, policy), _round_operand(b, policy), preferred_element_type=jnp.float32
        )
    return out.astype(a.dtype)


def matmul(a, b):
    """``a @ b`` under the current policy (see `einsum`)."""
    policy, traced = _policy()
    with contextlib.nullcontext() if traced is None else jax.default_matmul_precision(traced):
        if policy is None or policy == "float32":
            return a @ b
        out = jnp.matmul(
            _round_operand(a, policy), _round_operand(b, policy), preferred_element_type=jnp.float32
        )
    return out.astype(a.dtype)


__all__ = [
    "MATMUL_PRECISIONS",
    "matmul_precision",
    "set_matmul_precision",
    "current_matmul_precision",
    "matmul",
    "einsum",
]

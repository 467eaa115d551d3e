"""The GPU-facing switches of awmkit.nn: the attention implementations (each equal to the reference
attention; GPU-only ones skipped, or refused in one line, on a CPU) and the matmul precision policies
(each gradient within its documented tolerance of float64; bf16 never the default)."""

import pathlib
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import awmkit
from awmkit.nn import _attention

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "benchmarks"))

ON_GPU = jax.default_backend() in ("gpu", "cuda")

#: The documented tolerances (docs/gpu.md): relative error of the whole gradient vector against float64.
TOLERANCE = {"default": 1e-5 if not ON_GPU else 2e-3, "float32": 1e-5, "tf32": 3e-3, "bf16": 2e-2}


def _value_and_grads(attend, q, k, v):
    return jax.value_and_grad(lambda q, k, v: jnp.sum(jnp.sin(attend(q, k, v))), argnums=(0, 1, 2))(q, k, v)


@pytest.fixture
def qkv():
    keys = jax.random.split(jax.random.key(7), 3)
    return tuple(jax.random.normal(k, (24, 3, 16)) for k in keys)  # 24 positions: padded to the tile


def test_pallas_flash_attention_equals_the_reference(qkv):
    """JAX's Pallas flash-attention kernels (forward and backward), in interpret mode on the CPU,
    against the einsum-mask-softmax over the full square: values and gradients."""
    reference = _value_and_grads(lambda *x: _attention.blocked_attention(*x, 0.25, block=1000), *qkv)
    flash = _value_and_grads(lambda *x: _attention.pallas_attention(*x, 0.25, interpret=not ON_GPU), *qkv)
    for a, b in zip(jax.tree.leaves(reference), jax.tree.leaves(flash)):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("name", ["blocked", "xla", "cudnn"])
def test_attention_switch_reaches_every_implementation(qkv, name, monkeypatch):
    monkeypatch.setattr(_attention, "_CURRENT", [name])
    reference = _attention.blocked_attention(*qkv, 0.25, block=1000)
    if name == "cudnn" and not ON_GPU:
        with pytest.raises(ValueError, match="attention 'cudnn' needs an NVIDIA GPU"):
            _attention.causal_attention(*qkv, 0.25)
        pytest.skip("cuDNN attention runs on NVIDIA GPUs only")
    tol = 3e-2 if name == "cudnn" else 2e-5  # cuDNN takes bf16 q, k, v
    np.testing.assert_allclose(_attention.causal_attention(*qkv, 0.25), reference, rtol=tol, atol=tol)


def test_attention_switch_refuses_unknown_names_and_keeps_the_default():
    with pytest.raises(
        ValueError, match="`attention` must be one of 'auto', 'blocked', 'xla', 'cudnn', 'pallas'"
    ):
        awmkit.nn.set_attention("flash")
    assert awmkit.nn.attention_implementation("cpu") == "blocked"
    assert awmkit.nn.attention_implementation("gpu") == "xla"  # as measured 2026-12-04, until gpu_tune


def test_precision_policy_model_gradient_within_tolerance():
    """The model-update gradient of the transformer world model under each policy against float64;
    the emulated roundings are real (bf16 and tf32 err more than float32), and no policy is set by
    default."""
    from precision_error import gradient_errors

    assert awmkit.nn.current_matmul_precision() is None
    errors = gradient_errors("awm-transformer", 10, precisions=("float32", "tf32", "bf16"), kinds=("model",))
    got = {p: e["model_gradient"] for p, e in errors.items()}
    for policy, err in got.items():
        assert np.isfinite(err) and err <= TOLERANCE[policy], (policy, err)
    assert got["float32"] < got["tf32"] < got["bf16"]
    with pytest.raises(
        ValueError, match="`matmul_precision` must be None or one of 'float32', 'tf32', 'bf16'"
    ):
        awmkit.nn.set_matmul_precision("fp8")


@pytest.mark.slow  # ~20 s: every policy, both gradients, two models
@pytest.mark.parametrize("model", ["awm-transformer", "markovian"])
def test_precision_policy_gradients_within_tolerance(model):
    from precision_error import gradient_errors

    for policy, errs in gradient_errors(model, 20).items():
        for kind, err in errs.items():
            assert np.isfinite(err) and err <= TOLERANCE[policy], (model, policy, kind, err)

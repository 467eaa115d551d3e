"""A marker that world models put on the output of each application of their network, so that
diagnostics can count gradient-path lengths in model applications by walking the traced jaxpr
(`awmkit.diagnostics.gradient_paths`) instead of relying on a per-class formula."""

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

#: The name of the nested-``jit`` equation that marks one model application in a jaxpr.
MODEL_APPLICATION = "awmkit_model_application"


def _identity(x):
    # A copy, not a bare return: JAX forwards a bare input straight through a nested jit, which
    # would leave the marker with no outputs in the jaxpr. XLA removes the copy.
    return jnp.array(x, copy=True)


_identity.__name__ = MODEL_APPLICATION
_marker = jax.jit(_identity)


def mark_application(x: Float[Array, "*shape"]) -> Float[Array, "*shape"]:
    """Identity on ``x`` that records "one application of a world model produced this value".

    It appears in a jaxpr as a nested ``jit`` equation named ``awmkit_model_application``; XLA inlines
    it, so it costs nothing at run time. Call it once on the prediction of each model application:
    each one-step prediction of a Markovian or History model, each ``env.step`` of the simulator, and
    the whole output of one (parallel) pass of an Actions World Model.
    """
    return _marker(x)

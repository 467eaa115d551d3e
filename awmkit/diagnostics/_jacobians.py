"""Action-Jacobians ``d s_hat_t / d a_k`` of an open-loop rollout through any world model."""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._typing import Actions, State
from ._common import as_model, block_norms, check_norm, check_rollout_inputs


class ActionJacobians(eqx.Module):
    """The action-Jacobians of one open-loop rollout and their norms.

    **Fields:**

    - `jacobians`: ``d s_hat_t / d a_k`` with shape ``(H + 1, state_dim, H, action_dim)``; entry
      ``[t, :, k, :]`` is the ``(state_dim, action_dim)`` block of state ``t`` (``t = 0`` is ``s_0``)
      and action ``k``. Blocks with ``k >= t`` are zero (causality).
    - `norms`: the norm of every block, shape ``(H + 1, H)``.
    - `norm`: which norm: ``"spectral"`` (largest singular value, the operator 2-norm used by the
      paper's bounds) or ``"frobenius"``.
    """

    jacobians: Float[Array, "steps state_dim horizon action_dim"]
    norms: Float[Array, "steps horizon"]
    norm: str = eqx.field(static=True)


def jacobian_chunked(fn, x, *, mode: str, chunk_size: int):
    """The Jacobian of ``fn`` at ``x`` (shape ``fn(x).shape + x.shape``), one chunk of basis vectors at
    a time, so that memory is ``chunk_size`` JVPs (forward) or VJPs (reverse), not all of them."""
    if mode == "forward":
        try:
            out, jvp = jax.linearize(fn, x)
            basis = jnp.eye(x.size, dtype=x.dtype).reshape((x.size,) + x.shape)
            cols = jax.lax.map(jvp, basis, batch_size=min(chunk_size, x.size))
        except TypeError as e:
            # Some programs have no forward mode (Diffrax's Runge-Kutta stages run in a custom_vjp
            # checkpointed loop): use reverse mode, which every differentiable program has.
            if "forward-mode" not in str(e) and "custom_vjp" not in str(e):
                raise
            return jacobian_chunked(fn, x, mode="reverse", chunk_size=chunk_size)
        return jnp.moveaxis(cols.reshape((x.size,) + out.shape), 0, -1).reshape(out.shape + x.shape)
    out, vjp = jax.vjp(fn, x)
    basis = jnp.eye(out.size, dtype=out.dtype).reshape((out.size,) + out.shape)
    rows = jax.lax.map(lambda c: vjp(c)[0], basis, batch_size=min(chunk_size, out.size))
    return rows.reshape(out.shape + x.shape)


def choose_mode(n_in: int, n_out: int, mode: str) -> str:
    if mode not in ("auto", "forward", "reverse"):
        raise ValueError(f"`mode` must be one of 'auto', 'forward', 'reverse', got {mode!r}")
    if mode == "auto":
        return "forward" if n_in <= n_out else "reverse"
    return mode


@eqx.filter_jit
def _action_jacobians(model, s0, actions, norm, mode, chunk_size):
    jac = jacobian_chunked(lambda a: model.rollout_actions(s0, a), actions, mode=mode, chunk_size=chunk_size)
    norms = block_norms(jnp.transpose(jac, (0, 2, 1, 3)), norm)
    return ActionJacobians(jacobians=jac, norms=norms, norm=norm)


def action_jacobians(
    model_or_env,
    s0: State,
    actions: Actions,
    *,
    norm: str = "spectral",
    mode: str = "auto",
    chunk_size: int = 64,
) -> ActionJacobians:
    r"""Every action-Jacobian $\partial \hat s_t / \partial a_k$ of the open-loop rollout
    ``model.rollout_actions(s0, actions)``, with its norm.

    This is the quantity that Theorem 2 sums, and the one whose growth with ``t - k`` separates
    state-based models (recurrent gradient paths) from transformer Actions World Models.

    The Jacobian is computed exactly by automatic differentiation, in whichever mode needs fewer
    passes: forward mode (one JVP per action component, ``H * action_dim`` of them) when there are no
    more action components than state components ``(H + 1) * state_dim``, else reverse mode (one VJP per
    state component). Basis vectors are processed ``chunk_size`` at a time (``jax.lax.map`` with a batch
    size), so memory stays at ``chunk_size`` simultaneous passes even at ``H = 500`` with a transformer;
    raise it on a GPU with memory to spare. The computation is jitted (compiled once per model
    structure and shape) and can be batched with ``jax.vmap`` over ``s0`` and ``actions``.

    **Arguments:**

    - `model_or_env`: any [`awmkit.models.AbstractWorldModel`][], or an [`awmkit.envs.Env`][] (the true
      simulator, wrapped as [`awmkit.models.SimulatorModel`][]).
    - `s0`: the initial state, shape ``(state_dim,)``.
    - `actions`: the action sequence ``a_0, ..., a_{H-1}``, shape ``(H, action_dim)``.
    - `norm`: ``"spectral"`` (default; the operator 2-norm) or ``"frobenius"``.
    - `mode`: ``"auto"`` (default), ``"forward"`` or ``"reverse"``.
    - `chunk_size`: how many basis vectors are pushed through at once.

    **Returns:** an [`awmkit.diagnostics.ActionJacobians`][] with ``jacobians`` of shape
    ``(H + 1, state_dim, H, action_dim)`` and ``norms`` of shape ``(H + 1, H)``.
    """
    model = as_model(model_or_env)
    check_norm(norm)
    horizon = check_rollout_inputs(model, s0, actions)
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size <= 0:
        raise ValueError(f"`chunk_size` must be a positive integer, got {chunk_size!r}")
    mode = choose_mode(horizon * model.action_dim, (horizon + 1) * model.state_dim, mode)
    return _action_jacobians(model, s0, actions, norm, mode, chunk_size)

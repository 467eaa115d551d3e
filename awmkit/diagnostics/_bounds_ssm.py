r"""Theorem 2 for the state-space Actions World Model: a bound on every action-Jacobian
``||d s_hat_t / d a_k||`` from the recurrences' spectral radii, whose sum over ``k`` is independent
of the horizon (see ``docs/ssm.md`` for the statement and the proof)."""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._typing import Actions, State
from ..models import ActionsModel, SSMBackbone
from ..models._base import check_actions
from ..models._common import check_s0, dtype_of, step_indices


class SSMBound(eqx.Module):
    r"""The spectral-radius bound on the action-Jacobians of a state-space Actions World Model
    (one open-loop rollout), and the constants it is made of.

    With lag $n = t - k - 1 \ge 0$ (action $a_k$ is token $k + 1$, $\hat s_t$ is output $t$):

    $$\|\partial \hat s_t / \partial a_k\| \le \beta_n = R \, (\kappa^{(L)} * \dots * \kappa^{(1)})(n)\, E,
    \qquad \kappa^{(l)}(n) = \delta_{n0} + m_l\, \nu_l \big(a_l(n) + \delta_{n0} \|D_l\|_\infty\big),$$

    with the impulse-response norms $a_l(n) = \|\operatorname{Re}(C_l \Lambda_l^n \Gamma_l B_l)\|_2 \le A_l \rho_l^{\,n}$,

    a discrete convolution over the layers, and for every $t$ and every horizon
    $\sum_{k < t} \|\partial \hat s_t / \partial a_k\| \le \sum_n \beta_n \le R\, E \prod_l S_l$ with
    $S_l = 1 + m_l \nu_l \big(A_l / (1 - \rho_l) + \|D_l\|_\infty\big)$.

    **Fields:**

    - `pairs`: ``(H, H)``; entry ``[t - 1, k]`` is the bound on $\|\partial \hat s_t / \partial a_k\|$
      (``t = 1..H``), zero for ``k >= t`` (causality).
    - `lags`: ``(H,)``; $\beta_n$ for ``n = 0..H-1``.
    - `horizon_free`: $R E \prod_l S_l$, a bound on $\sum_{k<t} \|\partial \hat s_t/\partial a_k\|$
      that does not depend on ``H``.
    - `spectral_radius`: $\rho_l = \max_p |\lambda_p|$ of each layer (always ``< 1``).
    - `recurrence_gain`: $A_l = \|[C_{re}, -C_{im}]\|_2 \, \|[\gamma B_{re}; \gamma B_{im}]\|_2$.
    - `impulse`: ``(depth, H)``; $a_l(n)$, the exact norm of layer $l$'s impulse response at lag $n$.
    - `skip`: $\|D_l\|_\infty$.
    - `layer_norm`: $\nu_l = \max_j \|g_l\|_\infty / \sqrt{\operatorname{var}(x_j) + \epsilon}$, the
      layer norm's Jacobian norm bound at the rollout's tokens.
    - `mlp`: $m_l$, the gated MLP's Jacobian norm bound at the rollout's tokens.
    - `layer_sums`: $S_l$.
    - `embed`: $E$, a Lipschitz constant of the action embedding: $\|W_{E,a}\|_2$ for a linear one, the
      product of its layers' spectral norms and its activation's constant for the authors' MLP.
    - `readout`: $R = \max|\text{scale}| \, \|W_{head}\|_2 \, \nu_f$, the final layer norm, read-out and
      de-normalisation.
    """

    pairs: Float[Array, "horizon horizon"]
    lags: Float[Array, " horizon"]
    horizon_free: Float[Array, ""]
    spectral_radius: Float[Array, " depth"]
    recurrence_gain: Float[Array, " depth"]
    impulse: Float[Array, "depth horizon"]
    skip: Float[Array, " depth"]
    layer_norm: Float[Array, " depth"]
    mlp: Float[Array, " depth"]
    layer_sums: Float[Array, " depth"]
    embed: Float[Array, ""]
    readout: Float[Array, ""]


def _spec(W):
    return jnp.linalg.norm(W, ord=2)


def _ln_factor(ln: eqx.nn.LayerNorm, x):
    """``max_j ||g||_inf / sqrt(var(x_j) + eps)``: the Jacobian of a layer norm at ``x`` is
    ``diag(g) (P - x_hat x_hat^T / d) / sigma`` and the middle factor has norm at most 1."""
    g = jnp.ones(x.shape[-1], x.dtype) if ln.weight is None else ln.weight
    var = jnp.var(x, axis=-1)
    return jnp.max(jnp.abs(g)) / jnp.sqrt(jnp.min(var) + ln.eps)


def _mlp_factor(mlp, y):
    """``max_j ||W_o|| (||gelu'(p) sigmoid(q)||_inf ||W_1|| + ||gelu(p) sigmoid'(q)||_inf ||W_2||)``."""
    p = y @ mlp.value.weight.T + mlp.value.bias[None]
    q = y @ mlp.gate.weight.T + mlp.gate.bias[None]
    gelu, dgelu = jax.jvp(jax.nn.gelu, (p,), (jnp.ones_like(p),))
    sig, dsig = jax.jvp(jax.nn.sigmoid, (q,), (jnp.ones_like(q),))
    first = jnp.max(jnp.abs(dgelu * sig)) * _spec(mlp.value.weight)
    second = jnp.max(jnp.abs(gelu * dsig)) * _spec(mlp.gate.weight)
    return _spec(mlp.out.weight) * (first + second)


def _recurrence_lags(ssm, horizon, dtype):
    """``a(n) = ||Re(C Lambda^n Gamma B)||_2`` for ``n = 0..H-1``: the exact norm of the recurrence's
    impulse response at lag ``n`` (weights only), at most ``A rho^n``."""
    gamma = jnp.exp(ssm.gamma_log)
    modulus = jnp.exp(-jnp.exp(ssm.nu_log))
    phase = jnp.exp(ssm.theta_log)

    def at(n):
        power = modulus**n * gamma
        pr, pi = power * jnp.cos(phase * n), power * jnp.sin(phase * n)
        x_re = pr[:, None] * ssm.B_re - pi[:, None] * ssm.B_im
        x_im = pr[:, None] * ssm.B_im + pi[:, None] * ssm.B_re
        return _spec(ssm.C_re @ x_re - ssm.C_im @ x_im)

    return jax.lax.map(at, jnp.arange(horizon, dtype=dtype), batch_size=64)


def _recurrence_gain(ssm):
    gamma = jnp.exp(ssm.gamma_log)[:, None]
    read = jnp.concatenate([ssm.C_re, -ssm.C_im], axis=1)
    drive = jnp.concatenate([gamma * ssm.B_re, gamma * ssm.B_im], axis=0)
    return _spec(read) * _spec(drive)


#: Global Lipschitz constants (max |sigma'|) of the encoders' activations.
_ACTIVATION_LIPSCHITZ = {"swish": 1.0998, "silu": 1.0998, "relu": 1.0, "tanh": 1.0, "gelu": 1.1290}


def _encoder_lipschitz(encoder, action_dim: int):
    """A Lipschitz constant of the action encoder in its action inputs: the spectral norm of the first
    layer's action columns times, for every later layer, the activation's constant and the layer's
    spectral norm (a linear encoder is its one layer)."""
    layers = encoder.layers
    out = _spec(layers[0].weight[:, :action_dim])
    if len(layers) > 1:
        name = getattr(encoder.activation, "__name__", "")
        if name not in _ACTIVATION_LIPSCHITZ:
            raise ValueError(
                f"ssm_bound needs the Lipschitz constant of the encoder's activation {name!r}; "
                f"known: {', '.join(_ACTIVATION_LIPSCHITZ)}"
            )
        for layer in layers[1:]:
            out = out * _ACTIVATION_LIPSCHITZ[name] * _spec(layer.weight)
    return out


@eqx.filter_jit
def _ssm_bound(model, s0, actions):
    dtype = dtype_of(model)
    horizon = actions.shape[0]
    z0 = model.normaliser.normalise(s0.astype(dtype))
    steps = step_indices(0, horizon)
    x = jnp.concatenate(
        [model._state_token(z0, 0)[None], jax.vmap(model._action_token)(actions.astype(dtype), steps)]
    )
    net = model.backbone.ssm
    radius, gain, skip, ln, mlp, impulse = [], [], [], [], [], []
    for block in net.blocks:
        impulse.append(_recurrence_lags(block.ssm, horizon, dtype))
        u = jax.vmap(block.norm)(x)
        y = block.ssm(u)
        radius.append(block.ssm.spectral_radius())
        gain.append(_recurrence_gain(block.ssm))
        skip.append(jnp.max(jnp.abs(block.ssm.D)))
        ln.append(_ln_factor(block.norm, x))
        mlp.append(_mlp_factor(block.mlp, y))
        x = x + block.mlp(y)
    radius, gain, skip, ln, mlp, impulse = map(jnp.stack, (radius, gain, skip, ln, mlp, impulse))

    n = jnp.arange(horizon, dtype=dtype)
    first = (n == 0).astype(dtype)
    total = first
    for i in range(net.depth):
        kernel = first + mlp[i] * ln[i] * (impulse[i] + first * skip[i])
        total = jnp.convolve(total, kernel)[:horizon]
    scale = jax.lax.stop_gradient(model.normaliser.scale)
    readout = jnp.max(jnp.abs(scale)) * _spec(model.backbone.head.weight) * _ln_factor(net.ln_final, x)
    embed = _encoder_lipschitz(model.action_embed, model.action_dim)
    lags = readout * total * embed

    t = jnp.arange(1, horizon + 1)[:, None]
    k = jnp.arange(horizon)[None, :]
    pairs = jnp.where(k < t, lags[jnp.clip(t - k - 1, 0, horizon - 1)], 0.0)
    sums = 1.0 + mlp * ln * (gain / (1.0 - radius) + skip)
    return SSMBound(
        pairs=pairs,
        lags=lags,
        horizon_free=readout * embed * jnp.prod(sums),
        spectral_radius=radius,
        recurrence_gain=gain,
        impulse=impulse,
        skip=skip,
        layer_norm=ln,
        mlp=mlp,
        layer_sums=sums,
        embed=embed,
        readout=readout,
    )


def is_ssm_awm(model) -> bool:
    """Whether ``model`` is an Actions World Model with an [`awmkit.models.SSMBackbone`][]."""
    return isinstance(model, ActionsModel) and isinstance(model.backbone, SSMBackbone)


def ssm_bound(model: ActionsModel, s0: State, actions: Actions) -> SSMBound:
    r"""The Theorem 2 corollary for the state-space AWM (`awm-ssm`): a bound on every action-Jacobian
    $\|\partial \hat s_t / \partial a_k\|_2$ of the open-loop rollout ``model.rollout_actions(s0,
    actions)`` that decays geometrically in the lag $t - k$ at the rate of the recurrences' spectral
    radii, so that $\sum_{k<t} \|\partial \hat s_t / \partial a_k\|$ is bounded independently of the
    horizon.

    The weight-dependent factors (spectral radii, recurrence gains, skips, embedding and read-out
    norms) are global; the layer-norm and gated-MLP factors are their Jacobian-norm bounds at the
    rollout's tokens (which is where the Jacobians are taken, so the bound holds exactly there). See
    [State-space AWM](../ssm.md#the-bound-theorem-2-for-the-state-space-awm) for the statement and
    the proof, and [`awmkit.diagnostics.bounds`][] (field `corollary_ssm`) for the resulting bound on
    the policy gradient.

    **Arguments:**

    - `model`: an [`awmkit.models.ActionsModel`][] with an [`awmkit.models.SSMBackbone`][].
    - `s0`: the initial state.
    - `actions`: the action sequence ``(H, action_dim)``.

    **Returns:** an [`awmkit.diagnostics.SSMBound`][].
    """
    if not is_ssm_awm(model):
        raise ValueError(
            "`model` must be an awmkit.models.ActionsModel with an SSMBackbone (awm-ssm), got "
            f"{type(model).__name__}"
            + (f" with a {type(model.backbone).__name__}" if isinstance(model, ActionsModel) else "")
        )
    check_s0(model, s0)
    check_actions(model, actions)
    return _ssm_bound(model, s0, actions)

r"""A stable diagonal state-space layer in the style of the Linear Recurrent Unit (Orvieto et al.,
2023, "Resurrecting Recurrent Neural Networks for Long Sequences") and S5, with a parallel mode
(``jax.lax.associative_scan``) and a step mode (one state update), and a stack of such layers with
gated MLPs and layer norms between them.

Complex numbers are carried as ``(real, imaginary)`` pairs of real arrays: the layer then runs in any
real dtype under strict dtype promotion, and every diagnostic that walks real computations (gradient
paths, Jacobians) applies unchanged."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._typing import Key
from ._transformer import _check_positive, _layer_norm, _linear  # shared sequence helpers


def _row(v, like):
    """``v`` shaped to broadcast against the last axis of ``like`` (no implicit rank promotion)."""
    return v.reshape((1,) * (like.ndim - 1) + v.shape)


def _cmul(ar, ai, br, bi):
    """``(ar + i ai) (br + i bi)`` as a pair of real arrays."""
    return ar * br - ai * bi, ar * bi + ai * br


class DiagonalSSM(eqx.Module):
    r"""One diagonal linear recurrence with a complex state ``h_t \in \mathbb{C}^P``,

    $$h_t = \lambda \odot h_{t-1} + \gamma \odot (B u_t), \qquad y_t = \operatorname{Re}(C h_t) + D \odot u_t,
    \qquad h_{-1} = 0,$$

    with eigenvalues $\lambda_j = \exp(-e^{\nu_j} + i e^{\theta_j})$, so that
    $|\lambda_j| = \exp(-e^{\nu_j}) < 1$ for every value of the parameters (the recurrence is stable by
    construction), the normalisation $\gamma_j = e^{\log\gamma_j}$ initialised to
    $\sqrt{1 - |\lambda_j|^2}$ (which keeps the state's scale independent of $|\lambda_j|$),
    complex $B \in \mathbb{C}^{P\times d}$, $C \in \mathbb{C}^{d \times P}$ and real $D \in \mathbb{R}^d$.

    The initialisation follows the LRU: $|\lambda_j|$ uniform on the ring $[r_{\min}, r_{\max}]$ of the
    complex plane and the phase uniform in $[0, \phi_{\max}]$.

    Two ways to run it give the same outputs (to rounding):

    - `__call__` (parallel): all ``T`` inputs at once; the linear recurrence is an associative scan
      over the pairs ``(lambda, gamma B u_t)`` with ``(a, b) . (a', b') = (a' a, a' b + b')``,
      ``O(log T)`` deep.
    - `step` (one state update, generation): ``O(P d)`` per token, whatever the position.

    **Arguments:**

    - `width`: the input and output size ``d``.
    - `state_size`: the number of complex modes ``P``.
    - `r_min`, `r_max`: the ring of initial eigenvalue moduli, ``0 <= r_min < r_max < 1``
      (default ``0.9``, ``0.999``: memories of ten to a thousand steps).
    - `max_phase`: the largest initial eigenvalue phase (default ``pi / 10``).
    - `key`: a PRNG key (keyword-only).

    **Fields:** `nu_log`, `theta_log`, `gamma_log` ``(P,)``; `B_re`, `B_im` ``(P, d)``; `C_re`,
    `C_im` ``(d, P)``; `D` ``(d,)``.
    """

    nu_log: Float[Array, " state"]
    theta_log: Float[Array, " state"]
    gamma_log: Float[Array, " state"]
    B_re: Float[Array, "state width"]
    B_im: Float[Array, "state width"]
    C_re: Float[Array, "width state"]
    C_im: Float[Array, "width state"]
    D: Float[Array, " width"]
    width: int = eqx.field(static=True)
    state_size: int = eqx.field(static=True)

    def __init__(
        self,
        width: int,
        state_size: int = 64,
        *,
        r_min: float = 0.9,
        r_max: float = 0.999,
        max_phase: float = math.pi / 10,
        key: Key,
    ):
        _check_positive("width", width)
        _check_positive("state_size", state_size)
        if not 0.0 <= r_min < r_max < 1.0:
            raise ValueError(
                f"need 0 <= r_min < r_max < 1 for a stable recurrence, got r_min={r_min}, r_max={r_max}"
            )
        if not max_phase > 0:
            raise ValueError(f"`max_phase` must be positive, got {max_phase!r}")
        dtype = jnp.zeros(()).dtype
        ku, kp, kbr, kbi, kcr, kci, kd = jax.random.split(key, 7)
        u = jax.random.uniform(ku, (state_size,), dtype=dtype)
        # |lambda|^2 uniform on [r_min^2, r_max^2]: the LRU's uniform density on the ring.
        modulus_sq = u * (r_max**2 - r_min**2) + r_min**2
        self.nu_log = jnp.log(-0.5 * jnp.log(modulus_sq))
        self.theta_log = jnp.log(max_phase * jax.random.uniform(kp, (state_size,), dtype=dtype, minval=1e-3))
        self.gamma_log = 0.5 * jnp.log1p(-modulus_sq)
        b_scale = 1.0 / math.sqrt(2 * width)
        c_scale = 1.0 / math.sqrt(state_size)
        self.B_re = b_scale * jax.random.normal(kbr, (state_size, width), dtype=dtype)
        self.B_im = b_scale * jax.random.normal(kbi, (state_size, width), dtype=dtype)
        self.C_re = c_scale * jax.random.normal(kcr, (width, state_size), dtype=dtype)
        self.C_im = c_scale * jax.random.normal(kci, (width, state_size), dtype=dtype)
        self.D = jax.random.normal(kd, (width,), dtype=dtype)
        self.width = width
        self.state_size = state_size

    # --- the eigenvalues -------------------------------------------------------------------------------

    def eigenvalues(self) -> tuple[Float[Array, " state"], Float[Array, " state"]]:
        r"""$\lambda$ as ``(real, imaginary)`` parts."""
        modulus = jnp.exp(-jnp.exp(self.nu_log))
        phase = jnp.exp(self.theta_log)
        return modulus * jnp.cos(phase), modulus * jnp.sin(phase)

    def spectral_radius(self) -> Float[Array, ""]:
        r"""$\max_j |\lambda_j| = \exp(-\exp(\min_j \nu_j)) < 1$."""
        return jnp.exp(-jnp.exp(jnp.min(self.nu_log)))

    def _drive(self, u):
        """``gamma * (B u)`` as ``(real, imaginary)``, for one input or a sequence (last axis ``d``)."""
        gamma = _row(jnp.exp(self.gamma_log), u)
        return (u @ self.B_re.T) * gamma, (u @ self.B_im.T) * gamma

    def _read(self, hr, hi, u):
        return hr @ self.C_re.T - hi @ self.C_im.T + u * _row(self.D, u)

    # --- the two modes -----------------------------------------------------------------------------------

    def __call__(self, u: Float[Array, "seq width"]) -> Float[Array, "seq width"]:
        """The parallel pass over a sequence of inputs (the state starts at zero)."""
        br, bi = self._drive(u)
        lr, li = self.eigenvalues()
        ar = jnp.broadcast_to(lr[None], br.shape)
        ai = jnp.broadcast_to(li[None], bi.shape)

        def combine(first, second):
            a1r, a1i, b1r, b1i = first
            a2r, a2i, b2r, b2i = second
            ar, ai = _cmul(a2r, a2i, a1r, a1i)
            cr, ci = _cmul(a2r, a2i, b1r, b1i)
            return ar, ai, cr + b2r, ci + b2i

        _, _, hr, hi = jax.lax.associative_scan(combine, (ar, ai, br, bi), axis=0)
        return self._read(hr, hi, u)

    def init_state(self, dtype=None) -> Float[Array, "2 state"]:
        """The zero state ``h_{-1}``, as ``(real, imaginary)`` rows."""
        return jnp.zeros((2, self.state_size), dtype=self.D.dtype if dtype is None else dtype)

    def step(
        self, u: Float[Array, " width"], state: Float[Array, "2 state"]
    ) -> tuple[Float[Array, " width"], Float[Array, "2 state"]]:
        """One state update: returns ``y_t`` and ``h_t`` from the input ``u_t`` and ``h_{t-1}``."""
        br, bi = self._drive(u)
        lr, li = self.eigenvalues()
        hr, hi = _cmul(lr, li, state[0], state[1])
        hr, hi = hr + br, hi + bi
        return self._read(hr, hi, u), jnp.stack([hr, hi])


class GatedMLP(eqx.Module):
    r"""A gated MLP ``M(y) = W_o (GELU(W_1 y + b_1) ⊙ sigmoid(W_2 y + b_2)) + b_o``.

    **Arguments:**

    - `width`: the input and output size.
    - `hidden`: the hidden width.
    - `key`: a PRNG key (keyword-only).
    """

    value: eqx.nn.Linear
    gate: eqx.nn.Linear
    out: eqx.nn.Linear

    def __init__(self, width: int, hidden: int, *, key: Key):
        _check_positive("width", width)
        _check_positive("hidden", hidden)
        kv, kg, ko = jax.random.split(key, 3)
        self.value = eqx.nn.Linear(width, hidden, key=kv)
        self.gate = eqx.nn.Linear(width, hidden, key=kg)
        self.out = eqx.nn.Linear(hidden, width, key=ko)

    def __call__(self, y: Float[Array, "*seq width"]) -> Float[Array, "*seq width"]:
        hidden = jax.nn.gelu(_linear(y, self.value)) * jax.nn.sigmoid(_linear(y, self.gate))
        return _linear(hidden, self.out)


class SSMBlock(eqx.Module):
    r"""One pre-LayerNorm residual block: ``x + M(SSM(LN(x)))``, with a [`awmkit.nn.DiagonalSSM`][]
    and a [`awmkit.nn.GatedMLP`][].

    **Arguments:**

    - `width`, `state_size`, `mlp_width`: the token width, the SSM's modes, the MLP's hidden width.
    - `r_min`, `r_max`, `max_phase`: the SSM's initialisation.
    - `key`: a PRNG key (keyword-only).
    """

    norm: eqx.nn.LayerNorm
    ssm: DiagonalSSM
    mlp: GatedMLP

    def __init__(
        self,
        width: int,
        state_size: int,
        mlp_width: int,
        *,
        r_min: float = 0.9,
        r_max: float = 0.999,
        max_phase: float = math.pi / 10,
        key: Key,
    ):
        ks, km = jax.random.split(key)
        self.norm = eqx.nn.LayerNorm(width)
        self.ssm = DiagonalSSM(width, state_size, r_min=r_min, r_max=r_max, max_phase=max_phase, key=ks)
        self.mlp = GatedMLP(width, mlp_width, key=km)

    def __call__(self, x: Float[Array, "seq width"]) -> Float[Array, "seq width"]:
        return x + self.mlp(self.ssm(_layer_norm(x, self.norm)))

    def step(
        self, x: Float[Array, " width"], state: Float[Array, "2 state"]
    ) -> tuple[Float[Array, " width"], Float[Array, "2 state"]]:
        y, state = self.ssm.step(self.norm(x), state)
        return x + self.mlp(y), state


class StateSpaceModel(eqx.Module):
    r"""A stack of [`awmkit.nn.SSMBlock`][]s and a final layer norm, acting on one sequence of
    continuous tokens: ``y = LN_f(Block_depth(... Block_1(x)))``. There is no position table (the
    recurrence orders the tokens), so sequences may be of any length.

    Two ways to run it give the same outputs (to rounding; equal to float64 precision):

    - `__call__` (parallel): all ``T`` tokens at once, one associative scan per layer.
    - `init_state` then `step` token by token (generation), ``O(1)`` work per token.

    **Arguments:**

    - `width`: the token width (72 in an Actions World Model).
    - `depth`: the number of blocks (default 2).
    - `state_size`: the complex modes per layer (default 64).
    - `mlp_width`: the hidden width of each gated MLP (default 64).
    - `r_min`, `r_max`, `max_phase`: the initial eigenvalue ring and phases (see
      [`awmkit.nn.DiagonalSSM`][]).
    - `key`: a PRNG key (keyword-only).
    """

    blocks: tuple[SSMBlock, ...]
    ln_final: eqx.nn.LayerNorm
    width: int = eqx.field(static=True)
    depth: int = eqx.field(static=True)
    state_size: int = eqx.field(static=True)

    def __init__(
        self,
        width: int = 72,
        depth: int = 2,
        state_size: int = 64,
        mlp_width: int = 64,
        *,
        r_min: float = 0.9,
        r_max: float = 0.999,
        max_phase: float = math.pi / 10,
        key: Key,
    ):
        for name, value in (("width", width), ("depth", depth), ("state_size", state_size)):
            _check_positive(name, value)
        keys = jax.random.split(key, depth)
        self.blocks = tuple(
            SSMBlock(width, state_size, mlp_width, r_min=r_min, r_max=r_max, max_phase=max_phase, key=k)
            for k in keys
        )
        self.ln_final = eqx.nn.LayerNorm(width)
        self.width = width
        self.depth = depth
        self.state_size = state_size

    def __call__(self, tokens: Float[Array, "seq width"]) -> Float[Array, "seq width"]:
        """The parallel pass over ``tokens``."""
        x = tokens
        for block in self.blocks:
            x = block(x)
        return _layer_norm(x, self.ln_final)

    def init_state(self, dtype=None) -> Float[Array, "depth 2 state"]:
        """The zero state of every layer, ``(depth, 2, state_size)`` (real and imaginary rows)."""
        dtype = self.blocks[0].ssm.D.dtype if dtype is None else dtype
        return jnp.zeros((self.depth, 2, self.state_size), dtype=dtype)

    def step(
        self, token: Float[Array, " width"], state: Float[Array, "depth 2 state"]
    ) -> tuple[Float[Array, " width"], Float[Array, "depth 2 state"]]:
        """Processes the next token: returns its output (equal to the corresponding row of the
        parallel pass over all tokens so far) and the updated state of every layer."""
        x, new = token, []
        for block, layer_state in zip(self.blocks, state):
            x, layer_state = block.step(x, layer_state)
            new.append(layer_state)
        return self.ln_final(x), jnp.stack(new)

"""Gradient-norm growth with the horizon (Figure 4b), with exponential and polynomial fits."""

import dataclasses
from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._typing import Key
from ..envs import Env
from ..models import AbstractWorldModel
from ._common import as_model, block_norms


@dataclasses.dataclass(frozen=True)
class GrowthFit:
    """A least-squares line ``log ||g|| = intercept + slope * x`` with ``x = H`` (exponential growth,
    rate ``slope`` per step) or ``x = log H`` (polynomial growth, degree ``slope``)."""

    kind: str
    slope: float
    intercept: float
    r2: float
    residual_ss: float
    slope_stderr: float

    def predict(self, horizons) -> np.ndarray:
        """The fitted ``||g||`` at ``horizons``."""
        h = np.asarray(horizons, dtype=float)
        x = h if self.kind == "exponential" else np.log(h)
        return np.exp(self.intercept + self.slope * x)


def _fit(x, y, kind) -> GrowthFit:
    A = np.stack([np.ones_like(x), x], axis=1)
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    resid = y - A @ coef
    ss_res = float(resid @ resid)
    ss_tot = float(((y - y.mean()) ** 2).sum())
    dof = max(len(x) - 2, 1)
    sxx = float(((x - x.mean()) ** 2).sum())
    stderr = float(np.sqrt(ss_res / dof / sxx)) if sxx > 0 else float("inf")
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0
    return GrowthFit(kind, float(coef[1]), float(coef[0]), r2, ss_res, stderr)


def fit_growth(
    horizons: Sequence[int] | np.ndarray, norms: Sequence[float] | np.ndarray
) -> tuple[GrowthFit, GrowthFit, str]:
    r"""Fits $\log\|g\|$ against $H$ (exponential) and against $\log H$ (polynomial) by least squares.

    **Returns:** ``(exponential, polynomial, verdict)``. The verdict is ``"exponential"`` or
    ``"polynomial"``, whichever fit has the larger $R^2$ (equivalently, the smaller residual sum of
    squares, as both fit the same points with two parameters), or ``"none"`` when the better fit's slope
    is not positive by more than two standard errors (no significant growth).
    """
    h = np.asarray(horizons, dtype=float)
    y = np.log(np.asarray(norms, dtype=float))
    if h.ndim != 1 or len(h) < 3:
        raise ValueError(f"at least three horizons are needed to compare two fits, got {len(h)}")
    if not np.all(np.isfinite(y)):
        raise ValueError("every gradient norm must be positive and finite to fit log-norms")
    exp_fit, poly_fit = _fit(h, y, "exponential"), _fit(np.log(h), y, "polynomial")
    best = exp_fit if exp_fit.r2 >= poly_fit.r2 else poly_fit
    verdict = best.kind if best.slope > 2.0 * best.slope_stderr and best.slope > 0 else "none"
    return exp_fit, poly_fit, verdict


@dataclasses.dataclass(frozen=True)
class HorizonGrowth:
    """Gradient norms over a range of horizons and their fits.

    **Fields:** `horizons`; `norms` (``(len(horizons), samples)``, one per random action sequence);
    `mean_norm` (their mean at each horizon, what is fitted, as in Figure 4b); `target`
    (``"final_state"`` or ``"return"``); `exponential`, `polynomial` ([`awmkit.diagnostics.GrowthFit`][]);
    `verdict`.
    """

    horizons: np.ndarray
    norms: np.ndarray
    mean_norm: np.ndarray
    target: str
    exponential: GrowthFit
    polynomial: GrowthFit
    verdict: str

    def as_dict(self) -> dict:
        return {
            "horizons": self.horizons.tolist(),
            "mean_norm": self.mean_norm.tolist(),
            "median_norm": np.median(self.norms, axis=1).tolist(),
            "samples": int(self.norms.shape[1]),
            "target": self.target,
            "exponential": dataclasses.asdict(self.exponential),
            "polynomial": dataclasses.asdict(self.polynomial),
            "verdict": self.verdict,
        }


def _unpack(item, horizon):
    """A factory's output as ``(model, env_or_None)``."""
    if isinstance(item, tuple) and len(item) == 2:
        model, env = item
        if not isinstance(env, Env):
            raise TypeError(f"factory({horizon}) returned a pair whose second entry is not an Env")
        return as_model(model, f"factory({horizon})[0]"), env
    if isinstance(item, Env):
        return as_model(item), item
    if isinstance(item, AbstractWorldModel):
        return item, None
    raise TypeError(
        f"factory({horizon}) must return an Env, a world model, or a (world model, Env) pair; "
        f"got {type(item).__name__}"
    )


@eqx.filter_jit
def _initial_action_norms(model, env, s0, actions, target):
    def one(acts):
        def output(a0):
            a = acts.at[0].set(a0)
            states = model.rollout_actions(s0, a)
            if target == "final_state":
                return states[-1]
            steps = jnp.arange(a.shape[0])
            return jnp.sum(jax.vmap(env.reward)(states[:-1], a, states[1:], steps))

        jac = jax.jacrev(output)(acts[0])  # reverse mode: Diffrax solvers have no forward mode
        return block_norms(jnp.atleast_2d(jac), "spectral")

    return jax.vmap(one)(actions)


def horizon_growth(
    factory: Callable[[int], object],
    horizons: Sequence[int] | np.ndarray,
    *,
    key: Key,
    samples: int = 50,
    target: str = "final_state",
    s0=None,
) -> HorizonGrowth:
    r"""How the gradient with respect to the first action grows with the horizon (Figure 4b).

    For every horizon ``H``, ``factory(H)`` builds the system; ``samples`` action sequences are drawn
    uniformly from $[-1, 1]^{H \times m}$ and the norm of $\partial \hat s_H / \partial a_0$
    (``target="final_state"``, Figure 4b; spectral norm) or of $\partial J / \partial a_0$
    (``target="return"``; $J$ the sum of ``env.reward`` along the predicted states) is computed by
    reverse-mode differentiation. The mean over samples is fitted as exponential ($\log\|g\|$ linear in
    $H$) and polynomial ($\log\|g\|$ linear in $\log H$), see [`awmkit.diagnostics.fit_growth`][].

    **Arguments:**

    - `factory`: ``H -> Env | world model | (world model, Env)``. An Env gives the simulator; the Env
      of a pair gives the initial state and the reward.
    - `horizons`: at least three distinct positive horizons.
    - `key`: a PRNG key for the action samples.
    - `samples`: action sequences per horizon (default 50, as in Figure 4b).
    - `target`: ``"final_state"`` (default) or ``"return"`` (needs an Env).
    - `s0`: the initial state when the factory returns a bare model (default: ``env.reset()``).

    **Returns:** a [`awmkit.diagnostics.HorizonGrowth`][].
    """
    horizons = list(horizons)
    if not horizons:
        raise ValueError("`horizons` must not be empty")
    for h in horizons:
        if isinstance(h, bool) or not isinstance(h, (int, np.integer)) or h <= 0:
            raise ValueError(f"`horizons` must hold positive integers, got {h!r}")
    if len(set(horizons)) < 3:
        raise ValueError(f"`horizons` needs at least three distinct values to fit growth, got {horizons}")
    if target not in ("final_state", "return"):
        raise ValueError(f"`target` must be 'final_state' or 'return', got {target!r}")
    if isinstance(samples, bool) or not isinstance(samples, int) or samples <= 0:
        raise ValueError(f"`samples` must be a positive integer, got {samples!r}")
    horizons = sorted(int(h) for h in set(horizons))
    built = []
    for h in horizons:  # build and check everything before computing anything
        model, env = _unpack(factory(h), h)
        model.check_horizon(h)
        if env is not None:
            if (env.state_dim, env.action_dim) != (model.state_dim, model.action_dim):
                model.check_compatible(env)
        if target == "return" and env is None:
            raise ValueError("`target='return'` needs the factory to return an Env or a (model, Env) pair")
        if env is None and s0 is None:
            raise ValueError("`s0` is required when the factory returns a bare world model")
        built.append((model, env))
    rows = []
    for h, (model, env), k in zip(horizons, built, jax.random.split(key, len(horizons))):
        start = env.reset(jax.random.fold_in(k, 1)) if s0 is None else jnp.asarray(s0)
        actions = jax.random.uniform(
            k, (samples, h, model.action_dim), dtype=start.dtype, minval=-1.0, maxval=1.0
        )
        rows.append(np.asarray(_initial_action_norms(model, env, start, actions, target)))
    norms = np.stack(rows)
    mean = norms.mean(axis=1)
    exp_fit, poly_fit, verdict = fit_growth(horizons, mean)
    return HorizonGrowth(np.asarray(horizons), norms, mean, target, exp_fit, poly_fit, verdict)

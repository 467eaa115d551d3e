"""The finite-time maximal Lyapunov exponent of a map or an environment's dynamics (Benettin's method),
with a confidence interval over many starting states."""

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import scipy.stats
from jaxtyping import Array, Float

from .._typing import Key
from ..envs import Env


@dataclasses.dataclass(frozen=True)
class LyapunovEstimate:
    r"""A finite-time maximal Lyapunov exponent, estimated from many starting states.

    **Fields:**

    - `exponent`: the mean over starts of the per-start exponents, per unit of time (per step when
      ``dt = 1``).
    - `low`, `high`: the two-sided Student-t confidence interval of that mean at `confidence`.
    - `per_start`: the finite-time exponent of every start, shape ``(starts,)``.
    - `steps`: steps averaged per start (after `transient`); `transient`: steps discarded first while
      the tangent vector aligns with the most expanding direction; `dt`: time per step.
    """

    exponent: float
    low: float
    high: float
    confidence: float
    per_start: np.ndarray
    steps: int
    transient: int
    dt: float

    def as_dict(self) -> dict:
        return {
            "exponent": self.exponent,
            "low": self.low,
            "high": self.high,
            "confidence": self.confidence,
            "starts": int(self.per_start.size),
            "per_start_std": float(np.std(self.per_start, ddof=1)) if self.per_start.size > 1 else 0.0,
            "steps": self.steps,
            "transient": self.transient,
            "dt": self.dt,
        }


def _tangent_step(step, x, v, k, mode):
    """``(step(x, k), J v)`` with ``J = d step / d x`` at ``x``."""
    if mode == "forward":
        return jax.jvp(lambda y: step(y, k), (x,), (v,))
    y = step(x, k)
    jac = jax.jacrev(lambda z: step(z, k))(x)  # Diffrax's solvers have no forward mode
    return y, jac @ v


def _run(step, starts, vectors, first, steps, transient, mode):
    def one(x, v):
        def body(carry, k):
            x, v = carry
            y, w = _tangent_step(step, x, v, k, mode)
            growth = jnp.linalg.norm(w)
            return (y, w / growth), jnp.log(growth)

        _, logs = jax.lax.scan(body, (x, v), first + jnp.arange(transient + steps))
        return jnp.sum(logs[transient:])

    return jax.jit(jax.vmap(one))(starts, vectors)


def _as_step(system) -> tuple[Callable, int]:
    """A ``(x, k) -> x'`` map from an Env (zero action) or a callable of one or two arguments."""
    if isinstance(system, Env):
        zero = jnp.zeros((system.action_dim,))
        return (lambda x, k: system.step(x, zero.astype(x.dtype), k)), 1
    if not callable(system):
        raise TypeError(
            f"`system` must be an awmkit.envs.Env or a callable x -> x' (or (x, k) -> x'), got "
            f"{type(system).__name__}"
        )
    try:
        import inspect

        n = len(inspect.signature(system).parameters)
    except (TypeError, ValueError):
        n = 1
    return ((lambda x, k: system(x, k)) if n >= 2 else (lambda x, k: system(x))), 0


def lyapunov_exponent(
    system: Env | Callable,
    starts: Float[Array, "starts state_dim"] | np.ndarray,
    steps: int,
    *,
    key: Key,
    dt: float | None = None,
    transient: int = 0,
    confidence: float = 0.95,
    mode: str = "auto",
) -> LyapunovEstimate:
    r"""The finite-time maximal Lyapunov exponent of a discrete-time system, by tangent-space
    propagation with renormalisation at every step (Benettin et al., 1980), from many starting states.

    From each start $x_0$ a random unit tangent vector $v_0$ is carried along the trajectory,
    $x_{k+1} = f(x_k)$, $w = J_f(x_k) v_k$, $v_{k+1} = w / \|w\|$, and the exponent of that start is
    $\lambda = \frac{1}{n\,dt} \sum_{k} \ln \|w_k\|$ over the ``steps`` steps after the first
    ``transient`` (which only align $v$ with the most expanding direction). A positive exponent means
    nearby trajectories separate as $e^{\lambda t}$: the gradient of the final state with respect to the
    initial state (and to anything that sets it, such as the double pendulum's initial action) grows
    exponentially with the horizon.

    **Arguments:**

    - `system`: an [`awmkit.envs.Env`][] (its dynamics under the zero action, from step index 1 on, so a
      first step that places the initial condition is skipped; `dt` defaults to ``env.dt``) or a map
      ``x -> x'`` or ``(x, k) -> x'`` (``k`` the step index; `dt` defaults to 1, a rate per step).
    - `starts`: the starting states, shape ``(starts, state_dim)``; at least two for an interval.
    - `steps`: steps averaged per start (positive).
    - `key`: a PRNG key for the initial tangent vectors.
    - `dt`: time per step; the exponent is per unit of time.
    - `transient`: steps run first and not averaged (default 0).
    - `confidence`: the interval's level (default 0.95).
    - `mode`: ``"forward"`` (Jacobian-vector products), ``"reverse"`` (the step's Jacobian by reverse
      mode, for solvers without forward mode) or ``"auto"`` (forward, falling back to reverse).

    **Returns:** a [`awmkit.diagnostics.LyapunovEstimate`][].
    """
    step, first = _as_step(system)
    for name, value, low in (("steps", steps, 1), ("transient", transient, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"`{name}` must be an integer >= {low}, got {value!r}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"`confidence` must be in (0, 1), got {confidence!r}")
    if mode not in ("auto", "forward", "reverse"):
        raise ValueError(f"`mode` must be one of 'auto', 'forward', 'reverse', got {mode!r}")
    if dt is None:
        dt = system.dt if isinstance(system, Env) else 1.0
    if not (isinstance(dt, (int, float, np.floating)) and dt > 0):
        raise ValueError(f"`dt` must be a positive number, got {dt!r}")
    starts = jnp.asarray(starts)
    if starts.ndim != 2 or starts.shape[0] < 2:
        raise ValueError(
            f"`starts` must have shape (starts, state_dim) with at least 2 starts, got {starts.shape}"
        )
    if not jnp.issubdtype(starts.dtype, jnp.floating):
        starts = starts.astype(jnp.float32)
    vectors = jax.random.normal(key, starts.shape, dtype=starts.dtype)
    vectors = vectors / jnp.linalg.norm(vectors, axis=1, keepdims=True)
    args = (step, starts, vectors, first, int(steps), int(transient))
    if mode == "auto":
        try:
            sums = _run(*args, "forward")
        except TypeError as e:  # no forward mode (Diffrax's custom_vjp loops)
            if "forward-mode" not in str(e) and "custom_vjp" not in str(e):
                raise
            sums = _run(*args, "reverse")
    else:
        sums = _run(*args, mode)
    per_start = np.asarray(sums, dtype=float) / (int(steps) * float(dt))
    if not np.all(np.isfinite(per_start)):
        raise FloatingPointError(
            "a tangent vector became non-finite (the system diverged or hit a singular step)"
        )
    mean = float(per_start.mean())
    sem = float(per_start.std(ddof=1) / np.sqrt(per_start.size))
    half = float(scipy.stats.t.ppf(0.5 + confidence / 2.0, per_start.size - 1)) * sem
    return LyapunovEstimate(
        mean, mean - half, mean + half, float(confidence), per_start, int(steps), int(transient), float(dt)
    )

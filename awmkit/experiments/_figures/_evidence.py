"""What the offline figures' claims are decided on (Figures 3c, 4b, 4c): growth rates of the gradient
norm over the tail of the horizons with bootstrap intervals, gradient ascent on the initial action with
a model's own gradient scored by the true return, and the settings profiles of a figure's grid.

The measurements (`initial_action_ascent`, the Lyapunov exponent, the per-sample norms) run inside an
``offline_model`` cell, where the trained model is; the statistics (`tail_rate`, `paired_difference`)
run in the claims' checks, on what the cell stored."""

import dataclasses
from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from .._cell import ENV_OPTIONS, Cell, check_env_options

#: Settings profiles of a figure's grid (see `apply_profile`).
PROFILES = ("awmkit", "authors")
#: The double pendulum as the authors' code defines it (`awmkit.envs.DoublePendulum`).
AUTHORS_PENDULUM = {"initial_angle": "authors", "reward": "authors"}


def apply_profile(cells: Sequence[Cell], profile: str) -> list[Cell]:
    """The cells of a figure under a settings profile: ``"awmkit"`` leaves them as they are;
    ``"authors"`` gives every ``bpo`` cell ``BPOConfig(profile="authors")`` and every ``bpo`` or
    ``offline_model`` cell on the double pendulum the authors' reading of the task (their
    ``env_options``: ``initial_angle="authors"``, ``reward="authors"``), so Figures 2 and 6 train on the
    same pendulum as Figures 4b and 4c. Other cells (SAC, Online-DT, the one-bounce task) have no
    authors' variant and are unchanged."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; valid profiles are: {', '.join(PROFILES)}")
    if profile == "awmkit":
        return list(cells)
    out = []
    for c in cells:
        config = dict(c.config)
        if c.kind == "bpo":
            config["profile"] = "authors"
        if c.kind in ("bpo", "offline_model") and c.env == "double_pendulum":
            config[ENV_OPTIONS] = dict(AUTHORS_PENDULUM)
        out.append(dataclasses.replace(c, config=config))
    return out


# --- statistics ------------------------------------------------------------------------------------


def tail_rate(
    horizons: Sequence[int] | np.ndarray,
    norms,
    *,
    tail_from: float | int | None = None,
    upto: float | int | None = None,
    stat: str = "mean",
    n_resamples: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict:
    r"""The growth rate of a gradient norm over the tail of the horizons: the least-squares slope of
    $\log(\text{stat of the norms})$ against $H$ (per step) over the horizons in ``[tail_from, upto]``
    (default: from half the largest), with a percentile bootstrap interval that resamples the action
    samples at every horizon independently.

    An exponential $e^{rH}$ has slope $r$ at every $H$; a power law $H^p$ has slope $p/H$, which the tail
    makes small. ``norms`` has shape ``(len(horizons), samples)`` (the samples of several seeds pooled)."""
    h = np.asarray(horizons, dtype=float)
    x = np.asarray(norms, dtype=float)
    if x.ndim != 2 or x.shape[0] != h.size:
        raise ValueError(f"`norms` must have shape (len(horizons), samples) = ({h.size}, n), got {x.shape}")
    upto = h.max() if upto is None else float(upto)
    tail_from = upto / 2.0 if tail_from is None else float(tail_from)
    sel = (h >= tail_from) & (h <= upto)
    if sel.sum() < 2:
        raise ValueError(
            f"the tail [{tail_from:g}, {upto:g}] holds fewer than two of the horizons {h.tolist()}"
        )
    if stat not in ("mean", "median"):
        raise ValueError(f"`stat` must be 'mean' or 'median', got {stat!r}")
    reduce = np.mean if stat == "mean" else np.median
    hs, xs = h[sel], x[sel]
    xc = hs - hs.mean()

    def slope(logs):  # logs (..., tail)
        return (logs - logs.mean(axis=-1, keepdims=True)) @ xc / float(xc @ xc)

    estimate = float(slope(np.log(reduce(xs, axis=-1))))
    rng = np.random.default_rng(seed)
    n = xs.shape[1]
    idx = rng.integers(0, n, size=(n_resamples, hs.size, n))
    boot = xs[np.arange(hs.size)[None, :, None], idx]
    slopes = slope(np.log(reduce(boot, axis=-1)))
    low, high = np.quantile(slopes, [(1 - confidence) / 2, (1 + confidence) / 2])
    return {
        "rate": round(estimate, 6),
        "low": round(float(low), 6),
        "high": round(float(high), 6),
        "horizons": hs.astype(int).tolist(),
        "stat": stat,
        "samples": int(n),
    }


def paired_difference(a, b, *, n_resamples: int = 2000, seed: int = 0, confidence: float = 0.95) -> dict:
    """The mean of ``a - b`` over paired samples with a percentile bootstrap interval."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, d.size, size=(n_resamples, d.size))].mean(axis=1)
    low, high = np.quantile(means, [(1 - confidence) / 2, (1 + confidence) / 2])
    return {"mean": round(float(d.mean()), 4), "low": round(float(low), 4), "high": round(float(high), 4)}


def clustered_mean(
    groups: Sequence, *, n_resamples: int = 2000, seed: int = 0, confidence: float = 0.95
) -> dict:
    """The mean of values that come in groups (one group per trained model: its ascents from every
    start) with a two-stage percentile bootstrap interval: the groups resampled with replacement, then
    the values within each drawn group. With one group it is the ordinary bootstrap over its values; with
    several, the interval also carries the spread between models (coarsely: K models give at most
    C(2K-1, K) distinct draws of models)."""
    arrays = [np.asarray(g, dtype=float).ravel() for g in groups]
    if not arrays or any(a.size == 0 for a in arrays):
        raise ValueError("`groups` must hold at least one non-empty group of values")
    rng = np.random.default_rng(seed)
    k = len(arrays)
    picks = rng.integers(0, k, size=(n_resamples, k))
    means = np.empty(n_resamples)
    for i, row in enumerate(picks):
        means[i] = np.mean(
            np.concatenate([a[rng.integers(0, a.size, a.size)] for a in (arrays[j] for j in row)])
        )
    low, high = np.quantile(means, [(1 - confidence) / 2, (1 + confidence) / 2])
    pooled = np.concatenate(arrays)
    return {
        "mean": round(float(pooled.mean()), 4),
        "low": round(float(low), 4),
        "high": round(float(high), 4),
        "per_model": [round(float(a.mean()), 4) for a in arrays],
        "models": k,
    }


# --- gradient ascent on the initial action -------------------------------------------------------------


@eqx.filter_jit
def _ascend(model, env, s0, base, starts, steps, learning_rate):
    optimiser = optax.adam(learning_rate)

    def J(a0):
        actions = base.at[0, 0].set(a0)
        states = model.rollout_actions(s0, actions)
        k = jnp.arange(actions.shape[0])
        return jnp.sum(jax.vmap(env.reward)(states[:-1], actions, states[1:], k))

    def one(a0):
        def body(carry, _):
            a, opt_state, bad = carry
            g = jax.grad(J)(a)
            finite = jnp.isfinite(g)
            updates, opt_state = optimiser.update(-jnp.where(finite, g, 0.0), opt_state)
            a = jnp.clip(optax.apply_updates(a, updates), -1.0, 1.0)
            return (a, opt_state, bad + (~finite).astype(jnp.int32)), None

        (a, _, bad), _ = jax.lax.scan(body, (a0, optimiser.init(a0), jnp.int32(0)), None, length=steps)
        return a, J(a), bad

    return jax.vmap(one)(starts)


def initial_action_ascent(model, env, *, starts: int, steps: int, learning_rate: float) -> dict:
    """Gradient ascent on the initial action with ``model``'s own gradient of the return (the other
    actions held at zero, as in the landscape), from ``starts`` initial actions evenly spaced over
    ``[-1, 1]``: ``steps`` Adam steps of rate ``learning_rate``, the action clipped to ``[-1, 1]`` after
    each (a non-finite gradient is skipped and counted). Adam, as BPO's policy update, makes the step
    size independent of the gradient's scale, so the models differ only in the directions their
    gradients give. Returns the starts, the ends, the model's return there and the **true** return there
    (the simulator's)."""
    from ...models import SimulatorModel

    s0 = env.reset()
    dtype = s0.dtype
    base = jnp.zeros((env.horizon, env.action_dim), dtype)
    a0 = jnp.linspace(-1.0, 1.0, starts, dtype=dtype)
    with jax.numpy_dtype_promotion("standard"):  # optax's bias correction mixes a Python float and int32
        ends, model_return, bad = _ascend(model, env, s0, base, a0, int(steps), float(learning_rate))
        _, true_return, _ = _ascend(SimulatorModel(env), env, s0, base, ends, 0, float(learning_rate))
    return {
        "optimiser": "adam",
        "learning_rate": float(learning_rate),
        "steps": int(steps),
        "starts": np.asarray(a0).tolist(),
        "ends": np.asarray(ends).tolist(),
        "model_return": np.asarray(model_return).tolist(),
        "true_return": np.asarray(true_return).tolist(),
        "nonfinite_gradients": int(np.asarray(bad).sum()),
    }


# --- the offline cell's extra measurements -------------------------------------------------------------

#: The ``offline_model`` options this module adds, and their defaults (nothing measured by default).
EVIDENCE_OPTIONS = {
    "env_options": {},
    "lyapunov_starts": 0,
    "lyapunov_steps": 200,
    "lyapunov_transient": 20,
    "ascent_starts": 0,
    "ascent_steps": 200,
    "ascent_lr": 0.01,
}


def check_evidence_options(cell: Cell, opts: dict) -> None:
    """One-line errors for the options of `EVIDENCE_OPTIONS`."""
    where = f"cell {cell.name!r}"
    check_env_options(cell, opts["env_options"])  # the same check as a ``bpo`` cell's
    for name, low in (("lyapunov_starts", 0), ("lyapunov_steps", 1), ("lyapunov_transient", 0)):
        value = opts[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{where}: option {name} must be an integer >= {low}, got {value!r}")
    if opts["lyapunov_starts"] == 1:
        raise ValueError(f"{where}: option lyapunov_starts needs 0 or at least 2 starts for an interval")
    for name, low in (("ascent_starts", 0), ("ascent_steps", 1)):
        value = opts[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{where}: option {name} must be an integer >= {low}, got {value!r}")
    lr = opts["ascent_lr"]
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:
        raise ValueError(f"{where}: option ascent_lr must be a positive number, got {lr!r}")


def extra_measurements(cell: Cell, env, model, opts: dict, seed: int) -> dict:
    """The Lyapunov exponent of the true dynamics (simulator cells with ``lyapunov_starts``) and the
    gradient ascent of `initial_action_ascent` (cells with ``ascent_starts``) for one seed."""
    from ...diagnostics import lyapunov_exponent

    out = {}
    key = jax.random.fold_in(jax.random.key(cell.key + 2), seed)
    if cell.model == "simulator" and opts["lyapunov_starts"]:
        # starts: the states the first step reaches from uniformly random initial actions (as in Figure 4b)
        actions = jax.random.uniform(key, (opts["lyapunov_starts"], env.action_dim), minval=-1.0, maxval=1.0)
        starts = jax.vmap(lambda a: env.step(env.reset(), a.astype(env.reset().dtype), 0))(actions)
        est = lyapunov_exponent(
            env, starts, opts["lyapunov_steps"], key=key, transient=opts["lyapunov_transient"]
        )
        out["lyapunov"] = est.as_dict()
    if opts["ascent_starts"]:
        out["ascent"] = initial_action_ascent(
            model,
            env,
            starts=opts["ascent_starts"],
            steps=opts["ascent_steps"],
            learning_rate=opts["ascent_lr"],
        )
    return out

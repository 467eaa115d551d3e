"""Optimal open-loop controls on the true dynamics by direct shooting: the "1" of normalised returns."""

import dataclasses
import time
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float

from .._typing import Key
from ..envs import Env, rollout


@dataclasses.dataclass(frozen=True)
class TrajOptSettings:
    """How [`awmkit.baselines.trajopt`][] searches for the optimal open-loop controls.

    The controls are parameterised as ``a = tanh(z)`` so that every iterate lies in ``[-1, 1]``
    (the bounds hold by construction, and the return stays a smooth function of ``z``). Every restart
    runs `adam_steps` steps of Adam with a cosine-decayed learning rate, which moves quickly across
    flat or non-smooth regions, then `lbfgs_steps` steps of L-BFGS with a zoom line search
    (``optax.lbfgs``), which converges to high accuracy near a smooth optimum. The best iterate seen by
    each restart is kept, so a restart that diverges late cannot lose its earlier progress.

    Restarts (all run at once under ``jax.vmap``):

    - `constant_inits`: constant action sequences, e.g. ``(-0.9, -0.5, 0, 0.5, 0.9)``.
    - `switch_inits`: bang-bang sequences that switch once from ``+0.9`` to ``-0.9`` and once from
      ``-0.9`` to ``+0.9`` at each listed fraction of the horizon (systems that are linear in the
      control, e.g. bioreactor and timber_harvest, have bang-bang optima).
    - `random_restarts`: sequences drawn uniformly from ``[-0.9, 0.9]``.

    Because ``tanh`` reaches the bounds only in the limit, optima *on* the bounds (bang-bang controls,
    or invasive_plant's exact removal at ``u = 1``) are also checked directly: with `bang_bang`, every
    sequence that is ``+1`` before a switch step and ``-1`` after it (or the reverse), for all ``H + 1``
    switch steps, is evaluated exactly and wins if it beats the optimised restarts.

    **Arguments:**

    - `adam_steps`, `adam_learning_rate`: the first phase (learning rate on ``z``, decayed to 1% of it
      by a cosine schedule).
    - `lbfgs_steps`, `lbfgs_memory`: the second phase.
    - `random_restarts`, `constant_inits`, `switch_inits`: the restarts described above.
    - `bang_bang`: also evaluate the exact one-switch bang-bang sequences described above.
    - `x64`: run the optimisation in float64 (recommended: L-BFGS stalls at float32 round-off long before
      the references are accurate to the digits they are stored with).
    """

    adam_steps: int = 300
    adam_learning_rate: float = 0.1
    lbfgs_steps: int = 300
    lbfgs_memory: int = 20
    random_restarts: int = 4
    constant_inits: tuple[float, ...] = (-0.9, -0.5, 0.0, 0.5, 0.9)
    switch_inits: tuple[float, ...] = (0.25, 0.5, 0.75)
    bang_bang: bool = True
    x64: bool = True

    def __post_init__(self):
        for name in ("adam_steps", "lbfgs_steps", "random_restarts"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"`{name}` must be a non-negative integer, got {value!r}")
        if self.adam_steps + self.lbfgs_steps == 0:
            raise ValueError("`adam_steps` and `lbfgs_steps` cannot both be 0")
        if (
            isinstance(self.lbfgs_memory, bool)
            or not isinstance(self.lbfgs_memory, int)
            or self.lbfgs_memory < 1
        ):
            raise ValueError(f"`lbfgs_memory` must be a positive integer, got {self.lbfgs_memory!r}")
        if not self.adam_learning_rate > 0:
            raise ValueError(f"`adam_learning_rate` must be positive, got {self.adam_learning_rate!r}")
        for value in self.constant_inits:
            if not -1.0 < value < 1.0:
                raise ValueError(f"`constant_inits` must lie in the open interval (-1, 1), got {value!r}")
        for value in self.switch_inits:
            if not 0.0 < value < 1.0:
                raise ValueError(f"`switch_inits` must be fractions in (0, 1), got {value!r}")
        if self.restarts == 0:
            raise ValueError("at least one restart is needed: all of the restart options are empty")

    @property
    def restarts(self) -> int:
        """The total number of restarts."""
        return self.random_restarts + len(self.constant_inits) + 2 * len(self.switch_inits)

    def to_dict(self) -> dict[str, Any]:
        """The settings as JSON-serialisable values."""
        out = dataclasses.asdict(self)
        out["constant_inits"] = list(self.constant_inits)
        out["switch_inits"] = list(self.switch_inits)
        out["restarts"] = self.restarts
        out["parameterisation"] = "tanh"
        out["solver"] = "adam (cosine decay) then optax.lbfgs (zoom line search), single shooting"
        return out


class TrajOptResult(eqx.Module):
    """The result of [`awmkit.baselines.trajopt`][].

    **Fields:**

    - `optimal_return`: the best return found, ``max_restart max_iterate J(a)``.
    - `actions`: the best action sequence, shape ``(H, action_dim)``, in ``[-1, 1]``.
    - `returns`: the best return of each restart, shape ``(restarts,)``.
    - `history`: the return of every iterate of every restart, shape ``(restarts, adam_steps +
      lbfgs_steps)`` (Adam phase first); its last columns show convergence.
    - `initial_returns`: the return of each restart's initial action sequence.
    - `settings`: the [`awmkit.baselines.TrajOptSettings`][] used.
    - `env_name`, `horizon`, `integrator`: what was solved.
    - `wall_time_s`: wall-clock seconds, compilation included.
    """

    optimal_return: float
    actions: Float[np.ndarray, "horizon action_dim"]
    returns: Float[np.ndarray, " restarts"]
    history: Float[np.ndarray, "restarts iterations"]
    initial_returns: Float[np.ndarray, " restarts"]
    settings: TrajOptSettings = eqx.field(static=True)
    env_name: str = eqx.field(static=True)
    horizon: int = eqx.field(static=True)
    integrator: str = eqx.field(static=True)
    wall_time_s: float = eqx.field(static=True)

    @property
    def converged_change(self) -> float:
        """How much the best restart's return changed over its last 10% of iterations (a convergence
        check: near 0 when converged)."""
        best = int(np.nanargmax(np.where(np.isfinite(self.returns), self.returns, -np.inf)))
        curve = np.maximum.accumulate(np.nan_to_num(self.history[best], nan=-np.inf))
        tail = max(1, curve.shape[0] // 10)
        return float(curve[-1] - curve[-tail - 1])


def describe_integrator(env: Env) -> str:
    """A short description of an environment's integrator, e.g. ``"Euler, 1 substep"``."""
    integ = env.integrator
    text = f"{type(integ.solver).__name__}, {integ.substeps} substep{'s' if integ.substeps != 1 else ''}"
    if integ.stepsize_controller is not None:
        text += f", {type(integ.stepsize_controller).__name__}"
    return text


def _initial_actions(settings: TrajOptSettings, horizon: int, action_dim: int, key: Key, dtype):
    inits = [jnp.full((horizon, action_dim), c, dtype=dtype) for c in settings.constant_inits]
    steps = jnp.arange(horizon)[:, None]
    for fraction in settings.switch_inits:
        switch = round(fraction * horizon)
        first = jnp.where(steps < switch, 0.9, -0.9) * jnp.ones((horizon, action_dim), dtype=dtype)
        inits += [first.astype(dtype), (-first).astype(dtype)]
    if settings.random_restarts:
        random = jax.random.uniform(
            key, (settings.random_restarts, horizon, action_dim), dtype=dtype, minval=-0.9, maxval=0.9
        )
        inits += list(random)
    return jnp.stack(inits)


def _bang_bang(env: Env, dtype):
    """Every one-switch sequence on the bounds (+1 then -1, and -1 then +1, all action dimensions
    together, switch after 0..H steps) and its exact return."""
    steps = jnp.arange(env.horizon)[None, :, None]
    switches = jnp.arange(env.horizon + 1)[:, None, None]
    on_then_off = jnp.where(steps < switches, 1.0, -1.0).astype(dtype)
    on_then_off = jnp.broadcast_to(on_then_off, (env.horizon + 1, env.horizon, env.action_dim))
    candidates = jnp.concatenate([on_then_off, -on_then_off])
    return candidates, jax.vmap(lambda a: rollout(env, a).total_return)(candidates)


def _solve(env: Env, settings: TrajOptSettings, z0: Float[Array, "restarts horizon action_dim"]):
    def objective(z):
        # Minimise the negated return; NaN (a diverged rollout) becomes +inf so no search accepts it.
        value = -rollout(env, jnp.tanh(z)).total_return
        return jnp.where(jnp.isnan(value), jnp.inf, value)

    value_and_grad = jax.value_and_grad(objective)

    def keep_best(best, z, value):
        best_value, best_z = best
        better = value < best_value
        return jnp.where(better, value, best_value), jnp.where(better, z, best_z)

    def one_restart(z):
        best = (objective(z), z)
        history = []
        if settings.adam_steps:
            schedule = optax.cosine_decay_schedule(
                settings.adam_learning_rate, settings.adam_steps, alpha=0.01
            )
            adam = optax.adam(schedule)

            def adam_step(carry, _):
                z, state, best = carry
                value, grad = value_and_grad(z)
                best = keep_best(best, z, value)
                grad = jnp.where(jnp.isfinite(grad), grad, 0.0)
                updates, state = adam.update(grad, state, z)
                return (optax.apply_updates(z, updates), state, best), value

            (z, _, best), values = jax.lax.scan(
                adam_step, (z, adam.init(z), best), None, length=settings.adam_steps
            )
            best = keep_best(best, z, objective(z))
            z = best[1]
            history.append(values)
        if settings.lbfgs_steps:
            lbfgs = optax.lbfgs(memory_size=settings.lbfgs_memory)
            cached_value_and_grad = optax.value_and_grad_from_state(objective)

            def lbfgs_step(carry, _):
                z, state, best = carry
                value, grad = cached_value_and_grad(z, state=state)
                best = keep_best(best, z, value)
                updates, state = lbfgs.update(grad, state, z, value=value, grad=grad, value_fn=objective)
                return (optax.apply_updates(z, updates), state, best), value

            (z, _, best), values = jax.lax.scan(
                lbfgs_step, (z, lbfgs.init(z), best), None, length=settings.lbfgs_steps
            )
            best = keep_best(best, z, objective(z))
            history.append(values)
        return best[1], -best[0], -jnp.concatenate(history)

    z_best, returns, history = jax.vmap(one_restart)(z0)
    initial = jax.vmap(lambda z: -objective(z))(z0)
    return jnp.tanh(z_best), returns, history, initial


def trajopt(env: Env, settings: TrajOptSettings | None = None, *, key: Key) -> TrajOptResult:
    """Optimal open-loop controls for ``env`` on its true, differentiable dynamics.

    Direct single shooting: maximise the episode return

    $$J(a_{0:H-1}) = \\sum_{k=0}^{H-1} r(s_k, a_k, s_{k+1}, k), \\qquad s_{k+1} = \\text{env.step}(s_k, a_k, k)$$

    over the whole action sequence, from several initialisations at once, with the environment's own
    integrator. This is the optimal reference of normalised returns (paper, Appendix F: "optimal
    policies are computed using trajectory optimization on the underlying differential equations").
    For a deterministic problem with a fixed initial state the best open-loop sequence is also the best
    closed-loop policy, so the result is the optimum any policy can reach.

    Single shooting is sufficient for every awmkit system at horizons up to 2000 (the returns converge
    to the analytic discrete optima where they are known, see ``tests/test_trajopt.py``; at H = 500,
    1000 and 2000 the shipped optima converge at first order in ``dt``, as Euler's error does), so no
    multiple-shooting variant is provided.

    **Arguments:**

    - `env`: the environment (any [`awmkit.envs.Env`][]; its initial state must be fixed, i.e. no
      `initial_state_fn`).
    - `settings`: a [`awmkit.baselines.TrajOptSettings`][] (default settings when omitted).
    - `key`: PRNG key for the random restarts.

    **Returns:** a [`awmkit.baselines.TrajOptResult`][]; its `optimal_return` is the best return found.
    """
    if not isinstance(env, Env):
        raise TypeError(f"`env` must be an awmkit.envs.Env, got {type(env).__name__}")
    if env.initial_state_fn is not None:
        raise ValueError(
            "`env` samples its initial state (initial_state_fn is set): open-loop trajectory "
            "optimisation needs a fixed initial state"
        )
    if settings is None:
        settings = TrajOptSettings()
    if not isinstance(settings, TrajOptSettings):
        raise TypeError(
            f"`settings` must be an awmkit.baselines.TrajOptSettings, got {type(settings).__name__}"
        )
    start = time.perf_counter()
    # Optax's optimisers mix int32 step counts with float64 parameters, which strict dtype promotion
    # (a user setting, and awmkit's test-suite setting) rejects; standard promotion is exact here.
    with jax.enable_x64(settings.x64), jax.numpy_dtype_promotion("standard"):
        dtype = jnp.float64 if settings.x64 else jnp.float32
        a0 = _initial_actions(settings, env.horizon, env.action_dim, key, dtype)
        # arctanh of the initial actions: the optimiser works on z with a = tanh(z).
        z0 = jnp.arctanh(a0)
        actions, returns, history, initial = eqx.filter_jit(_solve)(env, settings, z0)
        returns = np.asarray(returns, dtype=np.float64)
        finite = np.where(np.isfinite(returns), returns, -np.inf)
        best = int(np.argmax(finite))
        best_actions = np.asarray(actions[best], dtype=np.float64)
        if settings.bang_bang:
            candidates, candidate_returns = eqx.filter_jit(_bang_bang)(env, dtype)
            candidate_returns = np.asarray(candidate_returns, dtype=np.float64)
            candidate_returns = np.where(np.isfinite(candidate_returns), candidate_returns, -np.inf)
            winner = int(np.argmax(candidate_returns))
            if candidate_returns[winner] > finite[best]:
                best_actions = np.asarray(candidates[winner], dtype=np.float64)
        # Re-evaluate the winner with a plain rollout: the reported return is exactly what
        # `rollout(env, actions)` gives (in the optimisation's precision).
        optimal = float(rollout(env, jnp.asarray(best_actions, dtype=dtype)).total_return)
    return TrajOptResult(
        optimal_return=optimal,
        actions=best_actions,
        returns=returns,
        history=np.asarray(history, dtype=np.float64),
        initial_returns=np.asarray(initial, dtype=np.float64),
        settings=settings,
        env_name=env.name,
        horizon=env.horizon,
        integrator=describe_integrator(env),
        wall_time_s=time.perf_counter() - start,
    )

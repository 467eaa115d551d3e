"""Policies for finite-horizon control: a tanh-squashed Gaussian and a deterministic tanh MLP.

Every policy follows awmkit's calling convention ``policy(state, k, key) -> action`` (actions in
``[-1, 1]^action_dim``), acts on one unbatched state (batch with ``jax.vmap``), and sees the time-step
``k / H`` as an extra input because the problems are finite-horizon. States are normalised with
per-dimension statistics stored as fields (set once after the warm-up with
[`awmkit.policies.AbstractPolicy.with_normaliser`][]), so they are saved and loaded with the policy
and never trained.
"""

import abc
import math
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._typing import Action, IntScalarLike, Key, RealScalar, State

__all__ = ["AbstractPolicy", "DeterministicPolicy", "TanhGaussianPolicy"]

_LOG_2PI = math.log(2.0 * math.pi)


def _check_dims(state_dim, action_dim, horizon, width_size, depth) -> None:
    for name, value in (
        ("state_dim", state_dim),
        ("action_dim", action_dim),
        ("horizon", horizon),
        ("width_size", width_size),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"`{name}` must be a positive integer, got {value!r}")
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 0:
        raise ValueError(f"`depth` must be a non-negative integer, got {depth!r}")


class AbstractPolicy(eqx.Module):
    """A policy ``pi_theta(a | s, k)`` on a finite horizon ``H``.

    Subclasses implement [`awmkit.policies.AbstractPolicy.sample_and_log_prob`][] (a reparameterised
    sample and its log-density) and [`awmkit.policies.AbstractPolicy.deterministic`][] (the action
    used for evaluation). Calling the policy samples; calling it with ``key=None`` acts
    deterministically.
    """

    state_dim: eqx.AbstractVar[int]
    action_dim: eqx.AbstractVar[int]
    horizon: eqx.AbstractVar[int]
    state_mean: eqx.AbstractVar[Float[Array, " state_dim"]]
    state_std: eqx.AbstractVar[Float[Array, " state_dim"]]

    @abc.abstractmethod
    def sample_and_log_prob(self, state: State, k: IntScalarLike, key: Key) -> tuple[Action, RealScalar]:
        """A reparameterised action sample ``a ~ pi(. | state, k)`` (differentiable with respect to
        the policy's parameters) and its log-density ``log pi(a | state, k)``; deterministic
        policies return their action and a log-density of zero (no entropy bonus)."""

    @abc.abstractmethod
    def deterministic(self, state: State, k: IntScalarLike) -> Action:
        """The deterministic action used for evaluation (the mode of a stochastic policy)."""

    def __call__(self, state: State, k: IntScalarLike, key: Key | None = None) -> Action:
        """Samples an action in ``[-1, 1]^action_dim``; with ``key=None`` returns
        [`awmkit.policies.AbstractPolicy.deterministic`][]."""
        if key is None:
            return self.deterministic(state, k)
        action, _ = self.sample_and_log_prob(state, k, key)
        return action

    def features(self, state: State, k: IntScalarLike) -> Float[Array, " state_dim+1"]:
        """The network input ``[(state - mean) / std, k / H]``. The statistics are constants: a
        ``stop_gradient`` keeps the optimiser from moving them."""
        mean = jax.lax.stop_gradient(self.state_mean)
        std = jax.lax.stop_gradient(self.state_std)
        normalised = (state - mean.astype(state.dtype)) / std.astype(state.dtype)
        time = jnp.asarray(k, dtype=state.dtype) / self.horizon
        return jnp.concatenate([normalised, time[None]])

    def with_normaliser(
        self, mean: Float[Array, " state_dim"], std: Float[Array, " state_dim"], *, min_std: float = 1e-6
    ) -> "AbstractPolicy":
        """A copy whose input normalisation uses per-dimension ``mean`` and ``std`` (floored at
        ``min_std`` so that constant state dimensions do not divide by zero)."""
        mean = jnp.asarray(mean)
        std = jnp.asarray(std)
        if mean.shape != (self.state_dim,) or std.shape != (self.state_dim,):
            raise ValueError(
                f"`mean` and `std` must have shape (state_dim,) = ({self.state_dim},), got "
                f"{mean.shape} and {std.shape}"
            )
        dtype = self.state_mean.dtype
        std = jnp.maximum(std, min_std).astype(dtype)
        return eqx.tree_at(lambda p: (p.state_mean, p.state_std), self, (mean.astype(dtype), std))

    def hyperparameters(self) -> dict:
        """The JSON-serialisable hyper-parameters that rebuild this policy's structure."""
        out = {"class": type(self).__name__}
        for field in self.__dataclass_fields__.values():
            if field.metadata.get("static", False):
                value = getattr(self, field.name)
                out[field.name] = value.__name__ if callable(value) else value
        return out


class TanhGaussianPolicy(AbstractPolicy):
    r"""A tanh-squashed Gaussian policy (Haarnoja et al., 2018; Amos et al., 2021).

    An MLP maps ``[normalised state, k / H]`` to a mean ``mu`` and log standard deviation
    ``log sigma`` (softly bounded to ``[log_std_min, log_std_max]``); an action is
    ``a = tanh(mu + sigma * eps)`` with ``eps ~ N(0, I)`` (reparameterised, so ``a`` is differentiable
    in the parameters). Its log-density includes the change-of-variables correction

    $$\log \pi(a) = \sum_i \log \mathcal{N}(u_i; \mu_i, \sigma_i^2) - \log(1 - \tanh^2 u_i),
    \qquad \log(1 - \tanh^2 u) = 2(\log 2 - u - \operatorname{softplus}(-2u)),$$

    written in the numerically stable form on the right. The deterministic action is ``tanh(mu)``.

    **Arguments:**

    - `state_dim`, `action_dim`: sizes of states and actions.
    - `horizon`: the episode length ``H`` (the time input is ``k / H``).
    - `width_size`, `depth`: hidden width and number of hidden layers of the MLP (default 64, 2).
    - `activation`: hidden activation (default ``jax.nn.tanh``, smooth gradients).
    - `log_std_min`, `log_std_max`: bounds of ``log sigma`` (default -5, 2).
    - `key`: PRNG key for the initialisation (keyword-only).
    """

    mlp: eqx.nn.MLP
    state_mean: Float[Array, " state_dim"]
    state_std: Float[Array, " state_dim"]
    state_dim: int = eqx.field(static=True)
    action_dim: int = eqx.field(static=True)
    horizon: int = eqx.field(static=True)
    width_size: int = eqx.field(static=True)
    depth: int = eqx.field(static=True)
    activation: Callable = eqx.field(static=True)
    log_std_min: float = eqx.field(static=True)
    log_std_max: float = eqx.field(static=True)

    def __init__(
        self,
        state_dim: int,
        action_dim: int,
        horizon: int,
        width_size: int = 64,
        depth: int = 2,
        activation: Callable = jax.nn.tanh,
        log_std_min: float = -5.0,
        log_std_max: float = 2.0,
        *,
        key: Key,
    ):
        _check_dims(state_dim, action_dim, horizon, width_size, depth)
        if not log_std_min < log_std_max:
            raise ValueError(f"need `log_std_min` < `log_std_max`, got {log_std_min} and {log_std_max}")
        self.state_dim, self.action_dim, self.horizon = state_dim, action_dim, horizon
        self.width_size, self.depth, self.activation = width_size, depth, activation
        self.log_std_min, self.log_std_max = float(log_std_min), float(log_std_max)
        self.mlp = eqx.nn.MLP(
            state_dim + 1, 2 * action_dim, width_size, depth, activation=activation, key=key
        )
        dtype = self.mlp.layers[0].weight.dtype
        self.state_mean = jnp.zeros(state_dim, dtype)
        self.state_std = jnp.ones(state_dim, dtype)

    def distribution(
        self, state: State, k: IntScalarLike
    ) -> tuple[Float[Array, " action_dim"], Float[Array, " action_dim"]]:
        """The pre-squash Gaussian's mean ``mu`` and log standard deviation ``log sigma``."""
        out = self.mlp(self.features(state, k))
        mean, raw = out[: self.action_dim], out[self.action_dim :]
        # A smooth bound (as in Amos et al.'s SVG code) keeps sigma's gradient alive at the limits.
        log_std = self.log_std_min + 0.5 * (self.log_std_max - self.log_std_min) * (jnp.tanh(raw) + 1.0)
        return mean, log_std

    def sample_and_log_prob(self, state: State, k: IntScalarLike, key: Key) -> tuple[Action, RealScalar]:
        mean, log_std = self.distribution(state, k)
        eps = jax.random.normal(key, mean.shape, mean.dtype)
        u = mean + jnp.exp(log_std) * eps
        gaussian = -0.5 * (eps**2 + _LOG_2PI) - log_std
        correction = 2.0 * (math.log(2.0) - u - jax.nn.softplus(-2.0 * u))
        return jnp.tanh(u), jnp.sum(gaussian - correction)

    def log_prob(self, state: State, k: IntScalarLike, action: Action) -> RealScalar:
        """``log pi(action | state, k)`` of a given action in the open box ``(-1, 1)^action_dim``."""
        mean, log_std = self.distribution(state, k)
        u = jnp.arctanh(action)
        z = (u - mean) * jnp.exp(-log_std)
        gaussian = -0.5 * (z**2 + _LOG_2PI) - log_std
        correction = 2.0 * (math.log(2.0) - u - jax.nn.softplus(-2.0 * u))
        return jnp.sum(gaussian - correction)

    def deterministic(self, state: State, k: IntScalarLike) -> Action:
        mean, _ = self.distribution(state, k)
        return jnp.tanh(mean)


class DeterministicPolicy(AbstractPolicy):
    """A deterministic policy ``a = tanh(MLP([normalised state, k / H]))``.

    It ignores the key (no exploration noise and no entropy bonus: its log-density is reported as
    zero), which is the policy class of pure backpropagation through a simulator.

    **Arguments:**

    - `state_dim`, `action_dim`: sizes of states and actions.
    - `horizon`: the episode length ``H``.
    - `width_size`, `depth`: hidden width and number of hidden layers (default 64, 2).
    - `activation`: hidden activation (default ``jax.nn.tanh``).
    - `key`: PRNG key for the initialisation (keyword-only).
    """

    mlp: eqx.nn.MLP
    state_mean: Float[Array, " state_dim"]
    state_std: Float[Array, " state_dim"]
    state_dim: int = eqx.field(static=True)
    action_dim: int = eqx.field(static=True)
    horizon: int = eqx.field(static=True)
    width_size: int = eqx.field(static=True)
    depth: int = eqx.field(static=True)
    activation: Callable = eqx.field(static=True)

    def __init__(
        self,
        state_dim: int,
        action_dim: int,
        horizon: int,
        width_size: int = 64,
        depth: int = 2,
        activation: Callable = jax.nn.tanh,
        *,
        key: Key,
    ):
        _check_dims(state_dim, action_dim, horizon, width_size, depth)
        self.state_dim, self.action_dim, self.horizon = state_dim, action_dim, horizon
        self.width_size, self.depth, self.activation = width_size, depth, activation
        self.mlp = eqx.nn.MLP(state_dim + 1, action_dim, width_size, depth, activation=activation, key=key)
        dtype = self.mlp.layers[0].weight.dtype
        self.state_mean = jnp.zeros(state_dim, dtype)
        self.state_std = jnp.ones(state_dim, dtype)

    def sample_and_log_prob(self, state: State, k: IntScalarLike, key: Key) -> tuple[Action, RealScalar]:
        return self.deterministic(state, k), jnp.zeros((), state.dtype)

    def deterministic(self, state: State, k: IntScalarLike) -> Action:
        return jnp.tanh(self.mlp(self.features(state, k)))

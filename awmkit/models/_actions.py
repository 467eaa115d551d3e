"""Actions World Models ``s_{t+1} = g(s_0, a_{0:t})`` (Section 4)."""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._typing import Actions, IntScalarLike, Key, PolicyFn, RealScalar, State, States
from ..envs import Trajectory
from ._backbones import AbstractBackbone, LSTMBackbone, RNNBackbone, SSMBackbone, TransformerBackbone
from ._base import AbstractWorldModel, RewardFn, check_actions
from ._common import (
    check_s0,
    check_size,
    check_trajectory,
    checked_policy,
    dtype_of,
    mse,
    reward_or_zero,
    step_indices,
    stop_gradient_arrays,
    time_feature,
)
from ._encoders import make_encoder
from ._normalise import Normaliser
from ._scan import blocked_scan, cache_residual_bytes, resolve_remat

_BACKBONES = ("transformer", "rnn", "lstm", "ssm")


class ActionsModel(AbstractWorldModel):
    r"""An Actions World Model (AWM): predicts every future state from the initial state and the actions
    alone,

    $$\hat z_{t+1} = z_0 + g_\psi(z_0, a_0, \dots, a_t)_{t+1},$$

    in normalised units ``z`` (see [`awmkit.models.Normaliser`][]). The backbone ``g`` reads the tokens
    ``[E_s(z_0, 0), E_a(a_0, 0), ..., E_a(a_{H-1}, H-1)]`` (embeddings of width `embed_size`, each
    with the time step ``k / max_horizon`` as an extra input, Appendix C.1) and output ``t + 1``
    gives ``s_{t+1}``. Because no predicted state is ever fed back, the gradient of a prediction with
    respect to an action never leaves the network: there are no circuitous paths (Figure 1c).

    **Policy gradient.** With ``stop_gradient=True`` (equation 3) and a parallel backbone (the
    transformer, the SSM), `imagine` and `policy_objective` first generate the rollout without gradient
    (KV-cache decoding, or one state update per step for the SSM), then recompute the actions ``a_k = pi(sg[s_k], k, key_k)`` from the generated states with
    the same per-step keys and run *one* parallel teacher-forced pass over them. Since the states fed to
    the policy are stop-gradiented, this has exactly the gradient of backpropagating through the
    generation, at the cost of one forward pass of the network, with every action-to-prediction path of
    length one. Recurrent backbones (and ``stop_gradient=False``, Appendix F.1) backpropagate through the
    sequential generation itself (a ``lax.scan``).

    **Arguments:**

    - `state_dim`, `action_dim`: the sizes of states and actions.
    - `max_horizon`: the longest horizon (the transformer's position table has ``max_horizon + 1``
      rows; default 500).
    - `backbone`: ``"transformer"`` (default: 2 layers, 3 heads, block MLP width ``4 embed_size`` = 192
      as GPT-2 and the authors' code), ``"rnn"`` (two vanilla RNN layers of 64, equation 4),
      ``"lstm"`` (one LSTM layer of width `embed_size`, as the authors' code; Appendix C.1 says two
      layers of 64: ``LSTMBackbone(embed_size, state_dim, (64, 64), key=...)``), ``"ssm"`` (two stable
      diagonal state-space layers of 64 complex modes with gated MLPs, [`awmkit.models.SSMBackbone`][]:
      parallel like the transformer, ``O(1)`` per generated step, any horizon), or a built
      [`awmkit.models.AbstractBackbone`][] with ``in_size == embed_size`` and ``out_size == state_dim``.
    - `embed_size`: the token width (default 48, as in the authors' code; Appendix C.1 says 72).
    - `encoder`: how `E_s` and `E_a` embed their inputs: ``"mlp"`` (default; hidden layers (64, 64)
      with swish, as in the authors' code) or ``"linear"`` (one linear layer, as Appendix C.1 says).
      See [Fidelity to the paper](../fidelity.md).
    - `remat`: whether the sequential generation is differentiated with block-wise rematerialisation
      (``jax.checkpoint`` every ``~sqrt(H)`` steps, see `awmkit.models.remat_scan`): reverse-mode memory
      falls from ``O(H)`` carries to ``O(sqrt(H))`` for one extra forward pass. Default (``None``):
      "auto" for the transformer, whose carry is its KV cache, so plain backpropagation keeps
      ``O(H^2)`` numbers: remat when that exceeds the backend's budget per sequence
      (`awmkit.models.REMAT_BUDGET_BYTES`: on a CPU off at ``H = 100``, on at ``H = 500``); ``True``
      for other parallel backbones; ``False`` for recurrent and SSM backbones (whose carry is small). Only
      the sequential paths use it (`imagine_sequential`, ``stop_gradient=False``).
    - `key`: a PRNG key (keyword-only).
    """

    state_embed: eqx.Module
    action_embed: eqx.Module
    backbone: AbstractBackbone
    normaliser: Normaliser
    state_dim: int = eqx.field(static=True)
    action_dim: int = eqx.field(static=True)
    max_horizon: int = eqx.field(static=True)
    embed_size: int = eqx.field(static=True)
    encoder: str = eqx.field(static=True)
    remat: bool | None = eqx.field(static=True)

    def __init__(
        self,
        state_dim: int,
        action_dim: int,
        max_horizon: int = 500,
        *,
        backbone: str | AbstractBackbone = "transformer",
        embed_size: int = 48,
        encoder: str = "mlp",
        remat: bool | None = None,
        key: Key,
    ):
        self.state_dim = check_size("state_dim", state_dim)
        self.action_dim = check_size("action_dim", action_dim)
        self.max_horizon = check_size("max_horizon", max_horizon)
        self.embed_size = check_size("embed_size", embed_size)
        ks, ka, kb = jax.random.split(key, 3)
        if isinstance(backbone, str):
            if backbone == "transformer":
                backbone = TransformerBackbone(
                    embed_size, state_dim, max_horizon + 1, mlp_width=4 * embed_size, key=kb
                )
            elif backbone == "rnn":
                backbone = RNNBackbone(embed_size, state_dim, key=kb)
            elif backbone == "lstm":
                backbone = LSTMBackbone(embed_size, state_dim, (embed_size,), key=kb)
            elif backbone == "ssm":
                backbone = SSMBackbone(embed_size, state_dim, key=kb)
            else:
                raise ValueError(f"unknown backbone {backbone!r}; valid names are: {', '.join(_BACKBONES)}")
        elif not isinstance(backbone, AbstractBackbone):
            raise TypeError(
                "`backbone` must be one of "
                f"{', '.join(_BACKBONES)} or an awmkit.models.AbstractBackbone, got {type(backbone).__name__}"
            )
        if backbone.in_size != embed_size or backbone.out_size != state_dim:
            raise ValueError(
                f"`backbone` maps tokens of size {backbone.in_size} to outputs of size {backbone.out_size}, "
                f"but this model needs in_size=embed_size={embed_size} and out_size=state_dim={state_dim}"
            )
        if backbone.max_length is not None and backbone.max_length < max_horizon + 1:
            raise ValueError(
                f"`backbone` accepts {backbone.max_length} tokens, but max_horizon={max_horizon} needs "
                f"max_horizon + 1 = {max_horizon + 1}"
            )
        self.state_embed = make_encoder(encoder, state_dim + 1, embed_size, key=ks)
        self.action_embed = make_encoder(encoder, action_dim + 1, embed_size, key=ka)
        self.encoder = encoder
        self.backbone = backbone
        self.normaliser = Normaliser(state_dim)
        if remat is None:
            # Only a carry that grows with H (the transformer's KV cache) is worth rematerialising.
            self.remat = (
                None
                if isinstance(backbone, TransformerBackbone)
                else bool(backbone.parallel) and not isinstance(backbone, SSMBackbone)
            )
        else:
            self.remat = bool(remat)

    def _remat(self, horizon: int, dtype) -> bool:
        if self.remat is not None:
            return self.remat
        t = self.backbone.transformer  # "auto" is only ever set for a TransformerBackbone
        lengths = self.backbone.carry_lengths(horizon + 1)
        residual = cache_residual_bytes(lengths, t.depth, t.width, t.num_heads, jnp.dtype(dtype).itemsize)
        return resolve_remat(None, residual)

    # --- tokens and the two ways of running the backbone ---------------------------------------------

    def _state_token(self, z0, t0):
        return self.state_embed(jnp.concatenate([z0, time_feature(t0, self.max_horizon, z0.dtype)]))

    def _action_token(self, a, k):
        return self.action_embed(jnp.concatenate([a, time_feature(k, self.max_horizon, a.dtype)]))

    def _parallel(self, z0, actions, t0):
        """``z_1, ..., z_H`` from one pass of the backbone over all tokens (teacher forcing)."""
        steps = step_indices(t0, actions.shape[0])
        tokens = jnp.concatenate(
            [self._state_token(z0, t0)[None], jax.vmap(self._action_token)(actions.astype(z0.dtype), steps)]
        )
        return z0[None] + self.backbone(tokens)[1:]

    def _generate(self, s0, policy, horizon, key, reward_fn, stop_gradient, remat):
        """The sequential closed-loop rollout, token by token (KV cache or recurrent state)."""
        dtype = dtype_of(self)
        z0 = self.normaliser.normalise(s0)
        # Token k + 1 (action k) is decoded in the segment whose carry holds lengths[j] > k + 1 tokens.
        lengths = self.backbone.carry_lengths(horizon + 1)
        init = self.backbone.init_carry(lengths[0], dtype)
        _, carry = self.backbone.step(self._state_token(z0, 0), init)

        def body(inner, inputs):
            carry, state = inner
            k, step_key = inputs
            action = policy(jax.lax.stop_gradient(state) if stop_gradient else state, k, step_key)
            out, carry = self.backbone.step(self._action_token(action, k), carry)
            next_state = self.normaliser.denormalise(z0 + out)
            reward = reward_fn(state, action, next_state, k)
            return (carry, next_state), (next_state, action, reward)

        steps = (jnp.arange(horizon), jax.random.split(key, horizon))
        bounds = tuple(length - 1 for length in lengths)

        def grow(inner, j):
            return self.backbone.grow_carry(inner[0], lengths[j]), inner[1]

        _, (states, actions, rewards) = blocked_scan(body, (carry, s0), steps, bounds, grow, remat)
        return Trajectory(states=jnp.concatenate([s0[None], states]), actions=actions, rewards=rewards)

    # --- the protocol ------------------------------------------------------------------------------------

    def loss(self, trajectory: Trajectory, *, t0: IntScalarLike = 0) -> RealScalar:
        check_trajectory(self, trajectory)
        z = self.normaliser.normalise(trajectory.states.astype(dtype_of(self)))
        return mse(self._parallel(z[0], trajectory.actions, t0), z[1:])

    def predict(
        self,
        s0: State,
        states: Float[Array, "horizon state_dim"],
        actions: Actions,
        *,
        t0: IntScalarLike = 0,
    ) -> Float[Array, "horizon state_dim"]:
        check_s0(self, s0)
        check_actions(self, actions)
        z0 = self.normaliser.normalise(s0.astype(dtype_of(self)))
        return self.normaliser.denormalise(self._parallel(z0, actions, t0))

    def rollout_actions(self, s0: State, actions: Actions) -> States:
        check_s0(self, s0)
        check_actions(self, actions)
        s0 = s0.astype(dtype_of(self))
        z = self._parallel(self.normaliser.normalise(s0), actions, 0)
        return jnp.concatenate([s0[None], self.normaliser.denormalise(z)])

    def imagine(
        self,
        s0: State,
        policy: PolicyFn,
        horizon: int,
        key: Key,
        *,
        reward_fn: RewardFn | None = None,
        stop_gradient: bool = True,
    ) -> Trajectory:
        check_s0(self, s0)
        self.check_horizon(horizon)
        dtype = dtype_of(self)
        s0 = s0.astype(dtype)
        reward_fn = reward_or_zero(reward_fn)
        checked = checked_policy(policy, self.action_dim, dtype)
        if not (stop_gradient and self.backbone.parallel):
            return self._generate(
                s0, checked, horizon, key, reward_fn, stop_gradient, self._remat(horizon, dtype)
            )
        # Generate without gradient, then one teacher-forced pass over the regenerated actions.
        frozen = stop_gradient_arrays(self)
        frozen_policy = checked_policy(stop_gradient_arrays(policy), self.action_dim, dtype)
        generated = frozen._generate(
            jax.lax.stop_gradient(s0), frozen_policy, horizon, key, reward_or_zero(None), True, False
        )
        seen = jax.lax.stop_gradient(generated.states)
        steps = jnp.arange(horizon)
        actions = jax.vmap(checked)(seen[:-1], steps, jax.random.split(key, horizon))
        z = self._parallel(self.normaliser.normalise(s0), actions, 0)
        states = jnp.concatenate([s0[None], self.normaliser.denormalise(z)])
        rewards = jax.vmap(reward_fn)(states[:-1], actions, states[1:], steps)
        return Trajectory(states=states, actions=actions, rewards=rewards)

    def imagine_sequential(
        self,
        s0: State,
        policy: PolicyFn,
        horizon: int,
        key: Key,
        *,
        reward_fn: RewardFn | None = None,
        stop_gradient: bool = True,
    ) -> Trajectory:
        """`imagine` by sequential generation only, differentiated through every step (KV cache or
        recurrent state), never by the one-pass shortcut. Its gradient is the reference the shortcut
        equals; it is also what `imagine` does for recurrent backbones or ``stop_gradient=False``."""
        check_s0(self, s0)
        self.check_horizon(horizon)
        dtype = dtype_of(self)
        checked = checked_policy(policy, self.action_dim, dtype)
        return self._generate(
            s0.astype(dtype),
            checked,
            horizon,
            key,
            reward_or_zero(reward_fn),
            stop_gradient,
            self._remat(horizon, dtype),
        )

"""The paper's upper bounds on the policy-gradient norm (Theorem 1, Theorem 2, Corollaries 2.1 and
2.2) evaluated as numbers next to the measured norm."""

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, Float

from .._typing import Key, PolicyFn, RealScalar, State
from ..envs import Env
from ..models import ActionsModel, RNNBackbone
from ._bounds_ssm import _ssm_bound, is_ssm_awm
from ._common import as_model, block_norms
from ._jacobians import choose_mode, jacobian_chunked
from ._reference import AttentionAWM, ElmanAWM


def _resolve_reward(model_or_env, reward_fn):
    if reward_fn is None:
        if isinstance(model_or_env, Env):
            return model_or_env.reward
        raise ValueError("`reward_fn` is required when `model_or_env` is a world model, not an Env")
    if not callable(reward_fn):
        raise TypeError(f"`reward_fn` must be callable, got {type(reward_fn).__name__}")
    return reward_fn


def _policy_params(policy):
    if not callable(policy):
        raise TypeError(f"`policy` must be callable as policy(state, k, key), got {type(policy).__name__}")
    params, static = eqx.partition(policy, eqx.is_inexact_array)
    if not jax.tree_util.tree_leaves(params):
        raise ValueError(
            "`policy` has no parameters (no floating-point arrays in its PyTree): pass an equinox "
            "Module such as an awmkit policy, not a plain function"
        )
    return params, static


def _objective(model, policy, s0, reward_fn, horizon, key, stop_gradient):
    params, static = eqx.partition(policy, eqx.is_inexact_array)

    def J(p):
        ret, traj = model.policy_objective(
            eqx.combine(p, static), s0, reward_fn, horizon, key, stop_gradient=stop_gradient
        )
        return ret, traj

    (ret, traj), grads = jax.value_and_grad(J, has_aux=True)(params)
    flat, _ = ravel_pytree(grads)
    return ret, traj, jnp.sqrt(jnp.sum(flat**2))


@eqx.filter_jit
def _policy_gradient_norm(model, policy, s0, reward_fn, horizon, key, stop_gradient):
    return _objective(model, policy, s0, reward_fn, horizon, key, stop_gradient)[2]


def policy_gradient_norm(
    model_or_env,
    policy: PolicyFn,
    s0: State,
    reward_fn: Callable | None,
    horizon: int,
    key: Key,
    *,
    stop_gradient: bool = True,
) -> RealScalar:
    r"""The measured norm $\|\nabla_\theta J^W(\theta; H)\|_2$ of the policy gradient through a model.

    $J^W$ is ``model.policy_objective(policy, s0, reward_fn, horizon, key)`` (equations 1-3) and
    $\theta$ are all the floating-point arrays of ``policy`` (an Equinox Module); the norm is the
    Euclidean norm of all of them together.

    **Arguments:**

    - `model_or_env`: a world model, or an [`awmkit.envs.Env`][] (the simulator).
    - `policy`: the policy, called as ``policy(state, k, key)``.
    - `s0`: the initial state.
    - `reward_fn`: ``reward_fn(s_k, a_k, s_{k+1}, k)``; ``None`` uses ``env.reward`` for an Env.
    - `horizon`: the number of steps ``H``.
    - `key`: the key of the rollout (split into one key per step).
    - `stop_gradient`: the paper's stop-gradient on the policy's state input (default ``True``).

    **Returns:** a scalar.
    """
    model = as_model(model_or_env)
    reward_fn = _resolve_reward(model_or_env, reward_fn)
    _policy_params(policy)
    model.check_horizon(horizon)
    return _policy_gradient_norm(model, policy, s0, reward_fn, horizon, key, stop_gradient)


class Bounds(eqx.Module):
    r"""The measured policy-gradient norm and every bound on it, for one rollout.

    All norms are spectral (operator 2-norms); a bound is never below `measured`. With per-step
    quantities $\rho_t = \partial J / \partial \hat s_t$ (the reward's state gradient, summed over the
    reward terms that see $\hat s_t$), $\sigma_k = \partial J / \partial a_k$ (the reward's direct
    action gradient, zero in the paper's state-only rewards), $P_k = \partial \pi_\theta(\hat s_k) /
    \partial\theta$ and $G_{tk} = \partial \hat s_t / \partial a_k$:

    - `theorem2_local` $= \sum_{t} \|\rho_t\| \sum_{k<t} \|G_{tk}\| \|P_k\| + \sum_k \|\sigma_k\|\|P_k\|$
      (Theorem 2's proof with the measured per-step factors).
    - `theorem2` $= L_\pi \big(L_r \sum_{t=1}^{H} \sum_{k<t} \|G_{tk}\| + H L_{r,a}\big)$ (Theorem 2,
      plus the direct-action term for rewards that depend on the action).
    - `theorem1_local`: the recursion of Theorem 1's proof, $B_{tk} = \|\partial_{a_k} h_t\| +
      \sum_{i=k+1}^{t-1} \|\partial_{\hat s_i} h_t\| B_{ik}$, with the model's partial Jacobians
      (``predict``'s Jacobians at the rollout), in place of $\|G_{tk}\|$ in `theorem2_local`.
    - `theorem1`: the same recursion with the uniform constants $L_a$, $L_s$ (maxima of the partial
      Jacobian norms along the rollout), $B_{tk} = L_a (1 + L_s)^{t-k-1}$, in place of $\|G_{tk}\|$ in
      `theorem2`.
    - `corollary_2_1`: for a recurrent AWM of equation 4,
      $L_\pi (L_r \sum_t \sum_{k<t} \|W_o\|\|W_a\|\eta^{t-k-1} + H L_{r,a})$ with
      $\eta = \|W_x\|/\beta$; NaN when no recurrent weights are known.
    - `corollary_2_2`: for the self-attention AWM of equation 5, a corrected bound
      $L_\pi (L_r H \|W_v\| (1 + 4\alpha^2 \|W_q^\top W_k\|) + H L_{r,a})$; NaN when not applicable.
    - `corollary_ssm`: for a state-space AWM (`awm-ssm`, [`awmkit.diagnostics.ssm_bound`][]),
      $L_\pi (L_r \sum_t \sum_{k<t} \beta_{t-k-1} + H L_{r,a})$ with the per-lag bound $\beta_n$ that
      decays like the recurrences' spectral radii, so at most $H L_\pi (L_r R E \prod_l S_l + L_{r,a})$;
      NaN for other models.
    - `corollary_2_2_paper`: the paper's printed expression $L_r L_\pi \sum_t \sum_{k<t} \|W_v\|(1 +
      \alpha t)$. **Not a bound in general**: its proof differentiates the softmax with respect to
      the logits but omits the logits' own dependence on $a_k$ through the keys and the query, which
      scales with $\|W_q^\top W_k\|$. Kept for comparison; excluded from `ratios`.

    The Lipschitz constants are estimated as maxima along the rollout, unless given:
    `reward_lipschitz` $L_r = \max_t \|\rho_t\|$, `reward_action_lipschitz` $L_{r,a} = \max_k
    \|\sigma_k\|$, `policy_lipschitz` $L_\pi = \max_k \|P_k\|$, and for Theorem 1 `action_lipschitz`
    $L_a$ and `state_lipschitz` $L_s$. `prediction_mismatch` is the largest difference between the
    open-loop rollout and the teacher-forced prediction at the rolled-out states (should be ~0: the
    Theorem 1 partial Jacobians are taken there).
    """

    measured: Float[Array, ""]
    theorem1: Float[Array, ""]
    theorem1_local: Float[Array, ""]
    theorem2: Float[Array, ""]
    theorem2_local: Float[Array, ""]
    corollary_2_1: Float[Array, ""]
    corollary_2_2: Float[Array, ""]
    corollary_2_2_paper: Float[Array, ""]
    corollary_ssm: Float[Array, ""]
    reward_lipschitz: Float[Array, ""]
    reward_action_lipschitz: Float[Array, ""]
    policy_lipschitz: Float[Array, ""]
    action_lipschitz: Float[Array, ""]
    state_lipschitz: Float[Array, ""]
    prediction_mismatch: Float[Array, ""]

    #: Names of the fields that are valid upper bounds.
    BOUND_NAMES = (
        "theorem1",
        "theorem1_local",
        "theorem2",
        "theorem2_local",
        "corollary_2_1",
        "corollary_2_2",
        "corollary_ssm",
    )

    def ratios(self) -> dict[str, Float[Array, "*batch"]]:
        """``bound / measured`` for every valid bound (NaN where a corollary does not apply)."""
        return {name: getattr(self, name) / self.measured for name in self.BOUND_NAMES}

    def as_dict(self) -> dict[str, float]:
        """Every field as a Python float (for JSON), plus the ratios."""
        out = {f: float(getattr(self, f)) for f in self.__dataclass_fields__}
        out.update({f"ratio_{k}": float(v) for k, v in self.ratios().items()})
        return out


# Bounds 1/beta on |sigma'| of common activations (Corollary 2.1's assumption).
_ACTIVATION_BOUNDS = {jnp.tanh: 1.0, jax.nn.tanh: 1.0, jax.nn.sigmoid: 0.25, jax.nn.relu: 1.0}


def _rnn_awm_weights(model):
    """``(W_x, W_a, W_o, 1/beta)`` of the equation-4 RNN inside an Actions World Model with a one-layer
    [`awmkit.models.RNNBackbone`][], with the action embedding folded into ``W_a`` and the state
    de-normalisation into ``W_o`` (both linear), or ``None`` when the model is not of that form."""
    if isinstance(model, ElmanAWM):
        return (model.W_x, model.W_a, model.W_o, model.activation_bound)
    if not (isinstance(model, ActionsModel) and isinstance(model.backbone, RNNBackbone)):
        return None
    # Equation 4 needs a linear action embedding (the MLP encoder is not of that form).
    if len(model.backbone.cells) != 1 or model.encoder != "linear":
        return None
    cell = model.backbone.cells[0]
    bound = _ACTIVATION_BOUNDS.get(cell.activation)
    if bound is None:
        return None
    W_a = cell.W_a @ model.action_embed.layers[0].weight[:, : model.action_dim]
    W_o = jax.lax.stop_gradient(model.normaliser.scale)[:, None] * model.backbone.W_o
    return (cell.W_x, W_a, W_o, bound)


def _pair_sum(weights_tk, mask):
    return jnp.sum(jnp.where(mask, weights_tk, 0.0))


def _reward_sensitivities(reward_fn, s0, states, actions):
    """Reward sensitivities ``|rho_t|`` (to the states ``s_1..s_H``) and ``|sigma_k|`` (to the actions
    directly) along the rollout ``states``."""
    H = actions.shape[0]

    def total(later_states, acts):
        full = jnp.concatenate([s0[None], later_states])
        return jnp.sum(jax.vmap(reward_fn)(full[:-1], acts, full[1:], jnp.arange(H)))

    rho, sigma = jax.grad(total, argnums=(0, 1))(states[1:], actions)
    return jnp.sqrt(jnp.sum(rho**2, axis=-1)), jnp.sqrt(jnp.sum(sigma**2, axis=-1))


def _policy_jacobian_norms(policy, seen_states, key, dtype):
    """Spectral norms of the policy Jacobians ``P_k = d pi(sg s_k, k, key_k) / d theta`` along the
    imagined trajectory (``seen_states`` are ``s_0..s_{H-1}``)."""
    H = seen_states.shape[0]
    params, static = eqx.partition(policy, eqx.is_inexact_array)
    flat, unravel = ravel_pytree(params)
    step_keys = jax.random.split(key, H)

    def act(theta, s, k, kk):
        return jnp.asarray(eqx.combine(unravel(theta), static)(s, k, kk)).astype(dtype)

    P = jax.vmap(jax.jacrev(act), in_axes=(None, 0, 0, 0))(flat, seen_states, jnp.arange(H), step_keys)
    return block_norms(P.astype(dtype), "spectral")


def _predictor_norms(model, s0, states, actions, chunk_size):
    """Spectral norms of the one-step predictor's partial Jacobians at the rollout ``states``,
    ``Ns[t-1, i] = |d h_t / d s_i|`` and ``Na[t-1, k] = |d h_t / d a_k|`` (zero outside their causal
    ranges; ``s_0`` is given, not a function of the actions), and the largest gap between the
    teacher-forced predictions and the rollout."""
    H, n, m = actions.shape[0], model.state_dim, model.action_dim
    t_idx = jnp.arange(1, H + 1)[:, None]
    i_idx = jnp.arange(H)[None, :]
    inputs = states[:-1]
    pred = model.predict(s0, inputs, actions)
    mismatch = jnp.max(jnp.abs(pred - states[1:]))
    mode_s = choose_mode(H * n, H * n, "auto")
    Js = jacobian_chunked(lambda x: model.predict(s0, x, actions), inputs, mode=mode_s, chunk_size=chunk_size)
    mode_a = choose_mode(H * m, H * n, "auto")
    Ja = jacobian_chunked(lambda a: model.predict(s0, inputs, a), actions, mode=mode_a, chunk_size=chunk_size)
    Ns = block_norms(jnp.transpose(Js, (0, 2, 1, 3)), "spectral")  # [t-1, i]: d h_t / d s_i
    Na = block_norms(jnp.transpose(Ja, (0, 2, 1, 3)), "spectral")  # [t-1, k]: d h_t / d a_k
    Na = jnp.where(i_idx < t_idx, Na, 0.0)
    Ns = jnp.where((i_idx >= 1) & (i_idx < t_idx), Ns, 0.0)
    return Ns, Na, mismatch


def _theorem1_rows(Ns, Na, dtype):
    """Theorem 1's recursion over t: row t of B from rows 1..t-1 (B[i] is row i, i = 1..H; B[0] = 0);
    returns rows 1..H."""
    H = Na.shape[0]
    k_idx = jnp.arange(H)[None, :]

    def row(B, t):
        later = jnp.arange(H)[:, None] > k_idx  # i > k
        nxt = Na[t - 1] + jnp.sum(jnp.where(later, Ns[t - 1][:, None] * B[:H], 0.0), axis=0)
        nxt = jnp.where(jnp.arange(H) < t, nxt, 0.0)
        return B.at[t].set(nxt), None

    B, _ = jax.lax.scan(row, jnp.zeros((H + 1, H), dtype), jnp.arange(1, H + 1))
    return B[1:]


def _spec(W, dtype):
    return jnp.linalg.norm(jnp.asarray(W, dtype), ord=2)


def _corollary_2_1(rnn, gap, causal, L_pi, L_r, direct, dtype):
    """Corollary 2.1 for the equation-4 RNN with weights ``rnn`` (NaN without them)."""
    if rnn is None:
        return jnp.asarray(jnp.nan, dtype)
    W_x, W_a, W_o, activation_bound = rnn
    eta = _spec(W_x, dtype) * activation_bound
    per_pair = _spec(W_o, dtype) * _spec(W_a, dtype) * eta**gap
    return L_pi * (L_r * _pair_sum(per_pair, causal) + direct)


def _corollary_2_2(attention, actions, t_idx, causal, L_pi, L_r, direct, dtype):
    """Corollary 2.2 (ours and the paper's form) for the attention AWM with weights ``attention``
    (NaN without them)."""
    if attention is None:
        nan = jnp.asarray(jnp.nan, dtype)
        return nan, nan
    H = actions.shape[0]
    W_q, W_k, W_v, alpha = attention
    if alpha is None:
        alpha = jnp.max(jnp.sqrt(jnp.sum(actions**2, axis=-1)))
    qk = _spec(jnp.asarray(W_q, dtype).T @ jnp.asarray(W_k, dtype), dtype)
    ours = L_pi * (L_r * H * _spec(W_v, dtype) * (1.0 + 4.0 * alpha**2 * qk) + direct)
    paper_pair = _spec(W_v, dtype) * (1.0 + alpha * t_idx.astype(dtype))
    paper = L_r * L_pi * _pair_sum(jnp.broadcast_to(paper_pair, (H, H)), causal)
    return ours, paper


@eqx.filter_jit
def _bounds(model, policy, s0, reward_fn, horizon, key, given, rnn, attention, ssm, chunk_size):
    dtype = s0.dtype
    _, traj, measured = _objective(model, policy, s0, reward_fn, horizon, key, True)
    actions = traj.actions.astype(dtype)
    states = model.rollout_actions(s0, actions)
    H = horizon
    t_idx = jnp.arange(1, H + 1)[:, None]
    k_idx = jnp.arange(H)[None, :]
    causal = k_idx < t_idx  # (H, H): rows t = 1..H, columns k = 0..H-1

    rho_n, sigma_n = _reward_sensitivities(reward_fn, s0, states, actions)
    P_n = _policy_jacobian_norms(policy, traj.states[:-1], key, dtype)
    # Total action-Jacobians G_tk of the open-loop rollout.
    mode = choose_mode(H * model.action_dim, (H + 1) * model.state_dim, "auto")
    G = jacobian_chunked(lambda a: model.rollout_actions(s0, a), actions, mode=mode, chunk_size=chunk_size)
    G_n = block_norms(jnp.transpose(G, (0, 2, 1, 3)), "spectral")[1:]
    Ns, Na, mismatch = _predictor_norms(model, s0, states, actions, chunk_size)
    B = _theorem1_rows(Ns, Na, dtype)

    L_r = rho_n.max() if given["reward"] is None else jnp.asarray(given["reward"], dtype)
    L_ra = sigma_n.max() if given["reward_action"] is None else jnp.asarray(given["reward_action"], dtype)
    L_pi = P_n.max() if given["policy"] is None else jnp.asarray(given["policy"], dtype)
    L_a = jnp.max(Na)
    L_s = jnp.max(Ns)
    direct_local = jnp.sum(sigma_n * P_n)
    direct = H * L_ra

    theorem2_local = jnp.sum(rho_n[:, None] * jnp.where(causal, G_n, 0.0) * P_n[None, :]) + direct_local
    theorem2 = L_pi * (L_r * _pair_sum(G_n, causal) + direct)
    theorem1_local = jnp.sum(rho_n[:, None] * B * P_n[None, :]) + direct_local
    gap = (t_idx - k_idx - 1).astype(dtype)
    uniform = L_a * (1.0 + L_s) ** gap
    theorem1 = L_pi * (L_r * _pair_sum(uniform, causal) + direct)
    corollary_2_2, corollary_2_2_paper = _corollary_2_2(
        attention, actions, t_idx, causal, L_pi, L_r, direct, dtype
    )
    if ssm:
        corollary_ssm = L_pi * (L_r * _pair_sum(_ssm_bound(model, s0, actions).pairs, causal) + direct)
    else:
        corollary_ssm = jnp.asarray(jnp.nan, dtype)

    return Bounds(
        measured=measured,
        theorem1=theorem1,
        theorem1_local=theorem1_local,
        theorem2=theorem2,
        theorem2_local=theorem2_local,
        corollary_2_1=_corollary_2_1(rnn, gap, causal, L_pi, L_r, direct, dtype),
        corollary_2_2=corollary_2_2,
        corollary_2_2_paper=corollary_2_2_paper,
        corollary_ssm=corollary_ssm,
        reward_lipschitz=L_r,
        reward_action_lipschitz=L_ra,
        policy_lipschitz=L_pi,
        action_lipschitz=L_a,
        state_lipschitz=L_s,
        prediction_mismatch=mismatch,
    )


def bounds(
    model_or_env,
    policy: PolicyFn,
    s0: State,
    reward_fn: Callable | None,
    horizon: int,
    key: Key,
    *,
    reward_lipschitz: float | None = None,
    reward_action_lipschitz: float | None = None,
    policy_lipschitz: float | None = None,
    rnn_weights: tuple | None = None,
    attention_weights: tuple | None = None,
    chunk_size: int = 64,
) -> Bounds:
    r"""Evaluates Theorem 1, Theorem 2, Corollaries 2.1 and 2.2 and, for a state-space AWM, its
    spectral-radius corollary as numbers, beside the measured
    policy-gradient norm $\|\nabla_\theta J^W\|$ (with the paper's stop-gradient), for one imagined
    rollout of ``policy`` in ``model_or_env``.

    The exact finite sums of the proofs are used, not their $O(\cdot)$ forms, so each bound is a
    number that is never below the measured norm (see [`awmkit.diagnostics.Bounds`][] for every
    formula). Rewards here are ``reward_fn(s_k, a_k, s_{k+1}, k)``, more general than the paper's
    $r(s_t)$: the sensitivity to a state sums over the reward terms that see it, and a reward that
    depends on the action directly adds $H L_\pi L_{r,a}$ (zero for state-only rewards).

    Theorem 1 applies to every model: its partial Jacobians are those of ``model.predict`` (the
    teacher-forced one-step predictor $h$) at the rolled-out states; for a Markovian model only
    $\partial h_t / \partial \hat s_{t-1}$ is non-zero, for an Actions World Model none is, and the
    recursion reduces to Theorem 2.

    **Arguments:**

    - `model_or_env`, `policy`, `s0`, `reward_fn`, `horizon`, `key`: as in
      [`awmkit.diagnostics.policy_gradient_norm`][].
    - `reward_lipschitz`, `reward_action_lipschitz`, `policy_lipschitz`: known Lipschitz constants
      $L_r$, $L_{r,a}$, $L_\pi$; by default estimated as the largest gradient norms along the rollout
      (which keeps every bound valid for this rollout; true global constants are at least as large).
    - `rnn_weights`: ``(W_x, W_a, W_o, activation_bound)`` of a recurrent AWM of equation 4
      (``activation_bound`` $= 1/\beta$); taken from the model for an
      [`awmkit.diagnostics.ElmanAWM`][] and for an [`awmkit.models.ActionsModel`][] with a one-layer
      [`awmkit.models.RNNBackbone`][] (tanh, sigmoid or ReLU cell) and ``encoder="linear"``, whose
      action embedding and state de-normalisation are linear and fold into ``W_a`` and ``W_o``.
    - `attention_weights`: ``(W_q, W_k, W_v, alpha)`` of a self-attention AWM of equation 5, with
      ``alpha`` a bound on the actions' norms (``None``: their largest norm in the rollout); taken from
      the model for an [`awmkit.diagnostics.AttentionAWM`][].
    - `chunk_size`: basis vectors per Jacobian pass (memory).

    **Returns:** an [`awmkit.diagnostics.Bounds`][]; ``.ratios()`` gives bound / measured.
    """
    model = as_model(model_or_env)
    reward_fn = _resolve_reward(model_or_env, reward_fn)
    _policy_params(policy)
    horizon = model.check_horizon(horizon)
    if jnp.shape(s0) != (model.state_dim,):
        raise ValueError(f"`s0` must have shape ({model.state_dim},), got {jnp.shape(s0)}")
    if rnn_weights is None:
        rnn_weights = _rnn_awm_weights(model)
    if isinstance(model, AttentionAWM) and attention_weights is None:
        attention_weights = (model.W_q, model.W_k, model.W_v, None)
    for name, value, size in (("rnn_weights", rnn_weights, 4), ("attention_weights", attention_weights, 4)):
        if value is not None and (not isinstance(value, tuple) or len(value) != size):
            raise ValueError(f"`{name}` must be a tuple of {size} entries, got {value!r}")
    given = {"reward": reward_lipschitz, "reward_action": reward_action_lipschitz, "policy": policy_lipschitz}
    for name, v in given.items():
        if v is not None and not float(v) >= 0:
            raise ValueError(f"`{name}_lipschitz` must be a non-negative number, got {v!r}")
    return _bounds(
        model,
        policy,
        s0,
        reward_fn,
        horizon,
        key,
        given,
        rnn_weights,
        attention_weights,
        is_ssm_awm(model),
        chunk_size,
    )

"""Gradient-path lengths read off the traced computation (Figure 1): for every action ``a_k`` and
prediction ``s_hat_t``, the longest path between them in the jaxpr of ``rollout_actions``."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.extend import core as jcore
from jaxtyping import Array, Float

from .._graph import MODEL_APPLICATION
from .._typing import Actions, State
from ..envs import Env
from ..models import SimulatorModel
from ._common import as_model

_NEG = -jnp.inf
# Primitives that only move, copy or duplicate elements: the path tensor moves the same way.
_MOVE = {
    "reshape",
    "transpose",
    "squeeze",
    "broadcast_in_dim",
    "rev",
    "concatenate",
    "slice",
    "copy",
    "copy_p",
    "stack",
    "convert_element_type",
    "reduce_precision",
    "pad",
    "dynamic_slice",
    "dynamic_update_slice",
    "gather",
    "scatter",
    "scatter-add",
    "scatter_add",
    "select_n",
}
# Operand positions that hold indices or predicates for the movers above.
_INDEX_OPERANDS = {
    "dynamic_slice": lambda n: range(1, n),
    "dynamic_update_slice": lambda n: range(2, n),
    "gather": lambda n: (1,),
    "select_n": lambda n: (0,),
    "scatter": lambda n: (1,),
    "scatter-add": lambda n: (1,),
    "scatter_add": lambda n: (1,),
}
_SUM_REDUCE = {"reduce_sum", "reduce_prod"}
_SELECT_REDUCE = {"reduce_max", "reduce_min"}
_CUMULATIVE = {"cumsum", "cumprod", "cummax", "cummin", "cumlogsumexp"}
_CALLS = {
    "jit",
    "pjit",
    "closed_call",
    "core_call",
    "remat2",
    "checkpoint",
    "custom_jvp_call",
    "custom_vjp_call",
    "custom_vjp_call_jaxpr",
    "custom_lin",
}
_NO_GRADIENT = {"stop_gradient"}


def _broadcasts_to(shape, target) -> bool:
    if len(shape) not in (0, len(target)):
        return False
    return all(a in (1, b) for a, b in zip(shape, target))


def _inexact(x) -> bool:
    return jnp.issubdtype(jnp.result_type(x), jnp.inexact)


class _Walker:
    """Evaluates a jaxpr at concrete inputs, carrying beside every value ``v`` a path tensor ``L``
    of shape ``v.shape + (2 H,)``: for each element, each action ``k`` and each of the two counts
    (model applications, matrix multiplies) the longest path length so far, ``-inf`` if there is
    none (``L is None``: the value does not depend on any action)."""

    def __init__(self, horizon: int):
        self.width = 2 * horizon
        self.inc_app = jnp.tile(jnp.array([1.0, 0.0], jnp.float32), horizon)
        self.inc_dot = jnp.tile(jnp.array([0.0, 1.0], jnp.float32), horizon)
        self.equations = 0

    def full(self, shape):
        return jnp.full(tuple(shape) + (self.width,), _NEG, dtype=jnp.float32)

    def L_of(self, x):
        val, L = x
        return self.full(jnp.shape(val)) if L is None else L

    # --- jaxpr evaluation ------------------------------------------------------------------------

    def run(self, jaxpr, consts, args):
        env = {}

        def read(v):
            if isinstance(v, jcore.Literal):
                return (v.val, None)
            return env[v]

        for v, c in zip(jaxpr.constvars, consts):
            env[v] = (c, None)
        for v, a in zip(jaxpr.invars, args):
            env[v] = a
        for eqn in jaxpr.eqns:
            self.equations += 1
            ins = [read(v) for v in eqn.invars]
            if all(L is None for _, L in ins):
                outs = [(o, None) for o in self._bind(eqn, [v for v, _ in ins])]
            else:
                outs = self._rule(eqn, ins)
            for v, (val, L) in zip(eqn.outvars, outs):
                if L is not None and not jnp.issubdtype(v.aval.dtype, jnp.inexact):
                    L = None  # integers and booleans (indices, comparisons) carry no gradient
                if L is not None and not bool(jnp.any(jnp.isfinite(L))):
                    L = None
                env[v] = (val, L)
        return [read(v) for v in jaxpr.outvars]

    def run_closed(self, closed, args):
        return self.run(closed.jaxpr, closed.consts, args)

    @staticmethod
    def _bind(eqn, vals, params=None):
        params = eqn.primitive.get_bind_params(eqn.params) if params is None else params
        with eqn.ctx.manager:
            out = eqn.primitive.bind(*vals, **params)
        return list(out) if eqn.primitive.multiple_results else [out]

    # --- propagation rules ----------------------------------------------------------------------

    def _rule(self, eqn, ins):
        name = eqn.primitive.name
        params = eqn.params
        if name in _CALLS:
            closed = params.get("jaxpr", params.get("call_jaxpr", params.get("fun_jaxpr")))
            if isinstance(closed, jcore.ClosedJaxpr):
                outs = self.run_closed(closed, ins)
            else:
                outs = self.run(closed, (), ins)
            if name in ("jit", "pjit") and params.get("name") == MODEL_APPLICATION:
                outs = [(v, None if L is None else L + self.inc_app) for v, L in outs]
            return outs
        if name == "scan":
            return self._scan(eqn, ins)
        if name == "while":
            return self._while(eqn, ins)
        if name == "cond":
            return self.run_closed(eqn.params["branches"][int(ins[0][0])], ins[1:])
        vals = [v for v, _ in ins]
        out_vals = self._bind(eqn, vals)
        if name in _NO_GRADIENT:
            return [(v, None) for v in out_vals]
        if name == "dot_general":
            return [(out_vals[0], self._dot(eqn, ins))]
        if name in _SUM_REDUCE:
            return [(out_vals[0], jnp.max(self.L_of(ins[0]), axis=tuple(params["axes"])))]
        if name in _SELECT_REDUCE:
            # Only the selected elements (those equal to the extreme) pass a gradient on.
            axes = tuple(params["axes"])
            x = jnp.asarray(vals[0])
            hit = x == jnp.expand_dims(jnp.asarray(out_vals[0]), axes)
            L = jnp.where(hit[..., None], self.L_of(ins[0]), _NEG)
            return [(out_vals[0], jnp.max(L, axis=axes))]
        if name in _CUMULATIVE:
            L = lax.cummax(self.L_of(ins[0]), axis=params["axis"], reverse=params["reverse"])
            return [(out_vals[0], L)]
        if name in _MOVE:
            L = self._move(eqn, ins)
            if L is not None:
                return [(out_vals[0], L)]
        return self._elementwise(eqn, ins, out_vals)

    def _elementwise(self, eqn, ins, out_vals):
        outs = eqn.outvars
        if len(outs) == 1 and _inexact(out_vals[0]):
            shape = tuple(outs[0].aval.shape)
            tracked = [i for i, (v, L) in enumerate(ins) if L is not None]
            if all(_broadcasts_to(jnp.shape(ins[i][0]), shape) for i in tracked):
                params = eqn.primitive.get_bind_params(eqn.params)
                result = self.full(shape)
                vals = [jnp.asarray(v) for v, _ in ins]
                for i in tracked:
                    # An edge exists where the local partial derivative is non-zero at this point
                    # (so a masked attention weight, exactly zero, passes no path on).

                    def f(x, i=i):
                        args = list(vals)
                        args[i] = x
                        with eqn.ctx.manager:
                            return eqn.primitive.bind(*args, **params)

                    _, tangent = jax.jvp(f, (vals[i],), (jnp.ones_like(vals[i]),))
                    live = jnp.broadcast_to(tangent != 0, shape)
                    Li = ins[i][1]
                    L = jnp.broadcast_to(Li if Li.ndim > 1 or shape == () else Li, shape + (self.width,))
                    result = jnp.maximum(result, jnp.where(live[..., None], L, _NEG))
                return [(out_vals[0], result)]
        return self._fallback(eqn, ins, out_vals)

    def _fallback(self, eqn, ins, out_vals):
        """Every output element may depend on every input element (conservative)."""
        flat = [jnp.max(L.reshape(-1, self.width), axis=0) for _, L in ins if L is not None]
        top = flat[0]
        for f in flat[1:]:
            top = jnp.maximum(top, f)
        if eqn.primitive.name.startswith("conv"):
            top = top + self.inc_dot
        return [
            (o, jnp.broadcast_to(top, tuple(v.aval.shape) + (self.width,)))
            for o, v in zip(out_vals, eqn.outvars)
        ]

    def _dot(self, eqn, ins):
        (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
        (a, La), (b, Lb) = ins
        a, b = jnp.asarray(a), jnp.asarray(b)
        lfree = [d for d in range(a.ndim) if d not in lc and d not in lb]
        rfree = [d for d in range(b.ndim) if d not in rc and d not in rb]
        out_shape = tuple(eqn.outvars[0].aval.shape)
        nb, nc = len(lb), len(lc)
        # Canonical layouts: a -> (batch, lfree, contract), b -> (batch, contract, rfree).
        a_perm = tuple(lb) + tuple(lfree) + tuple(lc)
        b_perm = tuple(rb) + tuple(rc) + tuple(rfree)
        bsz = tuple(a.shape[d] for d in lb)
        isz = int(np.prod([a.shape[d] for d in lfree], dtype=int))
        csz = int(np.prod([a.shape[d] for d in lc], dtype=int))
        jsz = int(np.prod([b.shape[d] for d in rfree], dtype=int))
        W = self.width
        result = jnp.full(bsz + (isz, jsz, W), _NEG, jnp.float32)
        if La is not None:
            A = jnp.transpose(La, a_perm + (a.ndim,)).reshape(bsz + (isz, csz, W))
            other = jnp.transpose(b, b_perm).reshape(bsz + (csz, jsz)) != 0  # d out / d a = b
            if bool(jnp.all(other)):
                part = jnp.max(A, axis=-2)[..., :, None, :]
            else:
                part = jnp.max(jnp.where(other[..., None, :, :, None], A[..., :, :, None, :], _NEG), axis=-3)
            result = jnp.maximum(result, part)
        if Lb is not None:
            B = jnp.transpose(Lb, b_perm + (b.ndim,)).reshape(bsz + (csz, jsz, W))
            other = jnp.transpose(a, a_perm).reshape(bsz + (isz, csz)) != 0
            if bool(jnp.all(other)):
                part = jnp.max(B, axis=-3)[..., None, :, :]
            else:
                part = jnp.max(jnp.where(other[..., :, :, None, None], B[..., None, :, :, :], _NEG), axis=-3)
            result = jnp.maximum(result, part)
        del nb, nc
        return result.reshape(out_shape + (W,)) + self.inc_dot

    def _move(self, eqn, ins):
        name, p = eqn.primitive.name, eqn.params
        n = len(ins)
        index_pos = set(_INDEX_OPERANDS.get(name, lambda n: ())(n))
        W = self.width
        data = [None if i in index_pos else self.L_of(ins[i]) for i in range(n)]
        if name in ("copy", "copy_p", "convert_element_type", "reduce_precision"):
            return data[0]
        if name == "reshape":
            return data[0].reshape(tuple(p["new_sizes"]) + (W,))
        if name == "squeeze":
            return jnp.squeeze(data[0], axis=tuple(p["dimensions"]))
        if name == "transpose":
            return jnp.transpose(data[0], tuple(p["permutation"]) + (data[0].ndim - 1,))
        if name == "broadcast_in_dim":
            shape = tuple(p["shape"])
            return lax.broadcast_in_dim(
                data[0], shape + (W,), tuple(p["broadcast_dimensions"]) + (len(shape),)
            )
        if name == "rev":
            return lax.rev(data[0], tuple(p["dimensions"]))
        if name == "concatenate":
            return lax.concatenate(data, p["dimension"])
        if name == "stack":
            return jnp.stack(data, axis=p["axis"])
        if name == "slice":
            strides = p["strides"] or (1,) * len(p["start_indices"])
            return lax.slice(
                data[0],
                tuple(p["start_indices"]) + (0,),
                tuple(p["limit_indices"]) + (W,),
                tuple(strides) + (1,),
            )
        if name == "pad":
            config = tuple(tuple(c) for c in p["padding_config"]) + ((0, 0, 0),)
            return lax.pad(data[0], jnp.float32(_NEG), config)
        if name == "dynamic_slice":
            idx = [jnp.asarray(v) for v, _ in ins[1:]]
            return lax.dynamic_slice(
                data[0], idx + [jnp.zeros((), idx[0].dtype)], tuple(p["slice_sizes"]) + (W,)
            )
        if name == "dynamic_update_slice":
            idx = [jnp.asarray(v) for v, _ in ins[2:]]
            return lax.dynamic_update_slice(data[0], data[1], idx + [jnp.zeros((), idx[0].dtype)])
        if name == "select_n":
            pred = jnp.asarray(ins[0][0])
            out = data[1]
            for i in range(2, n):
                chosen = pred == (i - 1) if pred.dtype != jnp.bool_ else pred
                out = jnp.where(chosen[..., None] if pred.ndim else chosen, data[i], out)
            return out
        # gather and scatter move the path tensor with the primitive itself, batched over the last axis
        # (a scatter-add combines paths by their maximum).
        prim = lax.scatter_max_p if name in ("scatter-add", "scatter_add") else eqn.primitive
        params = dict(eqn.primitive.get_bind_params(p))
        if name == "gather":
            params["fill_value"] = _NEG
        if name.startswith("scatter"):
            params["update_jaxpr"], params["update_consts"] = None, ()
        in_axes = [None if i in index_pos else -1 for i in range(n)]
        args = [jnp.asarray(ins[i][0]) if i in index_pos else data[i] for i in range(n)]
        try:
            out = jax.vmap(lambda *a: prim.bind(*a, **params), in_axes=in_axes, out_axes=-1)(*args)
        except Exception:  # an unusual parameterisation: use the conservative rule instead
            return None
        return jnp.where(jnp.isnan(out), _NEG, out)

    def _scan(self, eqn, ins):
        p = eqn.params
        nc, ncarry, length = p["num_consts"], p["num_carry"], p["length"]
        consts, carry, xs = ins[:nc], list(ins[nc : nc + ncarry]), ins[nc + ncarry :]
        ys = [[None] * length for _ in eqn.outvars[ncarry:]]
        order = range(length - 1, -1, -1) if p["reverse"] else range(length)
        for i in order:
            x_i = [(jnp.asarray(v)[i], None if L is None else L[i]) for v, L in xs]
            outs = self.run_closed(p["jaxpr"], list(consts) + carry + x_i)
            carry = outs[:ncarry]
            for j, y in enumerate(outs[ncarry:]):
                ys[j][i] = y
        stacked = []
        for col, var in zip(ys, eqn.outvars[ncarry:]):
            if not length:
                stacked.append((jnp.zeros(var.aval.shape, var.aval.dtype), None))
                continue
            val = jnp.stack([jnp.asarray(v) for v, _ in col])
            L = None if all(L is None for _, L in col) else jnp.stack([self.L_of(y) for y in col])
            stacked.append((val, L))
        return carry + stacked

    def _while(self, eqn, ins):
        p = eqn.params
        cn, bn = p["cond_nconsts"], p["body_nconsts"]
        cconsts, bconsts, carry = ins[:cn], ins[cn : cn + bn], list(ins[cn + bn :])
        while True:
            ((pred, _),) = self.run_closed(p["cond_jaxpr"], list(cconsts) + carry)
            if not bool(pred):
                return carry
            carry = self.run_closed(p["body_jaxpr"], list(bconsts) + carry)


class GradientPaths(eqx.Module):
    """Longest gradient paths from each action ``a_k`` to each prediction ``s_hat_t``.

    **Fields:**

    - `applications`: ``(H + 1, H)``; entry ``[t, k]`` is the largest number of world-model applications
      (``awmkit_model_application`` markers) on any path from ``a_k`` to ``s_hat_t``, ``-inf`` where no
      path exists (``k >= t``).
    - `matmuls`: ``(H + 1, H)``; the same in ``dot_general`` equations (matrix-multiply depth).
    - `equations`: how many jaxpr equations were walked.
    """

    applications: Float[Array, "steps horizon"]
    matmuls: Float[Array, "steps horizon"]
    equations: int = eqx.field(static=True)

    def by_lag(self, which: str = "applications") -> dict[int, tuple[float, float]]:
        """For each lag ``d = t - k >= 1``, the (min, max) path length over pairs with that lag."""
        table = np.asarray(getattr(self, which))
        steps, horizon = table.shape
        out = {}
        for d in range(1, steps):
            vals = np.array([table[k + d, k] for k in range(horizon) if k + d < steps])
            out[d] = (float(vals.min()), float(vals.max()))
        return out


def gradient_paths(
    model_or_env,
    horizon: int,
    *,
    s0: State | None = None,
    actions: Actions | None = None,
) -> GradientPaths:
    r"""The length of the longest gradient path from every action $a_k$ to every prediction
    $\hat s_t$, read off the traced computation of ``model.rollout_actions(s0, actions)``.

    The rollout is traced to a jaxpr and walked equation by equation, recursing into nested jaxprs
    (``jit``, ``custom_jvp``/``custom_vjp`` calls, checkpoints, ``cond``) and *unrolling* loops
    symbolically: a ``scan`` body is walked ``length`` times, a ``while`` body as long as its
    condition holds. The walk evaluates the computation at the given ``s0`` and ``actions``, so
    indices, loop counters, branches and masks are known and followed exactly, and an edge of the
    graph counts only where its local partial derivative is not exactly zero there: a causally masked
    attention weight (exactly 0), a dead ReLU unit or a state clipped at its bound pass no gradient
    and no path. For every array element and every action index ``k`` the
    walk keeps the longest path so far (a longest-path dynamic programme over the DAG of the unrolled
    computation, ``-inf`` if unreachable), counted in two ways: world-model applications (equations
    marked by ``awmkit._graph.mark_application``, i.e. ``jit`` equations named
    ``awmkit_model_application``) and matrix multiplies (``dot_general`` equations). Paths end at
    ``stop_gradient`` and at integer or boolean values, which carry no gradient; operations the walk
    has no precise rule for connect every input element to every output element (conservative).

    Expected (Figure 1): linear in ``t - k`` for Markovian models, History models, recurrent Actions
    World Models and the simulator (whose every step is one application); constant for a
    transformer Actions World Model (one parallel pass).

    The walk runs eagerly in Python, one equation at a time: use it on small horizons (tens of steps).

    **Arguments:**

    - `model_or_env`: a world model or an [`awmkit.envs.Env`][].
    - `horizon`: the number of steps ``H``.
    - `s0`: the initial state (default: ``env.reset()`` for an Env or a SimulatorModel, zeros for a
      learned model).
    - `actions`: the action sequence to evaluate at (default: fixed uniform draws in ``[-0.5, 0.5]``; prefer interior random actions
      when a system clips or switches at particular action values).

    **Returns:** a [`awmkit.diagnostics.GradientPaths`][].
    """
    model = as_model(model_or_env)
    horizon = model.check_horizon(horizon)
    if s0 is None:
        if isinstance(model_or_env, Env):
            s0 = model_or_env.reset()
        elif isinstance(model, SimulatorModel):
            s0 = model.env.reset()  # a zero state can sit on a state bound, where gradients vanish
        else:
            s0 = jnp.zeros(model.state_dim)
    if actions is None:
        # Fixed interior actions: at exactly zero (or on the bounds) some systems have exactly-zero
        # local derivatives, which would hide paths that exist almost everywhere.
        actions = jax.random.uniform(
            jax.random.key(0), (horizon, model.action_dim), dtype=jnp.result_type(s0), minval=-0.5, maxval=0.5
        )
    if jnp.shape(s0) != (model.state_dim,):
        raise ValueError(f"`s0` must have shape ({model.state_dim},), got {jnp.shape(s0)}")
    if jnp.shape(actions) != (horizon, model.action_dim):
        raise ValueError(
            f"`actions` must have shape (horizon, action_dim) = ({horizon}, {model.action_dim}), "
            f"got {jnp.shape(actions)}"
        )
    closed = jax.make_jaxpr(lambda a: model.rollout_actions(s0, a))(actions)
    walker = _Walker(horizon)
    eye = jnp.eye(horizon, dtype=bool)
    start = jnp.where(jnp.repeat(eye, 2, axis=1), 0.0, _NEG).astype(jnp.float32)  # (H, 2H)
    start = jnp.broadcast_to(start[:, None, :], (horizon, model.action_dim, 2 * horizon))
    # The walk binds arbitrary primitives eagerly and broadcasts path tensors against per-action rows.
    with (
        jax.ensure_compile_time_eval(),
        jax.numpy_rank_promotion("allow"),
        jax.numpy_dtype_promotion("standard"),
    ):
        ((_, L),) = walker.run_closed(closed, [(jnp.asarray(actions), start)])
    steps = horizon + 1
    L = walker.full((steps, model.state_dim)) if L is None else L
    L = jnp.max(L, axis=1).reshape(steps, horizon, 2)
    return GradientPaths(applications=L[..., 0], matmuls=L[..., 1], equations=walker.equations)

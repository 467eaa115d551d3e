"""The ``awmkit diagnose`` sub-command (registered in ``awmkit.cli``)."""

import json
import pathlib

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .. import plotting
from .._cli_common import env_name as _env_name, output_dir as _output_dir, positive_int as _positive_int
from ..envs import make
from ..models import make as make_model, names
from ._bounds import bounds
from ._growth import horizon_growth
from ._jacobians import action_jacobians
from ._landscape import return_landscape, train_offline
from ._paths import gradient_paths

KINDS = ("jacobians", "bounds", "paths", "growth", "landscape")


class _MLPPolicy(eqx.Module):
    """A randomly initialised deterministic tanh-MLP policy (the CLI's probe for the bounds)."""

    mlp: eqx.nn.MLP

    def __call__(self, state, k, key):
        return self.mlp(state)


def add_arguments(p) -> None:
    p.add_argument("kind", choices=KINDS, help="which diagnostic")
    p.add_argument("--env", type=_env_name, default="double_pendulum", help="environment name")
    p.add_argument("--model", choices=names(), default="simulator", help="world model (default: simulator)")
    p.add_argument(
        "--horizon", type=_positive_int, default=20, help="horizon H (jacobians, bounds, paths, landscape)"
    )
    p.add_argument(
        "--horizons", type=_positive_int, nargs="+", default=None, help="horizons (growth; bounds vs H)"
    )
    p.add_argument(
        "--samples", type=_positive_int, default=50, help="random action sequences per horizon (growth)"
    )
    p.add_argument(
        "--train-transitions", type=int, default=0, help="offline training data (0: untrained model)"
    )
    p.add_argument("--train-steps", type=_positive_int, default=1_000, help="offline training steps")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.add_argument("--out", type=_output_dir, default=None, help="directory for the figure and the JSON")


def _model(args, env, key):
    model = make_model(args.model, env, key=key)
    if args.model != "simulator" and args.train_transitions > 0:
        model, _ = train_offline(
            model,
            env,
            key=jax.random.fold_in(key, 1),
            transitions=args.train_transitions,
            steps=args.train_steps,
        )
    return model


def _growth(args, key, title):
    model = _model(args, make(args.env, horizon=max(args.horizons)), key)

    def factory(h):
        env = make(args.env, horizon=h)
        return env if args.model == "simulator" else (model, env)

    growth = horizon_growth(factory, args.horizons, key=key, samples=args.samples)
    return growth.as_dict(), lambda: plotting.growth_curves({args.model: growth}, title=title)


def _bounds_rows(args, key, title):
    horizons = args.horizons or [args.horizon]
    rows = []
    for h in horizons:
        env = make(args.env, horizon=h)
        model = _model(args, env, key)
        mlp = eqx.nn.MLP(env.state_dim, env.action_dim, 64, 2, final_activation=jnp.tanh, key=key)
        b = bounds(model, _MLPPolicy(mlp), env.reset(key), env.reward, h, key)
        rows.append({"horizon": h, **b.as_dict()})
    result = {"env": args.env, "model": args.model, "rows": rows}
    return result, lambda: plotting.bounds_vs_horizon(horizons, rows, title=title)


def _setup(args, key):
    env = make(args.env, horizon=args.horizon)
    return env, _model(args, env, key), env.reset(key)


def _jacobians(args, key, title):
    env, model, s0 = _setup(args, key)
    actions = jax.random.uniform(key, (args.horizon, env.action_dim), dtype=s0.dtype, minval=-1, maxval=1)
    jac = action_jacobians(model, s0, actions)
    result = {
        "env": args.env,
        "model": args.model,
        "horizon": args.horizon,
        "norm": jac.norm,
        "norms": np.asarray(jac.norms).tolist(),
    }
    return result, lambda: plotting.jacobian_heatmap(jac, title=title)


def _paths(args, key, title):
    _, model, s0 = _setup(args, key)
    paths = gradient_paths(model, args.horizon, s0=s0)
    fmt = lambda a: [[None if not np.isfinite(x) else float(x) for x in row] for row in np.asarray(a)]
    result = {
        "env": args.env,
        "model": args.model,
        "horizon": args.horizon,
        "applications": fmt(paths.applications),
        "matmuls": fmt(paths.matmuls),
        "applications_by_lag": paths.by_lag("applications"),
        "matmuls_by_lag": paths.by_lag("matmuls"),
    }
    return result, lambda: plotting.path_heatmap(paths, title=title)


def _landscape(args, key, title):
    env, model, _ = _setup(args, key)
    models = {"simulator": env} if args.model == "simulator" else {"simulator": env, args.model: model}
    land = return_landscape(models, env)
    result = {"env": args.env, "model": args.model, **land.as_dict()}
    return result, lambda: plotting.landscape(land, title=title)


#: Each diagnostic: ``(args, key, title) -> (result dict, () -> its figure)``.
_DIAGNOSTICS = {
    "jacobians": _jacobians,
    "bounds": _bounds_rows,
    "paths": _paths,
    "growth": _growth,
    "landscape": _landscape,
}


def run(args) -> int:
    if args.train_transitions < 0:
        raise ValueError(f"`--train-transitions` must be >= 0, got {args.train_transitions}")
    if args.kind == "growth" and (args.horizons is None or len(set(args.horizons)) < 3):
        raise ValueError("`diagnose growth` needs `--horizons` with at least three distinct values")
    key = jax.random.key(args.seed)
    out = pathlib.Path(args.out) if args.out else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    result, figure = _DIAGNOSTICS[args.kind](args, key, f"{args.model} on {args.env}")
    if out is not None:
        (out / f"{args.kind}.json").write_text(json.dumps(result, indent=2))
        figure().savefig(out / f"{args.kind}.png", dpi=120)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _summary(args, result, out)
    return 0


def _summary(args, result, out) -> None:
    if args.kind == "growth":
        print(f"gradient-norm growth of {args.model} on {args.env}: verdict {result['verdict']}")
        for h, n in zip(result["horizons"], result["mean_norm"]):
            print(f"  H = {h:4d}  mean ||d/da_0|| = {n:.4g}")
        print(
            f"  exponential R^2 = {result['exponential']['r2']:.3f}, polynomial R^2 = {result['polynomial']['r2']:.3f}"
        )
    elif args.kind == "bounds":
        for row in result["rows"]:
            print(f"H = {row['horizon']}: measured ||grad J|| = {row['measured']:.4g}")
            for k, v in row.items():
                if k.startswith("ratio_") and np.isfinite(v):
                    print(f"  {k[6:]:16s} bound / measured = {v:.4g}")
    elif args.kind == "paths":
        print(f"longest gradient paths of {args.model} on {args.env}, H = {args.horizon} (lag: min..max)")
        for lag, (lo, hi) in result["applications_by_lag"].items():
            mlo, mhi = result["matmuls_by_lag"][lag]
            print(f"  t - k = {lag:3d}: applications {lo:g}..{hi:g}, matmuls {mlo:g}..{mhi:g}")
    elif args.kind == "jacobians":
        norms = np.asarray(result["norms"])
        print(f"action-Jacobian norms of {args.model} on {args.env}, H = {args.horizon} ({result['norm']}):")
        print(f"  max {norms.max():.4g}; ||d s_H / d a_0|| = {norms[-1, 0]:.4g}")
    else:
        for name, rets in result["returns"].items():
            rets = np.asarray(rets)
            best = result["grid"][int(np.argmax(rets))]
            print(f"{name}: best a_0 = {best:.3f}, return range [{rets.min():.4g}, {rets.max():.4g}]")
    if out is not None:
        print(f"wrote {out / (args.kind + '.json')} and {out / (args.kind + '.png')}")

"""The ``awmkit`` command line.

Each sub-command is a pair of functions: ``_add_<name>(subparsers)`` declares its arguments and
``_run_<name>(args) -> int`` runs it. Add a sub-command by writing the pair and listing it in
``_COMMANDS``. Arguments are validated before anything is compiled.
"""

import argparse
import json
import sys
from collections.abc import Callable, Sequence

from ._cli_common import (
    ArgumentParser as _ArgumentParser,
    CLIError as _CLIError,
    env_name as _env_name,
    error_line as _error_line,
    output_file as _output_file,
    positive_int as _positive_int,
    table as _table,
)


def _fmt_bounds(low, high) -> str:
    if low is None and high is None:
        return "-"
    lows = low if low is not None else [None] * len(high)
    highs = high if high is not None else [None] * len(low)
    parts = []
    for lo, hi in zip(lows, highs):
        lo_s = "-inf" if lo is None else f"{lo:g}"
        hi_s = "inf" if hi is None else f"{hi:g}"
        parts.append(f"[{lo_s}, {hi_s}]")
    unique = sorted(set(parts), key=parts.index)
    return unique[0] if len(unique) == 1 else " x ".join(parts)


# --- awmkit envs -------------------------------------------------------------------------------------


def _add_envs(subparsers) -> None:
    p = subparsers.add_parser("envs", help="list every registered control problem")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")


def _run_envs(args) -> int:
    from .envs import describe, registered

    infos = [describe(name) for name in registered()]
    if args.json:
        print(json.dumps(infos, indent=2))
        return 0
    rows = [
        (
            i["name"],
            i["state_dim"],
            i["action_dim"],
            _fmt_bounds(i["control_low"], i["control_high"]),
            _fmt_bounds(i["state_low"], i["state_high"]),
            "-" if i["T"] is None else f"{i['T']:g}",
            i["dt"],
            i["reward"],
        )
        for i in infos
    ]
    print(_table(rows, ["name", "state", "action", "control bounds", "state bounds", "T", "dt", "reward"]))
    return 0


# --- awmkit rollout ----------------------------------------------------------------------------------


def _add_rollout(subparsers) -> None:
    p = subparsers.add_parser("rollout", help="roll out uniformly random actions and print return statistics")
    p.add_argument("--env", type=_env_name, default="cancer_treatment", help="environment name")
    p.add_argument("--horizon", type=_positive_int, default=100, help="number of steps H")
    p.add_argument("--episodes", type=_positive_int, default=100, help="random episodes")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")


def _run_rollout(args) -> int:
    import jax
    import jax.numpy as jnp
    import numpy as np

    from .envs import make, rollout

    env = make(args.env, horizon=args.horizon)
    key_actions, key_reset = jax.random.split(jax.random.key(args.seed))
    actions = jax.random.uniform(
        key_actions, (args.episodes, env.horizon, env.action_dim), minval=-1.0, maxval=1.0
    )
    keys = jax.random.split(key_reset, args.episodes)
    trajs = jax.jit(jax.vmap(lambda a, k: rollout(env, a, k)))(actions, keys)
    returns = np.asarray(trajs.total_return)
    final = np.asarray(trajs.states[:, -1])
    summary = {
        "env": args.env,
        "horizon": args.horizon,
        "episodes": args.episodes,
        "return_mean": float(returns.mean()),
        "return_std": float(returns.std()),
        "return_min": float(returns.min()),
        "return_max": float(returns.max()),
        "final_state_mean": final.mean(axis=0).tolist(),
        "zero_action_return": float(rollout(env, jnp.zeros((env.horizon, env.action_dim))).total_return),
    }
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(f"{args.episodes} episodes of uniformly random actions on {args.env}, H = {args.horizon}")
    rows = [
        (k, f"{v:.6g}" if isinstance(v, float) else v)
        for k, v in summary.items()
        if k.startswith(("return", "zero"))
    ]
    print(_table(rows, ["statistic", "value"]))
    return 0


# --- awmkit references -------------------------------------------------------------------------------


def _add_references(subparsers) -> None:
    p = subparsers.add_parser(
        "references",
        help="(re)compute the optimal (trajectory optimisation) and random-policy reference returns",
        description="Computes, for each system and horizon, the optimal open-loop return by trajectory "
        "optimisation on the true dynamics and the mean return of uniformly random actions: the 1 and 0 "
        "of normalised returns. Defaults: the eight Myriad systems at H = 20 50 100 200 500 1000 2000.",
    )
    p.add_argument("--env", type=_env_name, nargs="+", default=None, help="environment name(s)")
    p.add_argument("--horizon", type=_positive_int, nargs="+", default=None, help="horizon(s) H")
    p.add_argument(
        "--key",
        type=int,
        default=0,
        help="integer seed of the trajopt restarts and (with env and H) of the random episodes",
    )
    p.add_argument(
        "--random-episodes",
        type=_positive_int,
        default=None,
        help="random-policy episodes (default: batches of 1000 until SE(R_random) / (R_optimal - "
        "R_random) < 0.2%%)",
    )
    p.add_argument("--write", action="store_true", help="merge the results into the references file")
    p.add_argument(
        "--output",
        type=_output_file,
        default=None,
        help="references file for --write (default: the package's)",
    )
    p.add_argument(
        "--shipped", action="store_true", help="only print the shipped references; compute nothing"
    )
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")


def _run_references(args) -> int:
    import time

    from .evaluation import (
        MYRIAD_ENVS,
        SHIPPED_HORIZONS,
        compute_reference,
        default_references_path,
        load_references,
        write_references,
    )

    shipped = load_references()
    envs = args.env or list(MYRIAD_ENVS)
    horizons = args.horizon or list(SHIPPED_HORIZONS)
    if args.output is not None and not args.write:
        raise ValueError("`--output` names the file that --write writes: pass --write too")
    if args.shipped:
        missing = [(e, h) for e in envs for h in horizons if (e, h) not in shipped]
        if missing:
            have = {e: sorted(h for (e2, h) in shipped if e2 == e) for e, _ in missing}
            raise _CLIError(
                "no shipped reference for "
                + ", ".join(f"{e} at H = {h}" for e, h in missing)
                + "; shipped horizons: "
                + "; ".join(f"{e}: {', '.join(map(str, hs)) or 'none'}" for e, hs in have.items())
                + " (compute others without --shipped)"
            )
        refs = [shipped[(e, h)] for e in envs for h in horizons]
    else:
        refs = []
        for env in envs:
            for horizon in horizons:
                start = time.perf_counter()
                refs.append(
                    compute_reference(env, horizon, key=args.key, random_episodes=args.random_episodes)
                )
                print(f"{env} H={horizon}: {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
        if args.write:
            path = write_references(refs, args.output)
            print(f"wrote {len(refs)} references to {path}", file=sys.stderr)
    if args.json:
        print(json.dumps([r.to_dict() for r in refs], indent=2))
        return 0
    rows = []
    for r in refs:
        old = shipped.get((r.env, r.horizon))
        rows.append(
            (
                r.env,
                r.horizon,
                f"{r.optimal_return:.8g}",
                f"{r.random_return:.6g}",
                r.random_episodes,
                "-" if old is None or args.shipped else f"{r.optimal_return - old.optimal_return:+.2e}",
                f"{r.extra.get('trajopt_wall_time_s', float('nan')):.1f}",
            )
        )
    print(
        _table(
            rows, ["env", "H", "optimal return", "random return", "random episodes", "vs shipped", "solve s"]
        )
    )
    if not args.shipped and not args.write:
        print(f"(not written; pass --write to update {default_references_path()})")
    return 0


# --- awmkit results ----------------------------------------------------------------------------------


def _add_results(subparsers) -> None:
    p = subparsers.add_parser(
        "results",
        help="tabulate run directories: normalised-return IQM with stratified-bootstrap CIs",
        description="Reads run directories (config.json, metrics.jsonl, result.json) and prints, per "
        "(algo, model, env, horizon), the final returns and the IQM of normalised returns with a "
        "bootstrap confidence interval, then the overall IQM per (algo, model) over all tasks. A "
        "directory without config.json is searched for run directories.",
    )
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run directories (or sweep directories)")
    p.add_argument("--raw", action="store_true", help="score raw returns instead of normalised returns")
    p.add_argument("--confidence", type=float, default=0.95, help="confidence level of the intervals")
    p.add_argument("--resamples", type=_positive_int, default=2000, help="bootstrap replicates")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap")
    p.add_argument("--references", default=None, help="extra references file for pairs not shipped")
    p.add_argument(
        "--allow-unfinished",
        action="store_true",
        help="use the latest evaluations of runs without result.json",
    )
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")


def _run_results(args) -> int:
    from .evaluation import load_runs, results_table

    runs = load_runs(args.runs)
    print(
        results_table(
            runs,
            normalise=not args.raw,
            format="json" if args.json else "markdown",
            confidence=args.confidence,
            n_resamples=args.resamples,
            seed=args.seed,
            references=args.references,
            allow_unfinished=args.allow_unfinished,
        )
    )
    return 0


# --- awmkit train -------------------------------------------------------------------------------------


def _add_train(subparsers) -> None:
    from ._cli_train_args import add_arguments

    p = subparsers.add_parser(
        "train",
        help="train policies with BPO (Algorithm 1) through a world model, or the SAC / Online DT baselines",
    )
    add_arguments(p, _env_name, _positive_int)


def _run_train(args) -> int:
    from ._cli_train import run

    return run(args, _table)


# --- awmkit estimate -----------------------------------------------------------------------------------


def _add_estimate(subparsers) -> None:
    from .bpo._cli_estimate import add_arguments

    p = subparsers.add_parser("estimate", help="predict the wall time of a BPO run on this machine")
    add_arguments(p, _env_name, _positive_int)


def _run_estimate(args) -> int:
    from .bpo._cli_estimate import run

    return run(args, _table)


# --- awmkit diagnose -----------------------------------------------------------------------------------


def _add_diagnose(subparsers) -> None:
    from .diagnostics._cli import add_arguments

    add_arguments(
        subparsers.add_parser("diagnose", help="Jacobians, bounds, gradient paths, growth, landscapes")
    )


def _run_diagnose(args) -> int:
    from .diagnostics._cli import run

    return run(args)


# --- awmkit reproduce ---------------------------------------------------------------------------------


def _add_reproduce(subparsers) -> None:
    from .experiments._cli_reproduce import add_arguments

    add_arguments(
        subparsers.add_parser("reproduce", help="reproduce one of the paper's figures, claims checked")
    )


def _run_reproduce(args) -> int:
    from .experiments._cli_reproduce import run

    return run(args)


# --- awmkit sweep --------------------------------------------------------------------------------------


def _add_sweep(subparsers) -> None:
    from .experiments._cli_sweep import add_arguments

    add_arguments(
        subparsers.add_parser("sweep", help="run a grid of cells from a TOML spec, locally or on Ray")
    )


def _run_sweep(args) -> int:
    from .experiments._cli_sweep import run

    return run(args)


_COMMANDS: dict[str, tuple[Callable, Callable]] = {
    "envs": (_add_envs, _run_envs),
    "rollout": (_add_rollout, _run_rollout),
    "references": (_add_references, _run_references),
    "results": (_add_results, _run_results),
    "train": (_add_train, _run_train),
    "estimate": (_add_estimate, _run_estimate),
    "diagnose": (_add_diagnose, _run_diagnose),
    "reproduce": (_add_reproduce, _run_reproduce),
    "sweep": (_add_sweep, _run_sweep),
}


def build_parser() -> argparse.ArgumentParser:
    # Errors are one line, for every sub-command: sub-parsers inherit the parser's class.
    parser = _ArgumentParser(
        prog="awmkit", description="Learning policies by backpropagating through world models."
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"awmkit {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for add, _ in _COMMANDS.values():
        add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``awmkit`` console script."""
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # for the resume command of a fault
    try:
        return _COMMANDS[args.command][1](args)
    except (ValueError, TypeError) as e:  # user errors get one clear line, not a traceback
        print(_error_line(f"awmkit {args.command}", e), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

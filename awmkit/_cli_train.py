"""``awmkit train``: runs [`awmkit.bpo.train`][], [`awmkit.baselines.train_sac`][] or
[`awmkit.baselines.train_odt`][] (``--algo``; one trainer signature, one `RunResult`) and prints the
result table. Faults end in one line saying what happened and how to resume: a run directory in use
(exit 1), a full disk or an unwritable file (exit 1), out of memory (exit 1), Ctrl-C (exit 130)."""

import errno
import json
import math
import shlex
import sys

import jax
import numpy as np
import scipy.stats

from . import baselines, bpo
from ._cli_train_args import add_arguments as add_arguments, config_from_args
from .envs import make, random_return
from .evaluation import MissingReferenceError, normalised_return, reference, resolve_odt_config
from .runs import (
    NonFiniteError,
    RunDir,
    RunLockedError,
    RunResult,
    logger_from_name,
    plot_learning_curve,
)

_NAMES = {"bpo": "BPO", "sac": "SAC", "odt": "Online DT"}
_TRAINERS = {"bpo": bpo.train, "sac": baselines.train_sac, "odt": baselines.train_odt}


def resume_command(args) -> str:
    """The command line that continues this run."""
    argv = [a for a in getattr(args, "argv", None) or sys.argv[1:] if a != "--resume"]
    return shlex.join(["awmkit", *argv, "--resume"])


def run(args, table) -> int:
    """Runs ``awmkit train`` once its arguments are parsed; everything is validated before compilation,
    and a fault ends in one line on stderr."""
    config = config_from_args(args)
    where = "" if args.out is None else f"; resume with: {resume_command(args)}"
    # A finished run re-run with --resume is reported as it is: nothing on disk changes.
    finished = args.out is not None and args.resume and RunDir(args.out).result.exists()
    try:
        result = _train(args, config)
    except KeyboardInterrupt:
        print(f"\nawmkit train: interrupted{where or ' (no --out: nothing was saved)'}", file=sys.stderr)
        return 130
    except (NonFiniteError, RunLockedError) as e:
        print(f"awmkit train: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EROFS, errno.EPERM, errno.EIO):
            name = f" {e.filename}" if e.filename else ""
            print(f"awmkit train: could not write{name}: {e.strerror}{where}", file=sys.stderr)
            return 1
        raise
    except Exception as e:
        if "RESOURCE_EXHAUSTED" not in str(e):
            raise
        print(
            "awmkit train: out of memory (XLA RESOURCE_EXHAUSTED): the run does not fit on this device; "
            f"use fewer seeds, a smaller --seed-group-size or a shorter --horizon{where}",
            file=sys.stderr,
        )
        return 1
    _report(args, result, table, redraw=not finished)
    return 0


def _train(args, config) -> RunResult:
    env = make(args.env, horizon=args.horizon)
    if args.algo == "bpo":
        config.check_horizon(env.horizon)
    if args.algo == "odt":  # a missing reference fails here, before compilation
        config = resolve_odt_config(config, env)
        config.check_horizon(env.horizon)
    loggers = [logger_from_name(name) for name in args.logger]
    return _TRAINERS[args.algo](
        env,
        config,
        model=args.model,
        seeds=args.seeds,
        key=args.key,
        out=args.out,
        resume=args.resume,
        progress=not args.no_progress,
        loggers=loggers,
    )


def _mean_ci(values) -> tuple[float, float]:
    """Mean and half-width of the Student-t 95% confidence interval."""
    values = np.asarray(values, dtype=np.float64)
    mean = float(values.mean())
    if values.size < 2:
        return mean, float("nan")
    return mean, float(scipy.stats.t.ppf(0.975, values.size - 1) * scipy.stats.sem(values))


def _what(args, result: RunResult) -> str:
    if args.algo == "bpo":
        return f"BPO with the {args.model} model"
    if args.algo == "odt":
        return f"Online DT ({result.info['rtg']} RTG {result.info['target_return']:.6g})"
    return _NAMES[args.algo]


def _summary(args, result: RunResult, env) -> dict:
    """The ``--json`` summary: the result, its confidence interval and normalised returns."""
    try:
        ref = reference(args.env, args.horizon)
    except MissingReferenceError:
        ref = None  # no shipped optimum for this pair: raw returns only
    # The shipped random return (1 000 episodes) keeps tables comparable; compute one otherwise.
    rand = ref.random_return if ref is not None else float(random_return(env, jax.random.key(args.key)))
    mean, half = _mean_ci(result.final_return)
    normalised = None
    if ref is not None:
        normalised = [float(x) for x in normalised_return(result.final_return, args.env, args.horizon)]
    return {
        "env": args.env,
        "algo": args.algo,
        "model": args.model,
        **(
            {"rtg": result.info["rtg"], "target_return": result.info["target_return"]}
            if args.algo == "odt"
            else {}
        ),
        "horizon": args.horizon,
        "seeds": list(result.seeds),
        "env_steps": int(result.eval_steps[-1]),
        "final_return": [float(x) for x in result.final_return],
        "final_return_mean": mean,
        "final_return_ci95": half,
        "random_return": rand,
        "optimal_return": None if ref is None else ref.optimal_return,
        "normalised_return": normalised,
        **({k: v for k, v in result.info.items() if k.endswith("_updates")}),
        "wall_time_s": result.wall_time_s,
        "nan_reports": [str(r) for r in getattr(result, "nan_reports", ())],
        "out": None if args.out is None else str(args.out),
        "learning_curve": None,
    }


def _curve(args, result: RunResult, summary: dict, redraw: bool) -> None:
    """``learning_curve.png`` with the random and optimal returns (the host loop drew it without)."""
    if args.out is None:
        return
    curve = RunDir(args.out).curve
    try:
        if not redraw and curve.exists():
            raise FileExistsError
        plot_learning_curve(
            curve,
            result.eval_steps,
            result.eval_returns,
            label=_NAMES[args.algo],
            title=f"{_what(args, result)} on {args.env}, H = {args.horizon}",
            random_return=summary["random_return"],
            optimal_return=summary["optimal_return"],
        )
    except FileExistsError:
        pass  # a finished run's curve is left as it was
    except ImportError as e:
        print(f"awmkit train: {e}; learning_curve.png not written", file=sys.stderr)
    except OSError as e:
        print(f"awmkit train: could not write {curve}: {e.strerror}", file=sys.stderr)
    if curve.exists():
        summary["learning_curve"] = str(curve)


def _counts(values: list[int]) -> str:
    """One number when every seed agrees (the usual case), else the list."""
    return str(values[0]) if len(set(values)) == 1 else str(values)


def _report(args, result: RunResult, table, redraw: bool) -> None:
    env = make(args.env, horizon=args.horizon)
    summary = _summary(args, result, env)
    _curve(args, result, summary, redraw)
    if args.json:
        print(json.dumps(summary, indent=2))
        return
    print(
        f"{_what(args, result)} on {args.env}, H = {args.horizon}: {summary['env_steps']} environment "
        f"steps per seed in {result.wall_time_s:.1f} s"
    )
    print(table(*_rows(result, summary)))
    if "dynamics_updates" in summary:
        model, policy = summary["dynamics_updates"], summary["policy_updates"]
        print(f"updates per seed: model {_counts(model)}, policy {_counts(policy)}")
    for report in summary["nan_reports"]:
        print(f"NaN guard: {report}")
    if args.out is not None:
        print(f"run directory: {args.out}")
    if summary["learning_curve"] is not None:
        print(f"learning curve: {summary['learning_curve']}")


def _rows(result: RunResult, summary: dict):
    def fmt(value, ci_half, spec=".6g"):
        return f"{value:{spec}}" + ("" if math.isnan(ci_half) else f" ± {ci_half:.3g}")

    mean, half, rand = summary["final_return_mean"], summary["final_return_ci95"], summary["random_return"]
    normalised = summary["normalised_return"]
    header = ["seed", "final evaluation return"]
    if normalised is None:
        rows = [(s, f"{r:.6g}") for s, r in zip(result.seeds, result.final_return)]
        rows.append(("mean ± 95% CI", fmt(mean, half)))
        rows.append(("random policy", f"{rand:.6g}"))
        return rows, header
    norm_mean, norm_half = _mean_ci(normalised)
    header.append("normalised (0 random, 1 optimal)")
    rows = [(s, f"{r:.6g}", f"{n:.3f}") for s, r, n in zip(result.seeds, result.final_return, normalised)]
    rows.append(("mean ± 95% CI", fmt(mean, half), fmt(norm_mean, norm_half, ".3f")))
    rows.append(("random policy", f"{rand:.6g}", "0"))
    rows.append(("optimal (trajopt)", f"{summary['optimal_return']:.6g}", "1"))
    return rows, header

"""``awmkit train``: the command-line front end of [`awmkit.bpo.train`][]."""

import argparse
import dataclasses
import json
import math
import pathlib
import sys

from ._config import BPOConfig
from ._run import MODEL_NAMES

# Flags for every BPOConfig field but the two switches, which read better as opt-in flags.
_SWITCHES = {"stop_gradient": "--full-gradient", "float64": "--float64"}


_HELP = {
    "steps": "environment steps per seed, warm-up included",
    "dynamics_replay_ratio": "model updates per collected episode (0: no model learning)",
    "policy_replay_ratio": "policy updates per collected episode",
    "dynamics_batch_size": "episodes per model update",
    "policy_batch_size": "imagined rollouts per policy update",
    "dynamics_lr": "Adam learning rate of the model",
    "policy_lr": "Adam learning rate of the policy",
    "buffer_size": "replay buffer capacity in environment steps",
    "warmup_steps": "environment steps of uniformly random actions first",
    "entropy_coef": "entropy bonus weight (the paper sweeps 0.1, 0.01, 0.001)",
    "policy_grad_clip": "global-norm clip of the policy gradient",
    "eval_interval": "environment steps between evaluations",
    "eval_episodes": "episodes per evaluation",
    "chunk_size": "episodes per compiled chunk (progress, metrics and checkpoint after each)",
    "nan_policy": "on a non-finite loss, gradient or parameter: stop that seed, or the whole run",
}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_arguments(parser: argparse.ArgumentParser, env_type, positive_int) -> None:
    """Declares the arguments of ``awmkit train``."""
    parser.add_argument("--env", type=env_type, required=True, help="environment name (see `awmkit envs`)")
    parser.add_argument("--model", choices=MODEL_NAMES, required=True, help="world model")
    parser.add_argument("--horizon", type=positive_int, required=True, help="episode length H")
    parser.add_argument("--seeds", type=positive_int, default=1, help="seeds trained together (vmapped)")
    parser.add_argument("--key", type=int, default=0, help="integer seed of the whole run")
    parser.add_argument("--out", type=pathlib.Path, default=None, help="run directory")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--no-progress", action="store_true", help="do not draw the progress bar")
    defaults = BPOConfig()
    for field in dataclasses.fields(BPOConfig):
        default = getattr(defaults, field.name)
        if field.name in _SWITCHES:
            continue
        if field.name == "nan_policy":
            parser.add_argument(
                "--nan-policy", choices=("stop_seed", "stop_run"), default=default, help=_HELP[field.name]
            )
            continue
        kind = (
            positive_int
            if isinstance(default, int) and field.name != "dynamics_replay_ratio"
            else type(default)
        )
        parser.add_argument(
            _flag(field.name), type=kind, default=default, help=f"{_HELP[field.name]} (default {default:g})"
        )
    parser.add_argument(
        "--full-gradient", action="store_true", help="no stop-gradient on the policy input (Appendix F.1)"
    )
    parser.add_argument("--float64", action="store_true", help="train in double precision")


def config_from_args(args) -> BPOConfig:
    values = {}
    for field in dataclasses.fields(BPOConfig):
        if field.name == "stop_gradient":
            values[field.name] = not args.full_gradient
        else:
            values[field.name] = getattr(args, field.name)
    return BPOConfig(**values)


def _mean_ci(values) -> tuple[float, float]:
    """Mean and half-width of the Student-t 95% confidence interval."""
    import numpy as np
    import scipy.stats

    values = np.asarray(values, dtype=np.float64)
    mean = float(values.mean())
    if values.size < 2:
        return mean, float("nan")
    half = float(scipy.stats.t.ppf(0.975, values.size - 1) * scipy.stats.sem(values))
    return mean, half


def plot_learning_curve(result, path: pathlib.Path, random_return: float, title: str) -> None:
    """Evaluation return against environment steps: each seed, the mean and its 95% CI."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError(
            "plotting the learning curve needs matplotlib: pip install 'awmkit[plot]'"
        ) from None
    import numpy as np
    import scipy.stats

    steps, returns = result.eval_steps, result.eval_returns
    fig, ax = plt.subplots(figsize=(6, 4))
    for j in range(len(result.seeds)):
        ax.plot(steps, returns[:, j], color="C0", alpha=0.25, linewidth=0.8)
    mean = returns.mean(axis=1)
    ax.plot(steps, mean, color="C0", label=f"BPO mean of {returns.shape[1]} seeds")
    if returns.shape[1] > 1:
        half = scipy.stats.t.ppf(0.975, returns.shape[1] - 1) * scipy.stats.sem(returns, axis=1)
        ax.fill_between(steps, mean - half, mean + half, color="C0", alpha=0.2, label="95% CI")
    ax.axhline(random_return, color="grey", linestyle="--", label="uniformly random actions")
    ax.set_xlabel("environment steps")
    ax.set_ylabel("evaluation return")
    ax.set_title(title)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    del np


def run(args, table) -> int:
    """Runs ``awmkit train`` once its arguments parsed; everything is validated before compilation."""
    config = config_from_args(args)
    if args.out is not None and args.out.exists() and not args.out.is_dir():
        raise ValueError(f"--out {args.out} exists and is not a directory")
    if args.out is not None and not args.resume and (args.out / "config.json").exists():
        raise ValueError(
            f"--out {args.out} already holds a run; pass --resume to continue it or choose another"
        )

    import jax

    from ..envs import make, random_return
    from ._run import train

    env = make(args.env, horizon=args.horizon)
    config.check_horizon(env.horizon)
    from ._run import NonFiniteError

    try:
        result = train(
            env,
            args.model,
            config,
            key=args.key,
            seeds=args.seeds,
            out=args.out,
            resume=args.resume,
            progress=not args.no_progress,
        )
    except NonFiniteError as e:
        print(f"awmkit train: {e}", file=sys.stderr)
        return 1
    rand = float(random_return(env, jax.random.key(args.key)))
    mean, half = _mean_ci(result.final_return)
    summary = {
        "env": args.env,
        "model": args.model,
        "horizon": args.horizon,
        "seeds": list(result.seeds),
        "env_steps": int(result.eval_steps[-1]),
        "final_return": [float(x) for x in result.final_return],
        "final_return_mean": mean,
        "final_return_ci95": half,
        "random_return": rand,
        "wall_time_s": result.wall_time_s,
        "nan_reports": [str(r) for r in result.nan_reports],
        "out": None if args.out is None else str(args.out),
    }
    if args.out is not None:
        try:
            plot_learning_curve(
                result,
                args.out / "learning_curve.png",
                rand,
                f"BPO ({args.model}) on {args.env}, H = {args.horizon}",
            )
        except ImportError as e:
            print(f"awmkit train: {e}; learning_curve.png not written", file=sys.stderr)
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    rows = [(s, f"{r:.6g}") for s, r in zip(result.seeds, result.final_return)]
    ci = "" if math.isnan(half) else f" ± {half:.3g}"
    rows.append(("mean ± 95% CI", f"{mean:.6g}{ci}"))
    rows.append(("random policy", f"{rand:.6g}"))
    print(
        f"BPO with the {args.model} model on {args.env}, H = {args.horizon}: {summary['env_steps']} environment "
        f"steps per seed in {result.wall_time_s:.1f} s"
    )
    print(table(rows, ["seed", "final evaluation return"]))
    for report in result.nan_reports:
        print(f"NaN guard: {report}")
    if args.out is not None:
        print(f"run directory: {args.out}")
    return 0

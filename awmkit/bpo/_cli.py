"""``awmkit train``: the command-line front end of [`awmkit.bpo.train`][], [`awmkit.baselines.train_sac`][]
and [`awmkit.baselines.train_odt`][] (``--algo``), all writing the same run-directory format."""

import argparse
import dataclasses
import json
import math
import pathlib
import sys

from .._cli_common import output_dir
from ._config import BPOConfig
from ._run import MODEL_NAMES

# Flags for every BPOConfig field but the two switches, which read better as opt-in flags.
_SWITCHES = {"stop_gradient": "--full-gradient", "float64": "--float64"}


_HELP = {
    "steps": "environment steps per seed, warm-up included",
    "dynamics_update_every": "environment steps between model updates after the warm-up (0: no model learning)",
    "policy_update_every": "environment steps between policy updates after the warm-up",
    "dynamics_batch_size": "episodes per model update",
    "policy_batch_size": "imagined rollouts per policy update",
    "dynamics_lr": "Adam learning rate of the model",
    "policy_lr": "Adam learning rate of the policy",
    "buffer_size": "replay buffer capacity in environment steps",
    "warmup_steps": "environment steps of uniformly random actions first",
    "entropy_coef": "weight of the time-averaged entropy bonus (the paper sweeps 0.1, 0.01, 0.001)",
    "policy_grad_clip": "global-norm clip of the policy gradient",
    "eval_interval": "environment steps between evaluations",
    "eval_episodes": "episodes per evaluation",
    "chunk_size": "episodes per compiled chunk (progress, metrics and checkpoint after each)",
    "nan_policy": "on a non-finite loss, gradient or parameter: stop that seed, or the whole run",
    "profile": "settings profile: awmkit's defaults, or the authors' per-model settings (raw step-index "
    "time input to the policy; the Markovian model's entropy summed over time and gradients damped by 0.9)",
    "seed_group_size": "seeds vmapped together; groups run in turn, spread over all local devices "
    "(default: the backend's measured best, 2 on a CPU, all seeds on a GPU)",
}


_SAC_HELP = {
    "steps": "environment steps per seed, warm-up included",
    "warmup_steps": "environment steps of uniformly random actions first",
    "batch_size": "transitions per update",
    "discount": "discount factor gamma",
    "polyak": "target-critic averaging coefficient",
    "critic_replay_ratio": "environment steps per critic update",
    "policy_replay_ratio": "environment steps per actor update",
    "buffer_size": "replay buffer capacity in environment steps",
    "critic_width": "hidden width of the Q-networks",
    "critic_depth": "hidden layers of the Q-networks",
    "policy_width": "hidden width of the actor",
    "policy_depth": "hidden layers of the actor",
    "critic_lr": "Adam learning rate of the critics",
    "policy_lr": "Adam learning rate of the policy",
    "entropy_coef": "entropy coefficient alpha (the paper sweeps 1, 0.01, 0.001)",
    "reward_scale": "multiplies rewards before learning",
    "eval_interval": "environment steps between evaluations",
    "eval_episodes": "episodes per evaluation",
}

# Flags that may be zero (the others taking integers must be positive).
_NON_NEGATIVE = {"dynamics_update_every", "critic_depth", "policy_depth"}
# Integer flags whose default is None (a computed default).
_OPTIONAL_INTS = {"seed_group_size"}
# Flags with a fixed set of values.
_CHOICES = {
    "nan_policy": ("stop_seed", "stop_run"),
    "rtg": ("expert", "overshot"),
    "profile": ("awmkit", "authors"),
}
# Extra spellings of a flag.
_ALIASES = {"entropy_coef": ("--entropy-coefficient",)}


def _algorithms() -> dict[str, tuple[type, dict[str, str]]]:
    """The config class and flag help of each ``--algo``."""
    from ..baselines import ODTConfig, SACConfig
    from ..baselines._odt import FLAG_HELP as odt_help

    return {"bpo": (BPOConfig, _HELP), "sac": (SACConfig, _SAC_HELP), "odt": (ODTConfig, odt_help)}


def _declared() -> dict[str, dict[str, object]]:
    """For each hyper-parameter flag (by its dest), the algorithms it applies to and their defaults."""
    out: dict[str, dict[str, object]] = {}
    for algo, (cls, _) in _algorithms().items():
        defaults = cls()
        for field in dataclasses.fields(cls):
            if field.name not in _SWITCHES:
                out.setdefault(field.name, {})[algo] = getattr(defaults, field.name)
    return out


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _fmt_default(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def add_arguments(parser: argparse.ArgumentParser, env_type, positive_int) -> None:
    """Declares the arguments of ``awmkit train``: the run, then every hyper-parameter of the three
    algorithms (a flag left out takes the chosen algorithm's default)."""
    parser.add_argument(
        "--algo",
        choices=("bpo", "sac", "odt"),
        default="bpo",
        help="bpo: policy optimisation through a world model (Algorithm 1); sac: Soft Actor-Critic; "
        "odt: Online Decision Transformer (default bpo)",
    )
    parser.add_argument("--env", type=env_type, required=True, help="environment name (see `awmkit envs`)")
    parser.add_argument("--model", choices=MODEL_NAMES, default=None, help="world model (bpo only, required)")
    parser.add_argument("--horizon", type=positive_int, required=True, help="episode length H")
    parser.add_argument("--seeds", type=positive_int, default=1, help="seeds trained together (vmapped)")
    parser.add_argument("--key", type=int, default=0, help="integer seed of the whole run")
    parser.add_argument(
        "--out", type=output_dir, default=None, help="run directory (created; must be writable)"
    )
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--no-progress", action="store_true", help="do not draw the progress bar")

    def non_negative_int(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
        if value < 0:
            raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {value}")
        return value

    helps = {algo: h for algo, (_, h) in _algorithms().items()}
    for name, defaults in _declared().items():
        sample = (
            next(v for v in defaults.values() if v is not None)
            if any(v is not None for v in defaults.values())
            else None
        )
        texts = {a: helps[a][name] for a in defaults}
        if len(set(texts.values())) == 1:  # one meaning: say it once
            text = next(iter(texts.values()))
            text += " (" + "; ".join(f"{a} default {_fmt_default(v)}" for a, v in defaults.items()) + ")"
        else:  # a shared name read differently per algorithm (e.g. the replay ratios)
            text = "; ".join(f"{a}: {texts[a]} (default {_fmt_default(defaults[a])})" for a in defaults)
        flags = (_flag(name), *_ALIASES.get(name, ()))
        if name in _CHOICES:
            parser.add_argument(*flags, dest=name, choices=_CHOICES[name], default=None, help=text)
            continue
        if isinstance(sample, bool):
            kind = None
        elif isinstance(sample, int) or name in _OPTIONAL_INTS:
            kind = non_negative_int if name in _NON_NEGATIVE else positive_int
        else:
            kind = float
        parser.add_argument(*flags, dest=name, type=kind, default=None, help=text)
    parser.add_argument(
        "--full-gradient",
        action="store_true",
        help="no stop-gradient on the policy input (bpo, Appendix F.1)",
    )
    parser.add_argument("--float64", action="store_true", help="train in double precision")


def config_from_args(args):
    """The chosen algorithm's config from the parsed flags, refusing flags of other algorithms."""
    cls = _algorithms()[args.algo][0]
    for name, defaults in _declared().items():
        if getattr(args, name, None) is not None and args.algo not in defaults:
            raise ValueError(
                f"{_flag(name)} does not apply to --algo {args.algo} (it is a flag of {', '.join(defaults)})"
            )
    if args.algo == "bpo" and args.model is None:
        raise ValueError(f"--algo bpo needs --model, one of: {', '.join(MODEL_NAMES)}")
    if args.algo != "bpo" and args.model is not None:
        raise ValueError(
            f"--model is not used by --algo {args.algo}: only BPO learns through a world model; drop --model"
        )
    if args.algo != "bpo" and args.full_gradient:
        raise ValueError(f"--full-gradient applies to --algo bpo only, not {args.algo}")
    values = {}
    for field in dataclasses.fields(cls):
        if field.name == "stop_gradient":
            values[field.name] = not args.full_gradient
        elif field.name == "float64":
            values[field.name] = args.float64
        elif getattr(args, field.name) is not None:
            values[field.name] = getattr(args, field.name)
    return cls(**values)


def _counts(values: list[int]) -> str:
    """One number when every seed agrees (the usual case), else the list."""
    return str(values[0]) if len(set(values)) == 1 else str(values)


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


def plot_learning_curve(
    result,
    path: pathlib.Path,
    random_return: float,
    title: str,
    label: str = "BPO",
    optimal_return: float | None = None,
) -> None:
    """Evaluation return against environment steps: each seed, the mean and its 95% CI, with the
    random-policy return and, where a reference is shipped, the optimal one."""
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
    ax.plot(steps, mean, color="C0", label=f"{label} mean of {returns.shape[1]} seeds")
    if returns.shape[1] > 1:
        half = scipy.stats.t.ppf(0.975, returns.shape[1] - 1) * scipy.stats.sem(returns, axis=1)
        ax.fill_between(steps, mean - half, mean + half, color="C0", alpha=0.2, label="95% CI")
    ax.axhline(random_return, color="grey", linestyle="--", label="uniformly random actions")
    if optimal_return is not None:
        ax.axhline(optimal_return, color="black", linestyle=":", label="optimal (trajopt)")
    ax.set_xlabel("environment steps")
    ax.set_ylabel("evaluation return")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    del np


@dataclasses.dataclass(frozen=True)
class _Outcome:
    """What the table needs from a run of any algorithm."""

    seeds: tuple[int, ...]
    eval_steps: object
    eval_returns: object
    final_return: object
    wall_time_s: float
    nan_reports: tuple = ()
    updates: dict | None = None


_NAMES = {"bpo": "BPO", "sac": "SAC", "odt": "Online DT"}


def run(args, table) -> int:
    """Runs ``awmkit train`` once its arguments parsed; everything is validated before compilation."""
    config = config_from_args(args)
    if args.out is not None and args.out.exists() and not args.out.is_dir():
        raise ValueError(f"--out {args.out} exists and is not a directory")
    if args.out is not None and not args.resume and (args.out / "config.json").exists():
        raise ValueError(
            f"--out {args.out} already holds a run; pass --resume to continue it or choose another"
        )

    # A finished run re-run with --resume is reported as it is: nothing on disk changes.
    finished = args.resume and args.out is not None and (args.out / "result.json").exists()

    import jax

    from ..envs import make, random_return

    env = make(args.env, horizon=args.horizon)
    extra: dict = {}
    if args.algo == "bpo":
        from ._run import NonFiniteError, train

        config.check_horizon(env.horizon)
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
        outcome = _Outcome(
            tuple(result.seeds),
            result.eval_steps,
            result.eval_returns,
            result.final_return,
            result.wall_time_s,
            tuple(result.nan_reports),
            {
                "dynamics_updates": [int(x) for x in result.state.dynamics_updates],
                "policy_updates": [int(x) for x in result.state.policy_updates],
            },
        )
        what = f"BPO with the {args.model} model"
    else:
        from ..baselines import train_odt, train_sac

        if args.algo == "odt":
            # Resolves the target return-to-go now: a missing reference fails before compilation.
            target = config.resolve_target(env)
            extra = {"rtg": config.rtg, "target_return": target}
        fn = train_sac if args.algo == "sac" else train_odt
        result = fn(
            env,
            config=config,
            seeds=args.seeds,
            key=args.key,
            run_dir=args.out,
            resume=args.resume,
            progress=not args.no_progress,
        )
        outcome = _Outcome(
            tuple(range(args.seeds)),
            result.env_steps,
            result.eval_returns,
            result.final_return,
            result.wall_time_s,
        )
        what = _NAMES[args.algo] + (f" ({config.rtg} RTG {extra['target_return']:.6g})" if extra else "")
    result = outcome
    from ..evaluation import MissingReferenceError, normalised_return, reference

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
        norm_mean, norm_half = _mean_ci(normalised)
    summary = {
        "env": args.env,
        "algo": args.algo,
        "model": args.model,
        **extra,
        "horizon": args.horizon,
        "seeds": list(result.seeds),
        "env_steps": int(result.eval_steps[-1]),
        "final_return": [float(x) for x in result.final_return],
        "final_return_mean": mean,
        "final_return_ci95": half,
        "random_return": rand,
        "optimal_return": None if ref is None else ref.optimal_return,
        "normalised_return": normalised,
        **(result.updates or {}),
        "wall_time_s": result.wall_time_s,
        "nan_reports": [str(r) for r in result.nan_reports],
        "out": None if args.out is None else str(args.out),
        "learning_curve": None,
    }
    curve = None if args.out is None else args.out / "learning_curve.png"
    if curve is not None and not (finished and curve.exists()):
        try:
            plot_learning_curve(
                result,
                curve,
                rand,
                f"{what} on {args.env}, H = {args.horizon}",
                label=_NAMES[args.algo],
                optimal_return=None if ref is None else ref.optimal_return,
            )
        except ImportError as e:
            print(f"awmkit train: {e}; learning_curve.png not written", file=sys.stderr)
    if curve is not None and curve.exists():
        summary["learning_curve"] = str(curve)
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0

    def fmt(value, ci_half, spec=".6g"):
        return f"{value:{spec}}" + ("" if math.isnan(ci_half) else f" ± {ci_half:.3g}")

    header = ["seed", "final evaluation return"]
    if normalised is None:
        rows = [(s, f"{r:.6g}") for s, r in zip(result.seeds, result.final_return)]
        rows.append(("mean ± 95% CI", fmt(mean, half)))
        rows.append(("random policy", f"{rand:.6g}"))
    else:
        header.append("normalised (0 random, 1 optimal)")
        rows = [(s, f"{r:.6g}", f"{n:.3f}") for s, r, n in zip(result.seeds, result.final_return, normalised)]
        rows.append(("mean ± 95% CI", fmt(mean, half), fmt(norm_mean, norm_half, ".3f")))
        rows.append(("random policy", f"{rand:.6g}", "0"))
        rows.append(("optimal (trajopt)", f"{ref.optimal_return:.6g}", "1"))
    print(
        f"{what} on {args.env}, H = {args.horizon}: {summary['env_steps']} environment "
        f"steps per seed in {result.wall_time_s:.1f} s"
    )
    print(table(rows, header))
    if result.updates is not None:
        model_updates, policy_updates = result.updates["dynamics_updates"], result.updates["policy_updates"]
        print(f"updates per seed: model {_counts(model_updates)}, policy {_counts(policy_updates)}")
    for report in result.nan_reports:
        print(f"NaN guard: {report}")
    if args.out is not None:
        print(f"run directory: {args.out}")
    if curve is not None and curve.exists():
        print(f"learning curve: {curve}")
    return 0

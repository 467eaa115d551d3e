"""The arguments of ``awmkit train``: the run, then every hyper-parameter of the three trainers
([`awmkit.bpo.train`][], [`awmkit.baselines.train_sac`][], [`awmkit.baselines.train_odt`][]) as flags,
and the chosen trainer's config from them (``awmkit/_cli_train.py`` runs it)."""

import argparse
import dataclasses

from ._cli_common import output_dir
from .baselines import ODTConfig, SACConfig
from .baselines._odt import FLAG_HELP as _ODT_HELP
from .bpo import MODEL_NAMES, BPOConfig
from .runs import logger_names

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
_CHOICES = {"nan_policy": ("stop_seed", "stop_run"), "rtg": ("expert", "overshot")}
# Extra spellings of a flag.
_ALIASES = {"entropy_coef": ("--entropy-coefficient",)}


def _algorithms() -> dict[str, tuple[type, dict[str, str]]]:
    """The config class and flag help of each ``--algo``."""
    return {"bpo": (BPOConfig, _HELP), "sac": (SACConfig, _SAC_HELP), "odt": (ODTConfig, _ODT_HELP)}


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
    parser.add_argument(
        "--logger",
        action="append",
        default=[],
        choices=logger_names(),
        metavar="NAME",
        help="also send the metric rows to this logger (repeatable; one of: "
        f"{', '.join(logger_names()) or 'none installed'}); metrics.jsonl is always written",
    )
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
    if args.resume and args.out is None:
        raise ValueError("--resume needs --out, the run directory to continue")
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

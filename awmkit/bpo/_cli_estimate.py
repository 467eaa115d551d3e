"""``awmkit estimate``: the predicted wall time of a BPO run on this machine
([`awmkit.bpo.estimate_run`][])."""

import argparse
import json

from ..envs import make
from ._config import BPOConfig
from ._estimate import estimate_run
from ._run import MODEL_NAMES


def add_arguments(parser: argparse.ArgumentParser, env_type, positive_int) -> None:
    parser.add_argument("--env", type=env_type, required=True, help="environment name (see `awmkit envs`)")
    parser.add_argument("--model", choices=MODEL_NAMES, required=True, help="world model")
    parser.add_argument("--horizon", type=positive_int, required=True, help="episode length H")
    parser.add_argument("--seeds", type=positive_int, default=1, help="seeds trained together (default 1)")
    parser.add_argument(
        "--steps",
        type=positive_int,
        default=BPOConfig.steps,
        help="environment steps per seed (default 200000)",
    )
    parser.add_argument(
        "--seed-group-size",
        type=positive_int,
        default=None,
        help="seeds vmapped together (default: the backend's measured best)",
    )
    parser.add_argument("--repeats", type=positive_int, default=3, help="timed calls per piece (default 3)")
    parser.add_argument("--json", action="store_true", help="print the estimate as JSON")


def _fmt(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.2f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.1f} s"


def run(args, table) -> int:
    config = BPOConfig(steps=args.steps, seed_group_size=args.seed_group_size)
    env = make(args.env, horizon=args.horizon)
    config.check_horizon(env.horizon)  # a one-line error before anything compiles
    estimate = estimate_run(env, args.model, config, seeds=args.seeds, repeats=args.repeats)
    if args.json:
        print(json.dumps({"env": args.env, "model": args.model, "horizon": args.horizon, "steps": args.steps,
                          **estimate.to_dict()}, indent=2))  # fmt: skip
        return 0
    rows = [
        (name, count, f"{estimate.unit_seconds[name] * 1e3:.2f}", _fmt(estimate.breakdown[name]))
        for name, count in estimate.counts.items()
    ]
    print(table(rows, ["work", "count", "ms each (all seeds)", "total"]))
    print(
        f"\n{args.env} H={args.horizon} {args.model}, {args.seeds} seed(s) in groups of "
        f"{estimate.group_size} on {estimate.devices} {estimate.backend} device(s), {args.steps} steps: "
        f"about {_fmt(estimate.seconds)} (+ compilation, ~{_fmt(estimate.compile_s)} for the timed pieces)"
    )
    return 0

"""Gradient-norm growth on the double pendulum (Figure 4b): the simulator and Markovian, History and
transformer Actions World Models trained offline on random trajectories (Appendix D), with exponential
and polynomial fits and their verdicts. Prints JSON; writes benchmarks/results/diagnostics_growth.json.

    python benchmarks/diagnostics_growth.py [--transitions 100000] [--steps 1000] [--samples 50]

The models are trained once at the longest horizon and evaluated on prefixes: the double pendulum's
dynamics do not depend on H (fixed dt), and every model sees absolute time steps.
"""

import argparse
import json
import pathlib
import platform
import time

import jax

from awmkit import models
from awmkit.diagnostics import horizon_growth, train_offline
from awmkit.envs import make


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--transitions", type=int, default=100_000)
    p.add_argument("--steps", type=int, default=1_000)
    p.add_argument("--samples", type=int, default=50)
    p.add_argument("--horizons", type=int, nargs="+", default=[5, 10, 20, 30, 50, 75, 100])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="benchmarks/results/diagnostics_growth.json")
    args = p.parse_args()
    h_max = max(args.horizons)
    env = make("double_pendulum", horizon=h_max)
    key = jax.random.key(args.seed)
    results = {
        "env": "double_pendulum",
        "transitions": args.transitions,
        "steps": args.steps,
        "samples": args.samples,
        "device": jax.devices()[0].device_kind,
        "machine": platform.machine(),
        "models": {},
    }
    trained = {"simulator": None}
    for name in ("markovian", "hwm-transformer", "awm-transformer"):
        key, k_init, k_train = jax.random.split(key, 3)
        t = time.time()
        model, losses = train_offline(
            models.make(name, env, key=k_init),
            env,
            key=k_train,
            transitions=args.transitions,
            steps=args.steps,
        )
        trained[name] = model
        results["models"][name] = {
            "train_seconds": time.time() - t,
            "loss_first": float(losses[0]),
            "loss_last": float(losses[-1]),
        }
    for name, model in trained.items():
        t = time.time()

        def factory(h, model=model):
            e = make("double_pendulum", horizon=h)
            return e if model is None else (model, e)

        growth = horizon_growth(
            factory, args.horizons, key=jax.random.key(args.seed + 1), samples=args.samples
        )
        entry = results["models"].setdefault(name, {})
        entry.update(growth.as_dict())
        entry["growth_seconds"] = time.time() - t
        print(name, growth.verdict, growth.mean_norm.round(4).tolist(), flush=True)
    path = pathlib.Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

"""How trustworthy are the shipped optimal references? Re-solves (env, horizon) pairs with a much wider
search (48 extra random restarts, 500 + 500 iterations, another key) and with the shipped settings, and
prints JSON: the shipped optimum, the wide-search optimum, their difference, and the wall time of each
solve (compilation included) on this machine.

    python benchmarks/trajopt_robustness.py [--pairs invasive_plant:20 hiv_treatment:100 ...] [--out FILE]
"""

import argparse
import json
import os
import platform
import time

import jax

import awmkit
from awmkit.baselines import TrajOptSettings, trajopt
from awmkit.evaluation import reference

# The pairs where restarts disagreed most when the references were generated (local optima or slow
# convergence at the control bounds), plus a smooth control case.
DEFAULT_PAIRS = (
    "invasive_plant:20",
    "invasive_plant:100",
    "hiv_treatment:20",
    "hiv_treatment:100",
    "bioreactor:200",
    "harvest:100",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", nargs="+", default=list(DEFAULT_PAIRS), help="ENV:H pairs")
    parser.add_argument("--out", default=None, help="also write the JSON here")
    args = parser.parse_args()
    wide = TrajOptSettings(random_restarts=48, adam_steps=500, lbfgs_steps=500)
    rows = []
    for pair in args.pairs:
        name, horizon = pair.split(":")
        env = awmkit.envs.make(name, int(horizon))
        shipped = reference(name, int(horizon))
        start = time.perf_counter()
        default = trajopt(env, key=jax.random.fold_in(jax.random.key(0), 1))
        t_default = time.perf_counter() - start
        start = time.perf_counter()
        big = trajopt(env, wide, key=jax.random.key(7))
        t_wide = time.perf_counter() - start
        rows.append(
            {
                "env": name,
                "horizon": int(horizon),
                "shipped_optimal": shipped.optimal_return,
                "default_settings_optimal": default.optimal_return,
                "wide_search_optimal": big.optimal_return,
                "wide_minus_shipped": big.optimal_return - shipped.optimal_return,
                "default_wall_s": round(t_default, 2),
                "wide_wall_s": round(t_wide, 2),
                "wide_restarts": wide.restarts,
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    report = {
        "benchmark": "trajopt_robustness",
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores (shared), {jax.default_backend()}",
        "jax": jax.__version__,
        "awmkit": awmkit.__version__,
        "rows": rows,
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()

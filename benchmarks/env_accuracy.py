"""Accuracy of each Myriad system's discretisation against a float64 SciPy reference.

Under the staircase controls of ``tests/test_envs_reference.py`` (ten stairs in time, the state kept
inside its bounds), reports per system the maximum absolute deviation and the maximum relative deviation
(absolute deviation divided by each state's largest magnitude) of awmkit's trajectory from the exact
solution (DOP853, rtol = atol = 1e-13), and the deviation of the return, for

- ``euler``: the default discretisation, one explicit Euler step per interval (the paper's);
- ``tsit5``: ``Integrator(solver=diffrax.Tsit5())``, one step per interval;
- ``dopri8x8``: ``Integrator(solver=diffrax.Dopri8(), substeps=8)``.

invasive_plant, a discrete map, is compared with a direct NumPy implementation of the specification's
map. Runs in float64. Prints JSON lines and writes ``benchmarks/results/env_accuracy.json``.

    python benchmarks/env_accuracy.py [--horizon 100]
"""

import argparse
import importlib.util
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # measure this tree's awmkit, not an installed copy

import diffrax  # noqa: E402
import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import equinox as eqx  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from awmkit.envs import Integrator, make, rollout  # noqa: E402


def _load_reference():
    path = os.path.join(ROOT, "tests", "test_envs_reference.py")
    spec = importlib.util.spec_from_file_location("_envs_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


INTEGRATORS = {
    "euler": None,
    "tsit5": Integrator(solver=diffrax.Tsit5()),
    "dopri8x8": Integrator(solver=diffrax.Dopri8(), substeps=8),
}


def _deviation(states, ref, ret, ref_ret) -> dict:
    abs_dev = np.abs(states - ref)
    scale = np.maximum(np.max(np.abs(ref), axis=0), 1e-300)
    return {
        "max_abs": float(np.max(abs_dev)),
        "max_rel": float(np.max(abs_dev / scale)),
        "return": float(ret),
        "return_abs_dev": float(abs(ret - ref_ret)),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--horizon", type=int, default=100, help="a positive multiple of 10")
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "env_accuracy.json"))
    args = parser.parse_args(argv)
    if args.horizon <= 0 or args.horizon % 10:
        parser.error("--horizon must be a positive multiple of 10 (the staircase has ten stairs)")
    ref_mod = _load_reference()
    horizon = args.horizon
    rows = []
    for name in ref_mod.ODE_SYSTEMS:
        actions = ref_mod.staircase_actions(name, horizon)
        ref = ref_mod.reference_states(name, horizon)
        ref_ret = ref_mod.reference_return(name, ref, actions)
        row = {"env": name, "horizon": horizon, "reference": "scipy DOP853 rtol=atol=1e-13"}
        for label, integrator in INTEGRATORS.items():
            env = make(name, horizon, integrator=integrator)
            traj = eqx.filter_jit(rollout)(env, jnp.asarray(actions))
            row[label] = _deviation(np.asarray(traj.states), ref, float(traj.total_return), ref_ret)
        row["reference_return"] = ref_ret
        print(json.dumps(row), flush=True)
        rows.append(row)
    rng = np.random.default_rng(0)
    actions = rng.uniform(-0.9, 0.9, size=(horizon, 5))
    ref, ref_ret = ref_mod.invasive_reference(actions, horizon)
    traj = rollout(make("invasive_plant", horizon), jnp.asarray(actions))
    row = {
        "env": "invasive_plant",
        "horizon": horizon,
        "reference": "numpy map of the specification (uniform random actions in [-0.9, 0.9])",
        "map": _deviation(np.asarray(traj.states), ref, float(traj.total_return), ref_ret),
        "reference_return": ref_ret,
    }
    print(json.dumps(row), flush=True)
    rows.append(row)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"dtype": "float64", "jax": jax.__version__, "results": rows}, f, indent=1)
    print(json.dumps({"written": args.out}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Accuracy and gradient cost of double-pendulum integrators against a converged solution.

For ``--actions`` uniform initial actions ``a_0`` (``jax.random.uniform(jax.random.key(0), ...)`` in the
precision measured) and each horizon, integrates the pendulum from ``theta1 = a_0 pi`` at rest and
compares the final state ``s_H`` with SciPy's DOP853 at ``rtol = atol = 1e-12`` in float64 (started from
the same, rounded, initial angle), for

- ``tsit5x1``: one Tsit5 step per ``dt`` (awmkit's default before this benchmark);
- ``dopri8x2``, ``dopri8x3``, ``dopri8x4`` (the default), ``dopri8x8``: Dopri8 with fixed sub-steps;
- ``tsit5x8``: Tsit5 with eight sub-steps;
- ``dopri5_pid``: an adaptive Dopri5 per control interval (``diffrax.PIDController``, rtol = atol =
  1e-10 in float64, 1e-6 in float32), close to the authors' per-step ``jax.experimental.ode.odeint``.

Per (precision, horizon, integrator) it reports the largest and median ``max_i |s_H,i - s*_H,i|``, how
many actions exceed 1e-4 and 1e-2, and the largest energy drift ``max_k |E(s_k) - E(s_0)|``. For
float32 it also reports the *rounding floor*: ``|s*_H(theta (1 + 2^-24)) - s*_H(theta)|``, the change of
the converged final state when the initial angle alone moves by one float32 rounding, which no float32
computation can beat.

Then, interleaved (A, B, A, B, ...), the median time of a jitted reverse-mode gradient of the return
with respect to ``a_0`` (batch 1 and a ``vmap`` of 50) at the largest horizon (100) in float64, and the mean true
gradient norm ``||d s_H / d a_0||`` at H = 50 per integrator (the Figure 4b quantity). Writes
``benchmarks/results/double_pendulum_accuracy.json``.

    python benchmarks/double_pendulum_accuracy.py            # H = 20, 50, 100; 50 actions; 7 repeats
    python benchmarks/double_pendulum_accuracy.py --quick    # H = 20, 10 actions, 2 repeats
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # measure this tree's awmkit, not an installed copy

import diffrax  # noqa: E402
import equinox as eqx  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from scipy.integrate import solve_ivp  # noqa: E402

from awmkit.envs import Integrator, make, rollout  # noqa: E402

G = 9.81
DT = 0.05
DEFAULT = "dopri8x4"


def integrators(x64: bool) -> dict[str, Integrator]:
    tol = 1e-10 if x64 else 1e-6
    return {
        "tsit5x1": Integrator(solver=diffrax.Tsit5()),
        "dopri8x2": Integrator(solver=diffrax.Dopri8(), substeps=2),
        "dopri8x3": Integrator(solver=diffrax.Dopri8(), substeps=3),
        "dopri8x4": Integrator(solver=diffrax.Dopri8(), substeps=4),
        "dopri8x8": Integrator(solver=diffrax.Dopri8(), substeps=8),
        "tsit5x8": Integrator(solver=diffrax.Tsit5(), substeps=8),
        "dopri5_pid": Integrator(
            solver=diffrax.Dopri5(), stepsize_controller=diffrax.PIDController(rtol=tol, atol=tol)
        ),
    }


def _vector_field(t, y):  # Lagrangian equations of motion written independently of awmkit's
    th1, th2, w1, w2 = y
    d = th1 - th2
    m = np.array([[2.0, np.cos(d)], [np.cos(d), 1.0]])
    rhs = np.array([-np.sin(d) * w2**2 - 2.0 * G * np.sin(th1), np.sin(d) * w1**2 - G * np.sin(th2)])
    return np.concatenate([[w1, w2], np.linalg.solve(m, rhs)])


def converged_final_state(theta1: float, horizon: int) -> np.ndarray:
    sol = solve_ivp(
        _vector_field, (0.0, DT * horizon), [theta1, 0.0, 0.0, 0.0], method="DOP853", rtol=1e-12, atol=1e-12
    )
    return sol.y[:, -1]


def initial_actions(n: int, x64: bool) -> jax.Array:
    dtype = jnp.float64 if x64 else jnp.float32
    return jax.random.uniform(jax.random.key(0), (n,), minval=-1.0, maxval=1.0, dtype=dtype)


def _first_action(a0, horizon):
    return jnp.zeros((horizon, 1), dtype=a0.dtype).at[0, 0].set(a0)


@eqx.filter_jit
def _states(env, a0):
    return jax.vmap(lambda a: rollout(env, _first_action(a, env.horizon)).states)(a0)


def accuracy(horizons, n_actions, x64: bool) -> list[dict]:
    rows = []
    with jax.enable_x64(x64):
        a0 = initial_actions(n_actions, x64)
        # The angle the environment starts from, rounded as it rounds it (a pi in its precision).
        theta = np.asarray(a0 * jnp.asarray(np.pi, a0.dtype), dtype=np.float64)
        for horizon in horizons:
            ref = np.stack([converged_final_state(t, horizon) for t in theta])
            floor = None
            if not x64:
                bumped = np.stack([converged_final_state(t * (1 + 2.0**-24), horizon) for t in theta])
                floor = np.max(np.abs(bumped - ref), axis=1)
            for name, integrator in integrators(x64).items():
                env = make("double_pendulum", horizon, integrator=integrator)
                states = _states(env, a0)
                energy = np.asarray(jax.vmap(jax.vmap(env.problem.energy))(states[:, 1:]), dtype=np.float64)
                placed = jnp.zeros((n_actions, 4), a0.dtype).at[:, 0].set(jnp.asarray(theta, a0.dtype))
                e0 = np.asarray(jax.vmap(env.problem.energy)(placed), dtype=np.float64)[:, None]
                err = np.max(np.abs(np.asarray(states[:, -1], dtype=np.float64) - ref), axis=1)
                row = {
                    "precision": "float64" if x64 else "float32",
                    "horizon": horizon,
                    "integrator": name,
                    "actions": n_actions,
                    "max_error": float(err.max()),
                    "median_error": float(np.median(err)),
                    "over_1e-4": int((err > 1e-4).sum()),
                    "over_1e-2": int((err > 1e-2).sum()),
                    "max_energy_drift": float(np.max(np.abs(energy - e0))),
                }
                if floor is not None:
                    row["rounding_floor_max"] = float(floor.max())
                    row["rounding_floor_median"] = float(np.median(floor))
                print(json.dumps(row), flush=True)
                rows.append(row)
    return rows


def _grad_fn(batch: int):
    def ret(env, a):
        return rollout(env, _first_action(a, env.horizon)).total_return

    if batch == 1:
        return eqx.filter_jit(lambda env, a: jax.grad(ret, argnums=1)(env, a[0]))
    return eqx.filter_jit(lambda env, a: jax.vmap(lambda ai: jax.grad(ret, argnums=1)(env, ai))(a))


def gradient_cost(repeats: int, horizons=(50, 100), batches=(1, 50)) -> list[dict]:
    rows = []
    with jax.enable_x64(True):
        for horizon in horizons:
            for batch in batches:
                a0 = initial_actions(batch, True)
                fn = _grad_fn(batch)
                envs = {
                    n: make("double_pendulum", horizon, integrator=i) for n, i in integrators(True).items()
                }
                compile_s = {}
                for name, env in envs.items():
                    start = time.perf_counter()
                    jax.block_until_ready(fn(env, a0))
                    compile_s[name] = time.perf_counter() - start
                times = {name: [] for name in envs}
                for _ in range(repeats):  # interleaved: load changes hit every contender alike
                    for name, env in envs.items():
                        start = time.perf_counter()
                        jax.block_until_ready(fn(env, a0))
                        times[name].append(time.perf_counter() - start)
                base = statistics.median(times[DEFAULT])
                for name in envs:
                    med = statistics.median(times[name])
                    row = {
                        "horizon": horizon,
                        "batch": batch,
                        "integrator": name,
                        "median_ms": round(1e3 * med, 3),
                        "ratio_to_default": round(med / base, 3),
                        "first_call_s": round(compile_s[name], 2),
                        "repeats": repeats,
                        "loadavg": os.getloadavg(),
                    }
                    print(json.dumps(row), flush=True)
                    rows.append(row)
    return rows


def gradient_norms(horizon: int, n_actions: int) -> dict:
    """Mean ||d s_H / d a_0|| over uniform a_0 (Figure 4b) per integrator, float64."""
    out = {}
    with jax.enable_x64(True):
        a0 = initial_actions(n_actions, True)
        for name, integrator in integrators(True).items():
            env = make("double_pendulum", horizon, integrator=integrator)
            jac = eqx.filter_jit(
                lambda env, a: jax.vmap(
                    jax.jacrev(lambda ai: rollout(env, _first_action(ai, env.horizon)).states[-1])
                )(a)
            )(env, a0)
            out[name] = float(np.mean(np.linalg.norm(np.asarray(jac), axis=-1)))
    converged = out["dopri8x8"]
    result = {
        "horizon": horizon,
        "actions": n_actions,
        "mean_norm": out,
        "change_vs_dopri8x8": {k: v / converged - 1.0 for k, v in out.items()},
    }
    print(json.dumps(result), flush=True)
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="H = 20, 10 actions, 2 repeats")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument(
        "--out", default=os.path.join(ROOT, "benchmarks", "results", "double_pendulum_accuracy.json")
    )
    args = parser.parse_args(argv)
    horizons, n_actions, repeats = ((20,), 10, 2) if args.quick else ((20, 50, 100), 50, args.repeats)
    result = {
        "benchmark": "double_pendulum_accuracy",
        "reference": "scipy solve_ivp DOP853 rtol=atol=1e-12, float64",
        "default": DEFAULT,
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "backend": jax.default_backend(),
        },
        "accuracy": accuracy(horizons, n_actions, True) + accuracy(horizons, n_actions, False),
        "gradient_norm": gradient_norms(horizons[min(1, len(horizons) - 1)], n_actions),
        "gradient_cost": gradient_cost(repeats, horizons=horizons[-1:], batches=(1, n_actions)),
    }
    if not args.quick:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

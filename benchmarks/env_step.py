"""Cost per environment step of the three ways to integrate a control interval.

For a full jitted H-step rollout (return only) and its gradient with respect to the actions, compares

- ``diffeqsolve``: ``Integrator(use_diffeqsolve=True)``, one ``diffrax.diffeqsolve`` per control interval;
- ``step``: the default fixed-step ``Integrator`` path, which calls the Diffrax solver's ``step``
  (Runge-Kutta stages in Diffrax's checkpointed loop);
- ``unrolled``: the fixed-step path with ``unroll_stages=True``, the stages of the solver's Butcher
  tableau written out (Tsit5 only: for Euler it is ``step``);
- ``plain``: a hand-written ``lax.scan`` on the same vector field with no Diffrax at all (explicit Euler,
  or the Tsit5 Butcher tableau written out as a loop over stages).

for Euler and Tsit5 (one step per control interval), on hiv_treatment and double_pendulum, H in {100, 500},
batch 1 and 64 (``jax.vmap`` over action sequences). Timings exclude compilation (reported separately),
call ``block_until_ready`` and take the median of ``--repeats`` runs. Prints one JSON line per
configuration and writes ``benchmarks/results/env_step_<backend>.json``.

    python benchmarks/env_step.py            # full grid
    python benchmarks/env_step.py --quick    # H = 100, batch 1, two repeats (a smoke run)
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time

# Run from a source checkout: measure this tree's awmkit, not an installed copy.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import diffrax  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from diffrax._solver.tsit5 import _tsit5_tableau  # noqa: E402

import awmkit  # noqa: E402
from awmkit.envs import Env, Integrator, make  # noqa: E402

SOLVERS = {"euler": diffrax.Euler, "tsit5": diffrax.Tsit5}


def _plain_stepper(solver_name: str):
    """A hand-written one-step integrator ``(f, t, x, u, h) -> x_next`` with no Diffrax involved."""
    if solver_name == "euler":
        return lambda f, t, x, u, h: x + h * f(t, x, u)
    tab = _tsit5_tableau
    a_lower = [np.asarray(row) for row in tab.a_lower]
    b_sol, c = np.asarray(tab.b_sol), np.asarray(tab.c)

    def tsit5(f, t, x, u, h):
        ks = [f(t, x, u)]
        for i, row in enumerate(a_lower):
            y = x + h * sum(float(aij) * kj for aij, kj in zip(row, ks))
            ks.append(f(t + float(c[i]) * h, y, u))
        return x + h * sum(float(bj) * kj for bj, kj in zip(b_sol, ks))

    return tsit5


def plain_return(env: Env, solver_name: str):
    """The return of an open-loop action sequence through a hand-written ``lax.scan``."""
    problem, dt = env.problem, env.dt
    stepper = _plain_stepper(solver_name)
    pendulum = isinstance(problem, awmkit.envs.DoublePendulum)

    def ret(actions):
        s0 = problem.initial_state()

        def body(x, inputs):
            k, a = inputs
            u = problem.control(jnp.clip(a, -1.0, 1.0))
            x_start = x
            if pendulum:
                placed = jnp.concatenate([u, jnp.zeros((3,), dtype=x.dtype)])
                x_start = jnp.where(k == 0, placed, x)
            t = k.astype(x.dtype) * dt
            x_next = problem.clip_state(stepper(problem.vector_field, t, x_start, u, dt))
            return x_next, env.reward(x, a, x_next, k)

        _, rewards = jax.lax.scan(body, s0, (jnp.arange(env.horizon), actions))
        return jnp.sum(rewards)

    return ret


def env_return(env: Env):
    return lambda actions: awmkit.envs.rollout(env, actions).total_return


def build(env_name: str, solver_name: str, path: str, horizon: int):
    solver = SOLVERS[solver_name]()
    if path == "plain":
        env = make(env_name, horizon, integrator=Integrator(solver=solver))
        return env, plain_return(env, solver_name)
    integrator = Integrator(
        solver=solver, use_diffeqsolve=path == "diffeqsolve", unroll_stages=path == "unrolled"
    )
    env = make(env_name, horizon, integrator=integrator)
    return env, env_return(env)


def time_fn(fn, arg, repeats: int) -> tuple[float, float]:
    start = time.perf_counter()
    jax.block_until_ready(fn(arg))
    compile_s = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(arg))
        times.append(time.perf_counter() - start)
    return compile_s, statistics.median(times)


def machine_info() -> dict:
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        "jax": jax.__version__,
        "diffrax": diffrax.__version__ if hasattr(diffrax, "__version__") else "unknown",
        "backend": jax.default_backend(),
        "awmkit_path": os.path.dirname(awmkit.__file__),
        "devices": [str(d) for d in jax.devices()],
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="H = 100, batch 1, 2 repeats")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--envs", nargs="+", default=["hiv_treatment", "double_pendulum"])
    parser.add_argument("--out", default=None, help="output JSON (default benchmarks/results/...)")
    args = parser.parse_args(argv)
    horizons, batches, repeats = ([100], [1], 2) if args.quick else ([100, 500], [1, 64], args.repeats)
    if repeats < 1:
        parser.error("--repeats must be positive")

    results = []
    key = jax.random.key(0)
    for env_name in args.envs:
        for solver_name in SOLVERS:
            for horizon in horizons:
                for batch in batches:
                    paths = ("diffeqsolve", "step", "unrolled", "plain")
                    for path in paths if solver_name != "euler" else ("diffeqsolve", "step", "plain"):
                        env, ret = build(env_name, solver_name, path, horizon)
                        actions = jax.random.uniform(
                            key, (batch, horizon, env.action_dim), minval=-0.9, maxval=0.9
                        )
                        forward = jax.jit(jax.vmap(ret))
                        gradient = jax.jit(jax.vmap(jax.grad(ret)))
                        for mode, fn in (("rollout", forward), ("grad", gradient)):
                            compile_s, median_s = time_fn(fn, actions, repeats)
                            row = {
                                "env": env_name,
                                "solver": solver_name,
                                "path": path,
                                "mode": mode,
                                "horizon": horizon,
                                "batch": batch,
                                "median_s": median_s,
                                "us_per_env_step": 1e6 * median_s / (horizon * batch),
                                "first_call_s": compile_s,
                                "repeats": repeats,
                            }
                            print(json.dumps(row), flush=True)
                            results.append(row)
    out = args.out
    if out is None:
        name = f"env_step_{jax.default_backend()}{'_quick' if args.quick else ''}.json"
        out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", name)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump({"machine": machine_info(), "results": results}, f, indent=1)
    print(json.dumps({"written": out}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

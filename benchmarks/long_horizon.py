"""Long horizons: the state-space AWM (``awm-ssm``) beside the transformer AWM (``awm-transformer``)
at H = 100, 500, 1 000 and 2 000.

For each horizon and model, on the cancer-treatment system with the paper's sizes (Appendix C.1 for the
transformer; two SSM layers of 64 complex modes, embedding 72, for the SSM):

- **policy gradient**: one ``jit(grad)`` of the batch mean of ``J^W`` over 16 imagined rollouts of a
  ``TanhGaussianPolicy`` (the BPO policy update's gradient: generation without gradient, then one parallel
  pass over the regenerated actions, for both models);
- **model update**: one Adam step on the mean teacher-forced loss of 64 whole episodes (the BPO model
  update);
- **collection**: one episode of the stochastic policy in the environment.

Each is compiled once; the script reports the compile time, XLA's memory analysis of the compiled program
(arguments + outputs + temporaries: ``peak_bytes``) and the median of ``--repeats`` timed runs after a
warm-up. The runs are **interleaved** (SSM, transformer, SSM, transformer, ...), so that the load of a shared
machine hits both alike, and ``os.getloadavg()`` is recorded before and after. A program whose peak exceeds
``--max-gib`` is compiled but not run (its memory is still reported).

**BPO environment steps per second** on the authors' schedule (one model update every
``dynamics_update_every = 2`` environment steps, one policy update every ``policy_update_every = 16``,
the ``BPOConfig`` defaults) are *computed* from the measured per-update costs,

    steps/s = 1 / (t_model / 2 + t_policy / 16 + t_collect / H),

because one BPO iteration at H = 2 000 is 1 000 model updates and 125 policy updates, far beyond a CPU
benchmark's budget. At H = 100 the script also runs the real BPO program (``awmkit.bpo``'s compiled chunk,
one seed, one iteration per chunk) and reports its measured steps/s beside the computed one
(``direct_check``), which validates the formula.

Run (CPU, results in ``benchmarks/results/long_horizon_cpu.json``)::

    nice -n 10 python benchmarks/long_horizon.py
    python benchmarks/long_horizon.py --quick        # H in {100, 500}, 2 repeats

GPU run (a CUDA build of JAX, ``pip install -e .[cuda]``; the transformer fits at H = 2 000 there)::

    python benchmarks/long_horizon.py --repeats 10 --max-gib 100 \\
        --out benchmarks/results/long_horizon_gpu.json
"""

import argparse
import json
import os
import pathlib
import platform
import statistics
import sys
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import optax

import awmkit
from awmkit.bpo import BPOConfig
from awmkit.policies import TanhGaussianPolicy

MODELS = ("awm-ssm", "awm-transformer")
KINDS = ("policy_gradient", "model_update", "collect")
ENV = "cancer_treatment"


def _machine() -> dict:
    device = jax.devices()[0]
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        "jax": jax.__version__,
        "backend": jax.default_backend(),
        "device": getattr(device, "device_kind", str(device)),
    }


def _peak(compiled) -> int | None:
    memory = compiled.memory_analysis()
    if memory is None:
        return None
    return int(
        memory.argument_size_in_bytes
        + memory.output_size_in_bytes
        + memory.temp_size_in_bytes
        - getattr(memory, "alias_size_in_bytes", 0)
    )


def _programs(model_name: str, horizon: int, key) -> dict:
    """The three compiled programs of one (model, H) and their arguments."""
    env = awmkit.envs.make(ENV, horizon=horizon)
    model_key, policy_key, data_key, run_key = jax.random.split(key, 4)
    model = awmkit.models.make(model_name, env, key=model_key)
    policy = TanhGaussianPolicy(env.state_dim, env.action_dim, horizon, key=policy_key)
    # 64 random-action episodes: the model-update batch, and the normalisation as in training.
    actions = jax.random.uniform(data_key, (64, horizon, env.action_dim), minval=-1.0, maxval=1.0)
    data = jax.jit(jax.vmap(lambda a: awmkit.envs.rollout(env, a)))(actions)
    model = awmkit.models.fit_normaliser(model, data)
    s0s = data.states[:16, 0]
    keys = jax.random.split(run_key, 16)

    def policy_loss(policy, model, s0s, keys):
        def one(s0, k):
            return model.policy_objective(policy, s0, env.reward, horizon, k)[0]

        return -jnp.mean(jax.vmap(one)(s0s, keys))

    params, static = eqx.partition(model, awmkit.models.trainable_filter(model))
    optimiser = optax.adam(1e-3)
    opt_state = optimiser.init(params)

    def model_update(params, opt_state, batch):
        def loss(p):
            return jnp.mean(jax.vmap(eqx.combine(p, static).loss)(batch))

        value, grads = jax.value_and_grad(loss)(params)
        updates, opt_state = optimiser.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, value

    def collect(policy, key):
        return awmkit.envs.rollout(env, policy, key).total_return

    return {
        "policy_gradient": (eqx.filter_jit(eqx.filter_grad(policy_loss)), (policy, model, s0s, keys)),
        "model_update": (eqx.filter_jit(model_update), (params, opt_state, data)),
        "collect": (eqx.filter_jit(collect), (policy, run_key)),
    }


def _run(fn, args):
    return jax.block_until_ready(eqx.filter(fn(*args), eqx.is_array))


def measure_horizon(horizon: int, repeats: int, max_bytes: float, key) -> list[dict]:
    rows, runnable = {}, []
    for name in MODELS:
        for kind, (fn, args) in _programs(name, horizon, key).items():
            start = time.perf_counter()
            compiled = fn.lower(*args).compile()
            compile_s = time.perf_counter() - start
            peak = _peak(compiled.compiled)
            row = {"model": name, "horizon": horizon, "kind": kind, "compile_s": compile_s, "peak_bytes": peak}
            if peak is not None and peak > max_bytes:
                row["skipped"] = f"peak {peak / 2**30:.1f} GiB > --max-gib {max_bytes / 2**30:.1f}"
            else:
                _run(fn, args)  # warm-up
                row["times_s"] = []
                runnable.append((row, fn, args))
            rows[(name, kind)] = row
            print(json.dumps(row), file=sys.stderr, flush=True)
    # Interleaved: every program once per round, so that a change of load hits all of them alike.
    for _ in range(repeats):
        for row, fn, args in runnable:
            start = time.perf_counter()
            _run(fn, args)
            row["times_s"].append(time.perf_counter() - start)
    for row, _, _ in runnable:
        row["time_s"] = statistics.median(row["times_s"])
    return list(rows.values())


def bpo_rate(rows: list[dict], model: str, horizon: int, config: BPOConfig) -> float | None:
    """Environment steps per second per seed from the per-update costs (the module docstring)."""
    times = {r["kind"]: r.get("time_s") for r in rows if r["model"] == model and r["horizon"] == horizon}
    if any(times.get(k) is None for k in KINDS):
        return None
    per_step = (
        times["model_update"] / config.dynamics_update_every
        + times["policy_gradient"] / config.policy_update_every
        + times["collect"] / horizon
    )
    return 1.0 / per_step


def direct_bpo_rate(model_name: str, horizon: int, timed: int) -> dict:
    """The real BPO program (one seed, one iteration per chunk): measured steps/s."""
    from awmkit.bpo import build_model
    from awmkit.bpo._train import Program, chunk_program, init_program

    env = awmkit.envs.make(ENV, horizon=horizon)
    config = BPOConfig(
        steps=horizon * (2 + timed), warmup_steps=horizon, chunk_size=1, eval_interval=horizon * (2 + timed)
    )
    keys = jax.random.split(jax.random.key(0), 1)
    models = eqx.filter_vmap(lambda k: build_model(model_name, env, key=k))(keys)
    policies = eqx.filter_vmap(lambda k: TanhGaussianPolicy(env.state_dim, env.action_dim, horizon, key=k))(keys)
    program = Program(env, config, learn_model=True)
    state, _ = init_program(program, models, policies, keys)
    state, _ = chunk_program(program, state, jnp.asarray(0, jnp.int32))  # compiles
    jax.block_until_ready(eqx.filter(state, eqx.is_array))
    times = []
    for c in range(1, 1 + timed):
        start = time.perf_counter()
        state, _ = chunk_program(program, state, jnp.asarray(c, jnp.int32))
        jax.block_until_ready(eqx.filter(state, eqx.is_array))
        times.append(time.perf_counter() - start)
    updates = int(state.dynamics_updates[0]), int(state.policy_updates[0])
    return {
        "model": model_name,
        "horizon": horizon,
        "seconds_per_iteration": times,
        "env_steps_per_s": horizon / statistics.median(times),
        "updates_after_run": {"dynamics": updates[0], "policy": updates[1]},
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="H in {100, 500} and 2 repeats")
    parser.add_argument("--horizons", type=int, nargs="+", default=None)
    parser.add_argument(
        "--repeats", type=int, default=None, help="timed runs per program (default 5, 3 at H >= 1000)"
    )
    parser.add_argument("--max-gib", type=float, default=3.5, help="skip running programs with a larger peak")
    parser.add_argument("--no-direct", action="store_true", help="skip the direct BPO check at H = 100")
    parser.add_argument("--out", type=pathlib.Path, default=None)
    args = parser.parse_args(argv)
    horizons = args.horizons or ([100, 500] if args.quick else [100, 500, 1000, 2000])
    def repeats_at(horizon):
        return args.repeats or (2 if args.quick else 5 if horizon < 1000 else 3)

    config = BPOConfig()
    load_before = os.getloadavg()
    start = time.perf_counter()
    rows = []
    for horizon in horizons:
        rows += measure_horizon(horizon, repeats_at(horizon), args.max_gib * 2**30, jax.random.key(0))
    table = []
    for horizon in horizons:
        entry = {"horizon": horizon}
        for model in MODELS:
            pick = {r["kind"]: r for r in rows if r["model"] == model and r["horizon"] == horizon}
            entry[model] = {
                "policy_gradient_s": pick["policy_gradient"].get("time_s"),
                "policy_gradient_peak_mib": _mib(pick["policy_gradient"]["peak_bytes"]),
                "model_update_s": pick["model_update"].get("time_s"),
                "model_update_peak_mib": _mib(pick["model_update"]["peak_bytes"]),
                "bpo_env_steps_per_s": bpo_rate(rows, model, horizon, config),
            }
        ssm, tf = entry["awm-ssm"], entry["awm-transformer"]
        for field in ("policy_gradient_s", "model_update_s"):
            if ssm[field] and tf[field]:
                entry[f"transformer_over_ssm_{field}"] = tf[field] / ssm[field]
        table.append(entry)
    direct = []
    if not args.no_direct and 100 in horizons:
        for model in MODELS:
            row = direct_bpo_rate(model, 100, timed=3)
            row["computed_env_steps_per_s"] = bpo_rate(rows, model, 100, config)
            direct.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    report = {
        "benchmark": "long_horizon",
        "machine": _machine(),
        "config": {
            "env": ENV,
            "policy_batch": 16,
            "model_batch": 64,
            "repeats": {str(h): repeats_at(h) for h in horizons},
            "horizons": horizons,
            "dynamics_update_every": config.dynamics_update_every,
            "policy_update_every": config.policy_update_every,
            "max_gib": args.max_gib,
            "bpo_rate": "computed from per-update costs: 1 / (t_model / 2 + t_policy / 16 + t_collect / H)",
        },
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "wall_s": time.perf_counter() - start,
        # One row per horizon (the docs' Benchmarks page renders "results"), then every measurement.
        "results": table,
        "direct_check": direct,
        "measurements": rows,
    }
    text = json.dumps(report, indent=2)
    print(text)
    out = args.out or pathlib.Path(__file__).parent / "results" / f"long_horizon_{jax.default_backend()}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")
    return 0


def _mib(n):
    return None if n is None else round(n / 2**20, 1)


if __name__ == "__main__":
    sys.exit(main())

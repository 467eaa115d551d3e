"""BPO throughput: environment steps per second, every model and policy update included.

For each world model and horizon, 10 seeds are trained together (one vmapped program) with the
paper's hyper-parameters (Table 1: replay ratios 2 / 16, batch sizes 64 / 16). The first chunk is
timed with its compilation, the following chunks without; throughput is the steady-state rate

    env steps per second per seed = chunk_iterations * H / seconds per chunk

(the seeds run in parallel, so the whole program collects ``seeds`` times that), and the
extrapolated wall time of a paper-budget run (200 000 environment steps, 10 seeds) is
``compile + 200 000 / rate``.

Usage (JSON on stdout, also written to ``benchmarks/results/bpo_throughput_<platform>.json``)::

    python benchmarks/bpo_throughput.py --quick          # H = 100, three models, one timed chunk
    python benchmarks/bpo_throughput.py                  # every model, H = 100 and 500

On a GPU (install ``awmkit[cuda]``; JAX then picks the GPU by itself)::

    python benchmarks/bpo_throughput.py --env cancer_treatment --seeds 10

The results file is named after the platform (``bpo_throughput_gpu.json``).
"""

import argparse
import json
import os
import pathlib
import platform
import sys
import time

import equinox as eqx
import jax
import jax.numpy as jnp

import awmkit
from awmkit.bpo import BPOConfig, build_model
from awmkit.bpo._train import Program, chunk_program, init_program
from awmkit.models import SimulatorModel
from awmkit.policies import TanhGaussianPolicy

ALL_MODELS = ("simulator", "markovian", "awm-transformer", "awm-rnn", "awm-lstm", "hwm-transformer")
QUICK_MODELS = ("simulator", "markovian", "awm-transformer")
PAPER_STEPS = 200_000


def _block(tree):
    for leaf in jax.tree.leaves(eqx.filter(tree, eqx.is_array)):
        leaf.block_until_ready()


def measure(env_name: str, model_name: str, horizon: int, seeds: int, chunk: int, timed_chunks: int) -> dict:
    env = awmkit.envs.make(env_name, horizon=horizon)
    warmup = horizon  # one warm-up episode: the measurement is about the training iterations
    config = BPOConfig(
        steps=warmup + chunk * (1 + timed_chunks) * horizon,
        warmup_steps=warmup,
        chunk_size=chunk,
        eval_interval=chunk * horizon,
    )
    keys = jax.random.split(jax.random.key(0), seeds)
    models = eqx.filter_vmap(lambda k: build_model(model_name, env, key=k))(keys)
    policies = eqx.filter_vmap(lambda k: TanhGaussianPolicy(env.state_dim, env.action_dim, horizon, key=k))(
        keys
    )
    program = Program(
        env,
        config,
        learn_model=not isinstance(
            eqx.filter_eval_shape(build_model, model_name, env, key=keys[0]), SimulatorModel
        ),
    )
    start = time.perf_counter()
    state, _ = init_program(program, models, policies, keys)
    _block(state)
    init_s = time.perf_counter() - start
    start = time.perf_counter()
    state, _ = chunk_program(program, state, jnp.asarray(0, jnp.int32))
    _block(state)
    first_s = time.perf_counter() - start
    times = []
    for c in range(1, 1 + timed_chunks):
        start = time.perf_counter()
        state, _ = chunk_program(program, state, jnp.asarray(c, jnp.int32))
        _block(state)
        times.append(time.perf_counter() - start)
    per_chunk = min(times)
    rate = chunk * horizon / per_chunk
    compile_s = init_s + max(first_s - per_chunk, 0.0)
    return {
        "env": env_name,
        "model": model_name,
        "horizon": horizon,
        "seeds": seeds,
        "iterations_per_chunk": chunk,
        "seconds_per_chunk": times,
        "compile_s": compile_s,
        "env_steps_per_s_per_seed": rate,
        "env_steps_per_s_total": rate * seeds,
        "seconds_per_iteration": per_chunk / chunk,
        "paper_budget_s": compile_s + PAPER_STEPS / rate,
        "paper_budget_hours": (compile_s + PAPER_STEPS / rate) / 3600,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="H = 100, three models, small chunks")
    parser.add_argument("--env", default="cancer_treatment")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--models", nargs="*", default=None, help=f"subset of {', '.join(ALL_MODELS)}")
    parser.add_argument("--horizons", nargs="*", type=int, default=None)
    parser.add_argument("--out", type=pathlib.Path, default=None, help="results file")
    args = parser.parse_args(argv)
    models = args.models or (QUICK_MODELS if args.quick else ALL_MODELS)
    horizons = args.horizons or ((100,) if args.quick else (100, 500))
    chunk, timed = (1, 1) if args.quick else (2, 2)
    device = jax.devices()[0]
    results = []
    for horizon in horizons:
        for model in models:
            row = measure(args.env, model, horizon, args.seeds, chunk, timed)
            print(json.dumps(row), file=sys.stderr, flush=True)
            results.append(row)
    report = {
        "benchmark": "bpo_throughput",
        "awmkit_version": awmkit.__version__,
        "jax_version": jax.__version__,
        "device": str(device),
        "platform": device.platform,
        "machine": {
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "system": platform.platform(),
        },
        "quick": args.quick,
        "config": "Table 1: replay ratios 2/16, batch sizes 64/16, policy gradient clip 100",
        "results": results,
    }
    text = json.dumps(report, indent=2)
    print(text)
    out = args.out or pathlib.Path(__file__).parent / "results" / f"bpo_throughput_{device.platform}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""BPO cost on the authors' schedule, and the extrapolated wall time of a paper-budget run.

On the authors' schedule (a model update every 2 and a policy update every 16 environment steps after
the 1 500 warm-up steps) a run of 200 000 steps takes 99 249 model and 12 406 policy updates at every
horizon, plus ``(200 000 - 1 500) / H`` collected episodes. So the wall time of a paper-budget run of
10 vmapped seeds is

    T = compile + episodes(H) * c + 99 249 * t_model + 12 406 * t_policy,

with ``c`` the cost of collecting one episode (and the loop around it), ``t_model`` one model update
(64 episodes, teacher-forced) and ``t_policy`` one policy update (16 imagined rollouts of ``H`` steps,
backpropagated), each for all seeds at once. This benchmark measures the three without running the
whole budget: one compiled program per (model, H) whose cadences (a model update every 2H and a policy
update every 3H steps) give iterations with (0, 0), (1, 0), (0, 1) and (1, 1) updates; each timed
iteration is one chunk, the chunks of all programs run interleaved (A, B, C, A, B, C, ...), and the
medians per kind solve for ``c``, ``t_model``, ``t_policy`` (the (1, 1) iterations check the sum).

The times are wall-clock seconds of this process: on a loaded machine (the recorded CPU results ran at
load average 23-32 on 2 cores, under ``nice``) they and the extrapolation are upper bounds for the
machine, while the shares of collection, model and policy updates remain informative.

It also times the two ways of looping the variable number of updates after an episode
(``Program(update_loop="while" | "masked")``) on the default schedule, interleaved.

Usage (JSON on stdout, also written to ``benchmarks/results/bpo_throughput_<platform>.json``)::

    nice -n 10 python benchmarks/bpo_throughput.py                 # 3 models, H = 20, 100, 500
    python benchmarks/bpo_throughput.py --models awm-lstm --horizons 100 --seeds 10

On a GPU (install ``awmkit[cuda]``) the same command measures the GPU (``bpo_throughput_gpu.json``).
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

import awmkit
from awmkit.bpo import BPOConfig, build_model
from awmkit.bpo._train import Program, chunk_program, init_program
from awmkit.models import SimulatorModel
from awmkit.policies import TanhGaussianPolicy

MODELS = ("simulator", "markovian", "awm-transformer")
HORIZONS = (20, 100, 500)
PAPER = BPOConfig()  # 200 000 steps, warm-up 1 500, cadences 2 / 16
PAPER_MODEL_UPDATES = PAPER.expected_dynamics_updates()  # 99 249
PAPER_POLICY_UPDATES = PAPER.expected_policy_updates()  # 12 406


def _block(tree):
    for leaf in jax.tree.leaves(eqx.filter(tree, eqx.is_array)):
        leaf.block_until_ready()


class Runner:
    """One compiled BPO program, stepped one iteration (chunk) at a time."""

    def __init__(self, env_name, model_name, horizon, seeds, config, update_loop="while"):
        self.env = awmkit.envs.make(env_name, horizon=horizon)
        self.config = config
        keys = jax.random.split(jax.random.key(0), seeds)
        models = eqx.filter_vmap(lambda k: build_model(model_name, self.env, key=k))(keys)
        policies = eqx.filter_vmap(
            lambda k: TanhGaussianPolicy(self.env.state_dim, self.env.action_dim, horizon, key=k)
        )(keys)
        learn = not isinstance(eqx.filter_eval_shape(build_model, model_name, self.env, key=keys[0]), SimulatorModel)
        self.program = Program(self.env, config, learn_model=learn, update_loop=update_loop)
        self.learn = learn
        start = time.perf_counter()
        self.state, _ = init_program(self.program, models, policies, keys)
        _block(self.state)
        self.chunk = 0
        self.step()  # compiles
        self.compile_s = time.perf_counter() - start

    def step(self) -> float:
        start = time.perf_counter()
        self.state, _ = chunk_program(self.program, self.state, jnp.asarray(self.chunk, jnp.int32))
        _block(self.state)
        self.chunk += 1
        return time.perf_counter() - start


def _cadence_config(horizon: int, timed: int) -> BPOConfig:
    return BPOConfig(
        steps=horizon * (timed + 3),  # one warm-up, one compiling and one final (evaluating) iteration
        warmup_steps=horizon,
        dynamics_update_every=2 * horizon,
        policy_update_every=3 * horizon,
        chunk_size=1,
        eval_interval=10**9,
    )


def measure_costs(env_name, models, horizon, seeds, timed) -> list[dict]:
    """The programs of every model at one horizon, timed interleaved."""
    runners = {}
    for model in models:
        runners[(model, horizon)] = Runner(env_name, model, horizon, seeds, _cadence_config(horizon, timed))
        print(f"compiled {model} H={horizon}", file=sys.stderr, flush=True)
    times = {key: [] for key in runners}
    for _ in range(timed):  # interleaved: every program's next iteration, then again
        for key, runner in runners.items():
            times[key].append(runner.step())
    rows = []
    for (model, horizon), runner in runners.items():
        config = runner.config
        n_model = config.updates_per_iteration(config.dynamics_update_every, horizon) if runner.learn else None
        n_policy = config.updates_per_iteration(config.policy_update_every, horizon)
        by_kind: dict[tuple[int, int], list[float]] = {}
        for j, seconds in enumerate(times[(model, horizon)]):
            i = j + 1  # iteration 0 compiled
            kind = (n_model[i] if n_model else 0, n_policy[i])
            by_kind.setdefault(kind, []).append(seconds)
        med = {k: statistics.median(v) for k, v in by_kind.items()}
        c = med[(0, 0)]
        t_model = med[(1, 0)] - c if (1, 0) in med else 0.0
        t_policy = med[(0, 1)] - c
        episodes = PAPER.iterations(horizon)
        model_updates = PAPER_MODEL_UPDATES if runner.learn else 0
        total = runner.compile_s + episodes * c + model_updates * t_model + PAPER_POLICY_UPDATES * t_policy
        rows.append(
            {
                "env": env_name,
                "model": model,
                "horizon": horizon,
                "seeds": seeds,
                "seconds_by_updates": {f"{m} model, {p} policy": v for (m, p), v in sorted(by_kind.items())},
                "repeats": {f"{m}/{p}": len(v) for (m, p), v in sorted(by_kind.items())},
                "collect_s": c,
                "model_update_s": t_model,
                "policy_update_s": t_policy,
                "check_both_s": {"measured": med.get((1, 1)), "predicted": c + t_model + t_policy},
                "compile_s": runner.compile_s,
                "paper_budget": {
                    "episodes": episodes,
                    "model_updates": model_updates,
                    "policy_updates": PAPER_POLICY_UPDATES,
                    "seconds": total,
                    "hours": total / 3600,
                    "share": {
                        "collect": episodes * c / total,
                        "model": model_updates * t_model / total,
                        "policy": PAPER_POLICY_UPDATES * t_policy / total,
                    },
                },
            }
        )
    return rows


def measure_loops(env_name, model, horizon, seeds, repeats) -> dict:
    """The default schedule, ``while`` against ``masked``, interleaved."""
    config = BPOConfig(steps=1500 + horizon * (repeats + 2), chunk_size=1, eval_interval=10**9)
    runners = {loop: Runner(env_name, model, horizon, seeds, config, update_loop=loop) for loop in ("while", "masked")}
    times = {loop: [] for loop in runners}
    for _ in range(repeats):
        for loop, runner in runners.items():
            times[loop].append(runner.step())
    return {
        "env": env_name,
        "model": model,
        "horizon": horizon,
        "seeds": seeds,
        "updates_per_iteration": {
            "model": config.updates_per_iteration(2, horizon)[1 : 1 + repeats],
            "policy": config.updates_per_iteration(16, horizon)[1 : 1 + repeats],
            "masked_scan_length": list(runners["masked"].program.max_updates),
        },
        "seconds": times,
        "median_s": {loop: statistics.median(v) for loop, v in times.items()},
        "masked_over_while": statistics.median(times["masked"]) / statistics.median(times["while"]),
        "compile_s": {loop: r.compile_s for loop, r in runners.items()},
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env", default="cancer_treatment")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--models", nargs="*", default=list(MODELS))
    parser.add_argument("--horizons", nargs="*", type=int, default=list(HORIZONS))
    parser.add_argument("--timed", type=int, default=6, help="timed iterations per program")
    parser.add_argument("--loop-model", default="markovian", help="model of the while/masked comparison")
    parser.add_argument("--loop-repeats", type=int, default=5)
    parser.add_argument("--loops-from", type=pathlib.Path, default=None,
                        help="reuse the while/masked measurement printed by an earlier run (a JSON line)")  # fmt: skip
    parser.add_argument("--out", type=pathlib.Path, default=None, help="results file")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    if args.loops_from is not None:
        loops = {**json.loads(args.loops_from.read_text()), "measured_by": "an earlier run (--loops-from)"}
    else:
        loops = measure_loops(args.env, args.loop_model, 100, args.seeds, args.loop_repeats)
    print(json.dumps(loops), file=sys.stderr, flush=True)
    rows = []
    for horizon in args.horizons:  # one horizon at a time; the file is rewritten after each
        rows += measure_costs(args.env, args.models, horizon, args.seeds, args.timed)
        _write(args, load_before, loops, rows, complete=horizon == args.horizons[-1])
    return 0


def _write(args, load_before, loops, rows, complete) -> None:
    device = jax.devices()[0]
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
        "load_average": {"before": load_before, "after": os.getloadavg()},
        "config": "the authors' schedule: a model update every 2 and a policy update every 16 env steps "
        "after 1 500 warm-up steps; batch sizes 64 / 16; default models",
        "paper_budget": {"steps": PAPER.steps, "seeds": args.seeds, "model_updates": PAPER_MODEL_UPDATES,
                         "policy_updates": PAPER_POLICY_UPDATES},  # fmt: skip
        "complete": complete,
        "timed_iterations_per_program": args.timed,
        "statistic": "median per kind of iteration; programs interleaved",
        "update_loop": loops,
        "results": rows,
    }
    text = json.dumps(report, indent=2)
    print(text)
    out = args.out or pathlib.Path(__file__).parent / "results" / f"bpo_throughput_{device.platform}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")


if __name__ == "__main__":
    sys.exit(main())

"""How many seeds should share one vmapped program? Time per seed of BPO's two updates for 10 seeds
in groups of 1, 2, 5 and 10.

For each group size ``g`` the seeds are laid out as a BPO run lays them out (``g`` seeds vmapped, the
``10 / g`` groups one after another in a ``lax.scan`` inside one jitted program,
``awmkit.bpo.seed_layout``), and one model update (64 episodes, teacher-forced) and one policy update
(16 imagined rollouts) of every seed are timed, interleaved over group sizes (g = 1, 2, 5, 10, then
again), on the HIV-treatment system with the transformer AWM. The state is a real run's initial state
(after the warm-up). This is what sets ``awmkit.bpo._devices.DEFAULT_SEED_GROUP_SIZE``.

Run (CPU, ~5 minutes)::

    python benchmarks/seed_groups.py --out benchmarks/results/seed_groups_cpu.json
"""

import argparse
import json
import os
import statistics
import sys
import time

import equinox as eqx
import jax

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from policy_gradient import _machine, write_report  # noqa: E402

import awmkit  # noqa: E402
from awmkit.bpo import BPOConfig  # noqa: E402
from awmkit.bpo._estimate import _pieces  # noqa: E402
from awmkit.bpo._train import Program, init_program  # noqa: E402
from awmkit.policies import TanhGaussianPolicy  # noqa: E402


def _groups(fn, tree, group: int):
    """``vmap(fn)`` over the leading (seed) axis of `tree`, `group` seeds at a time in a scan, as
    the run's chunk lays its seeds out (``awmkit.bpo._devices._grouped``)."""
    arrays, static = eqx.partition(tree, eqx.is_array)
    n = jax.tree.leaves(arrays)[0].shape[0]
    # Only arrays leave the vmap and the scan (the pieces' outputs only keep XLA from dropping work).
    one = eqx.filter_vmap(lambda a: eqx.filter(fn(eqx.combine(a, static)), eqx.is_array))
    if group >= n:
        return one(arrays)
    grouped = jax.tree.map(lambda x: x.reshape(n // group, group, *x.shape[1:]), arrays)
    _, out = jax.lax.scan(lambda c, a: (c, one(a)), None, grouped)
    return jax.tree.map(lambda x: x.reshape(n, *x.shape[2:]), out)


def initial_state(env_name: str, model: str, horizon: int, seeds: int):
    env = awmkit.envs.make(env_name, horizon=horizon)
    config = BPOConfig()
    keys = jax.random.split(jax.random.key(0), 3 * seeds).reshape(3, seeds)
    models = eqx.filter_vmap(lambda k: awmkit.models.make(model, env, key=k))(keys[0])
    policies = eqx.filter_vmap(lambda k: TanhGaussianPolicy(env.state_dim, env.action_dim, horizon, key=k))(
        keys[1]
    )
    program = Program(env, config, learn_model=model != "simulator")
    state, _ = init_program(program, models, policies, keys[2])
    return program, state


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="hiv_treatment")
    parser.add_argument("--model", default="awm-transformer")
    parser.add_argument("--horizon", type=int, default=100)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--groups", type=int, nargs="+", default=[1, 2, 5, 10])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    program, state = initial_state(args.env, args.model, args.horizon, args.seeds)
    # One repetition of each piece (``piece(state, j)`` with ``j = 0``).
    pieces = {
        k: (lambda s, v=v: v(s, 0))
        for k, v in _pieces(program).items()
        if k in ("model_updates", "policy_updates")
    }
    fns, compile_s = {}, {}
    for g in args.groups:
        for name, piece in pieces.items():
            fn = eqx.filter_jit(lambda program, state, piece=piece, g=g: _groups(piece, state, g))
            start = time.perf_counter()
            jax.block_until_ready(fn(program, state))
            fns[(g, name)] = fn
            compile_s[(g, name)] = time.perf_counter() - start
    times = {k: [] for k in fns}
    for _ in range(args.repeats):
        for k, fn in fns.items():
            start = time.perf_counter()
            jax.block_until_ready(fn(program, state))
            times[k].append(time.perf_counter() - start)
    rows = []
    for (g, name), ts in times.items():
        rows.append({
            "group_size": g, "work": name, "seeds": args.seeds, "time_s": statistics.median(ts),
            "per_seed_s": statistics.median(ts) / args.seeds, "min_s": min(ts), "times_s": ts,
            "first_call_s": round(compile_s[(g, name)], 3),
        })  # fmt: skip
        print(json.dumps({k: v for k, v in rows[-1].items() if k != "times_s"}), file=sys.stderr, flush=True)
    both = {g: sum(r["time_s"] for r in rows if r["group_size"] == g) for g in args.groups}
    best = min(both, key=both.get)
    report = {
        "benchmark": "seed groups: time per seed of one model update and one policy update",
        "machine": {**_machine(), "load_average_before": load_before, "load_average_after": os.getloadavg()},
        "config": {
            "env": args.env,
            "model": args.model,
            "horizon": args.horizon,
            "seeds": args.seeds,
            "repeats": args.repeats,
            "interleaved": True,
        },  # fmt: skip
        "summary": {
            "best_group_size": best,
            "update_pair_s_by_group": {str(g): t for g, t in both.items()},
            "relative_to_best": {str(g): t / both[best] for g, t in both.items()},
        },
        "results": rows,
    }
    write_report(report, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

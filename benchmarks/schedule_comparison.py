"""The old and the new BPO schedule side by side: final model loss and normalised return.

"Old" is awmkit before issue 10 (2 model and 16 policy updates per *episode*, entropy bonus summed
over time with coefficient 0.01); "new" is the authors' schedule (a model update every 2 and a policy
update every 16 environment steps after the warm-up, time-averaged entropy with coefficient 0.1).
Each run uses its tree's defaults for everything but the budget, so the two differ exactly by the
schedule and the entropy term. Every (model, environment, horizon, schedule) is one BPO run of
``--seeds`` vmapped seeds, run in its own process with ``PYTHONPATH`` set to the tree under test.

Reported per run (mean and Student-t 95% CI over seeds):

- ``normalised_return``: the final evaluation return, 0 = uniformly random actions, 1 = optimal
  (the references shipped with *this* tree, for both schedules);
- ``model_loss``: the final model's mean teacher-forced loss on 16 fresh episodes of the seed's own
  final stochastic policy (held out: never in the buffer), and ``train_model_loss``, the loss
  logged over the run's last evaluation window;
- ``model_updates`` / ``policy_updates`` per seed and the run's CPU seconds.

Usage::

    git -C /work/main worktree add /tmp/old-bpo main      # the tree before the change
    nice -n 10 python benchmarks/schedule_comparison.py --old-tree /tmp/old-bpo --steps 2000

Cells can run in separate invocations (``--models markovian --out a.json`` and ``--models
awm-transformer --out b.json``) and be combined with ``--merge a.json b.json --out FILE``.
"""

import argparse
import concurrent.futures
import json
import os
import pathlib
import resource
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
MODELS = ("awm-transformer", "markovian")
ENVS = ("cancer_treatment", "bioreactor")
HORIZONS = (100, 200)


def worker(spec: dict) -> dict:
    """One BPO run in this process (whichever awmkit is first on the path)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    import awmkit
    from awmkit.bpo import BPOConfig, train
    from awmkit.envs import rollout

    env = awmkit.envs.make(spec["env"], horizon=spec["horizon"])
    config = BPOConfig(
        steps=spec["steps"],
        eval_interval=spec["steps"],  # evaluate the untrained and the final policy only
        eval_episodes=1,  # the systems are deterministic
        chunk_size=spec["chunk_size"],
    )
    with tempfile.TemporaryDirectory() as tmp:
        result = train(env, config, model=spec["model"], key=spec["key"], seeds=spec["seeds"], out=tmp, progress=False)
        rows = [json.loads(line) for line in (pathlib.Path(tmp) / "metrics.jsonl").read_text().splitlines()]
    last = {r["seed"]: r.get("model_loss") for r in rows if r.get("iteration", -1) >= 0 and "eval_return" in r}
    held_out = []
    for j in range(spec["seeds"]):
        model, policy = result.seed_model(j), result.seed_policy(j)
        keys = jax.random.split(jax.random.key(10_000 + j), 16)
        episodes = jax.vmap(lambda k, p=policy: rollout(env, p, k))(keys)
        held_out.append(float(jnp.mean(jax.vmap(model.loss)(episodes))))
    state = result.state
    counts = {}
    for name in ("dynamics_updates", "policy_updates"):
        if hasattr(state, name):
            counts[name] = [int(x) for x in np.asarray(getattr(state, name))]
    return {
        "final_return": [float(x) for x in result.final_return],
        "model_loss": held_out,
        "train_model_loss": [last.get(s) for s in result.seeds],
        "nan_reports": [str(r) for r in result.nan_reports],
        "config": config.to_dict(),
        "cpu_s": _cpu_seconds(),
        **counts,
    }


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _mean_ci(values) -> dict:
    import numpy as np
    import scipy.stats

    x = np.asarray([v for v in values if v is not None], dtype=np.float64)
    half = float(scipy.stats.t.ppf(0.975, x.size - 1) * scipy.stats.sem(x)) if x.size > 1 else float("nan")
    return {"mean": float(x.mean()), "ci95": half, "values": [float(v) for v in x]}


def _legacy_counts(spec: dict, config: dict) -> dict:
    """Updates the old schedule performed: its per-episode ratios times the training episodes."""
    horizon = spec["horizon"]
    warm = -(-config["warmup_steps"] // horizon)
    iterations = -(-(config["steps"] - warm * horizon) // horizon)
    return {
        "dynamics_updates": [config["dynamics_replay_ratio"] * iterations] * spec["seeds"],
        "policy_updates": [config["policy_replay_ratio"] * iterations] * spec["seeds"],
    }


def run_one(spec: dict, tree: pathlib.Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree), "JAX_PLATFORMS": "cpu"}
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, __file__, "--worker", json.dumps(spec)], env=env, capture_output=True, text=True
    )
    if out.returncode != 0:
        raise RuntimeError(f"run {spec} failed:\n{out.stderr[-3000:]}")
    data = json.loads(out.stdout.strip().splitlines()[-1])
    data["wall_s"] = time.perf_counter() - start
    data["load_average"] = os.getloadavg()
    print(json.dumps({"tree": str(tree), **spec, **data}), file=sys.stderr, flush=True)
    return data


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--old-tree", type=pathlib.Path, help="a checkout of awmkit before the change")
    parser.add_argument("--new-tree", type=pathlib.Path, default=ROOT, help="the tree after it (default: this one)")
    parser.add_argument("--steps", type=int, default=3000, help="environment steps per seed (both schedules)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--key", type=int, default=0)
    parser.add_argument("--models", nargs="*", default=list(MODELS))
    parser.add_argument("--envs", nargs="*", default=list(ENVS))
    parser.add_argument("--horizons", nargs="*", type=int, default=list(HORIZONS))
    parser.add_argument("--merge", nargs="*", type=pathlib.Path, default=None,
                        help="combine the rows of results files written by separate runs of this script into --out")  # fmt: skip
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time (old and new of a cell together)")
    parser.add_argument("--out", type=pathlib.Path, default=ROOT / "benchmarks" / "results" / "schedule_comparison.json")
    args = parser.parse_args(argv)
    if args.worker is not None:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0
    if args.merge:
        reports = [json.loads(path.read_text()) for path in args.merge]
        merged = {**reports[0], "rows": [row for r in reports for row in r["rows"]]}
        merged["complete"] = all(r["complete"] for r in reports)
        merged["merged_from"] = [str(path) for path in args.merge]
        args.out.write_text(json.dumps(merged, indent=2) + "\n")
        print(_table(merged["rows"]))
        return 0
    if args.old_tree is None or not (args.old_tree / "awmkit" / "bpo" / "_config.py").is_file():
        parser.error("--old-tree must be a checkout of awmkit (with awmkit/bpo/_config.py)")

    sys.path.insert(0, str(ROOT))
    from awmkit.evaluation import normalised_return

    trees = {"old": args.old_tree.resolve(), "new": args.new_tree.resolve()}
    cells = [(m, e, h) for m in args.models for e in args.envs for h in args.horizons]

    def spec_of(cell):
        model, env, horizon = cell
        return {
            "env": env, "model": model, "horizon": horizon, "steps": args.steps,
            "seeds": args.seeds, "key": args.key, "chunk_size": 50,
        }  # fmt: skip

    # Old and new of a cell are submitted together, so both see about the same machine load; the
    # results file is rewritten after every cell, so an interrupted comparison keeps what it finished.
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs)
    futures = {
        (cell, schedule): pool.submit(run_one, spec_of(cell), tree)
        for cell in cells
        for schedule, tree in trees.items()
    }
    rows = []
    for cell in cells:
        model, env, horizon = cell
        row = {"model": model, "env": env, "horizon": horizon}
        for schedule in trees:
            data = futures[(cell, schedule)].result()
            counts = {k: data[k] for k in ("dynamics_updates", "policy_updates") if k in data}
            if not counts:
                counts = _legacy_counts(spec_of(cell), data["config"])
            normalised = normalised_return(data["final_return"], env, horizon)
            row[schedule] = {
                "normalised_return": _mean_ci(list(map(float, normalised))),
                "model_loss": _mean_ci(data["model_loss"]),
                "train_model_loss": _mean_ci(data["train_model_loss"]),
                "final_return": data["final_return"],
                **counts,
                "nan_reports": data["nan_reports"],
                "cpu_s": data["cpu_s"],
                "wall_s": data["wall_s"],
                "load_average": data["load_average"],
            }
        rows.append(row)
        _write(args, trees, rows, complete=len(rows) == len(cells))
    pool.shutdown()
    print(_table(rows))
    return 0


def _write(args, trees, rows, complete: bool) -> None:
    import awmkit

    report = {
        "benchmark": "schedule_comparison",
        "complete": complete,
        "awmkit_version": awmkit.__version__,
        **{
            f"{name}_tree": str(tree) for name, tree in trees.items()
        },
        **{
            f"{name}_commit": subprocess.run(
                ["git", "-C", str(tree), "rev-parse", "HEAD"], capture_output=True, text=True
            ).stdout.strip()
            for name, tree in trees.items()
        },
        "steps": args.steps,
        "seeds": args.seeds,
        "key": args.key,
        "schedules": {
            "old": "2 model and 16 policy updates per episode; entropy 0.01 x sum over time of -log pi",
            "new": "a model update every 2 and a policy update every 16 environment steps after the "
            "warm-up (the authors' counts); entropy 0.1 x time mean of -log pi",
        },
        "model_loss": "mean teacher-forced loss of the final model on 16 fresh episodes of each seed's final "
        "stochastic policy",
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")


def _table(rows) -> str:
    lines = ["model            env               H    schedule  norm. return     model loss         updates (model/policy)"]
    for row in rows:
        for schedule in ("old", "new"):
            r = row[schedule]
            nr, ml = r["normalised_return"], r["model_loss"]
            lines.append(
                f"{row['model']:<16} {row['env']:<17} {row['horizon']:<4} {schedule:<9} "
                f"{nr['mean']:.3f} ± {nr['ci95']:.3f}    {ml['mean']:.3g} ± {ml['ci95']:.2g}    "
                f"{r['dynamics_updates'][0]}/{r['policy_updates'][0]}"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

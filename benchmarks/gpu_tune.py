"""Tunes awmkit's GPU knobs in one bounded run: runs per program, matmul precision, attention
implementation, generation unroll and XLA loop flags, each measured on the model update and the policy
gradient of packed runs, then a short paper-schedule cell with the winners; prints a decision table and
writes JSON.

The search is staged (coordinate descent, each stage keeps the previous stages' winners), with a wall
deadline (``--budget-s``, 540 s: 9 minutes) after which the remaining candidates are recorded as
skipped:

1. ``runs``: rows per program R in ``--runs`` (10, 30, 60, 120): vmapped runs (settings x seeds) of
   the awm-transformer on HIV treatment, H in ``--horizons`` (100, 500); the figure of merit is the
   time per run of one model update (64 episodes) plus one policy update (batch 16): lower is better.
2. ``attention``: ``awmkit.nn.set_attention`` in xla / cudnn / pallas / blocked at the best R, H = 500.
3. ``precision``: ``awmkit.nn.set_matmul_precision`` None (XLA's default, TF32 on a GPU) / float32 / bf16.
4. ``unroll``: ``awmkit.models.set_generation_unroll`` 1 / 4 (the policy gradient's generation scans).
5. ``xla_flags``: command buffers (CUDA graphs) for loops, in a child process each (XLA reads
   ``XLA_FLAGS`` at start): none (XLA's default) / ``WHILE,CONDITIONAL`` command buffers added.
6. ``cell``: ``awmkit.bpo.train_packed`` with the winners, the authors' schedule cut to a few episodes,
   R runs at H = 100, trained twice (the second without compilation): seconds per episode of all runs.

A candidate wins a stage only if it is at least 5% faster than the stage's baseline (the library's
current default), so noise does not flip a default. The library's GPU defaults change only when a
result of this script from a GPU is committed: ``benchmarks/gpu_defaults.py RESULT.json`` writes its
choices into ``awmkit/data/gpu_defaults.json``, the table a GPU backend reads (attention, precision,
unroll, runs per program; bf16 is never adopted; other backends never read it).

Run on one H100/H200 (the device has no beartype/ray; nothing installed; about 9 minutes)::

    PYTHONPATH=$PWD python3 benchmarks/gpu_tune.py --out $OUT/gpu_tune.json

or, with ``benchmarks/precision_error.py --horizons 100 500`` after it, both in at most 9 minutes::

    bash benchmarks/gpu_session.sh

CPU check of the whole pipeline (tiny sizes, the markovian model, so no attention stage;
``tests/test_gpu_tune.py`` runs it)::

    python benchmarks/gpu_tune.py --quick --out /tmp/gpu_tune.json
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time

import equinox as eqx
import jax
import jax.numpy as jnp

import awmkit
from awmkit.bpo import BPOConfig, train_packed
from awmkit.bpo._estimate import _pieces, _repeated, _time
from awmkit.bpo._train import Program, cast_floats, init_program
from awmkit.policies import TanhGaussianPolicy

_BETTER = 0.95  # a candidate must beat the baseline by 5% to win
_COMMAND_BUFFERS = (
    "--xla_gpu_enable_command_buffer=FUSION,CUBLAS,CUBLASLT,CUSTOM_CALL,CUDNN,WHILE,CONDITIONAL"
)


def _config(horizon: int, quick: bool) -> BPOConfig:
    # The authors' batch sizes (64 episodes per model update, 16 rollouts per policy update).
    if quick:
        return BPOConfig(steps=4 * horizon, warmup_steps=horizon, dynamics_batch_size=4, policy_batch_size=2,
                         eval_episodes=1, chunk_size=2, eval_interval=2 * horizon)  # fmt: skip
    return BPOConfig(steps=40 * horizon, warmup_steps=10 * horizon, eval_episodes=2, chunk_size=4)


_STATES: dict = {}


def _initial(model: str, env_name: str, horizon: int, runs: int, quick: bool):
    """The program and packed initial state of `runs` runs (cached: the knobs tuned here do not change
    the warm-up)."""
    key = (model, env_name, horizon, runs, quick)
    if key not in _STATES:
        env = cast_floats(awmkit.envs.make(env_name, horizon=horizon), jnp.float32)
        config = _config(horizon, quick)
        keys = jax.random.split(jax.random.key(0), 3 * runs).reshape(3, runs)
        models = eqx.filter_vmap(lambda k: awmkit.models.make(model, env, key=k))(keys[0])
        policies = eqx.filter_vmap(
            lambda k: TanhGaussianPolicy(env.state_dim, env.action_dim, horizon, key=k)
        )(keys[1])
        program = Program(env, config, learn_model=True)
        _STATES[key] = (program, init_program(program, models, policies, keys[2])[0])
    return _STATES[key]


def measure(
    model: str, horizon: int, runs: int, quick: bool, repeats: int, env: str = "hiv_treatment"
) -> dict:
    """Milliseconds of one model update and one policy update of `runs` vmapped runs (the marginal cost
    in a loop, `awmkit.bpo._estimate._time`), and per run."""
    program, state = _initial(model, env, horizon, runs, quick)
    out, compile_s = {}, 0.0
    pieces = _pieces(program)
    for name in ("model_updates", "policy_updates"):
        compiled, seconds, _ = _time(_repeated(pieces[name]), program, state, repeats)
        out[name + "_ms"] = 1e3 * seconds
        compile_s += compiled
    total = out["model_updates_ms"] + out["policy_updates_ms"]
    return {**out, "ms_per_run": total / runs, "compile_s": compile_s}


def paper_cell(model: str, horizon: int, runs: int, quick: bool, env_name: str = "hiv_treatment") -> dict:
    """A few episodes of the authors' schedule, `runs` packed runs (entropy settings x seeds), trained
    twice: seconds with and without compilation, seconds per episode of all runs."""
    config = _config(horizon, quick)
    settings = [BPOConfig(**{**config.to_dict(), "entropy_coef": e}) for e in (0.1, 0.01, 0.001)]
    settings = settings[: max(1, min(3, runs))]
    seeds = max(1, runs // len(settings))
    env = awmkit.envs.make(env_name, horizon=horizon)
    walls = []
    for _ in range(2):
        start = time.perf_counter()
        results = train_packed(env, settings, model=model, key=0, seeds=seeds)
        jax.block_until_ready(results[-1].state.env_steps)
        walls.append(time.perf_counter() - start)
    episodes = config.iterations(horizon)
    return {"runs": len(settings) * seeds, "first_s": walls[0], "second_s": walls[1],
            "s_per_episode": walls[1] / episodes, "episodes": episodes}  # fmt: skip


class Search:
    """The staged search with its deadline and its rows."""

    def __init__(self, args):
        self.args, self.rows, self.start = args, [], time.perf_counter()

    def left(self) -> float:
        return self.args.budget_s - (time.perf_counter() - self.start)

    def stage(self, stage: str, candidates: list, horizon: int, runs: int, apply) -> object:
        """Measures each candidate (``apply(candidate)`` sets it) and returns the winner. The first
        candidate is the current setting: its measurement is the last chosen row at this (H, R) when
        there is one (the previous stage's winner), not measured again."""
        best, best_ms = candidates[0], None
        previous = [
            r for r in self.rows if r.get("chosen") and r.get("horizon") == horizon and r.get("runs") == runs
        ]
        for i, cand in enumerate(candidates):
            row = {"stage": stage, "candidate": str(cand), "horizon": horizon, "runs": runs}
            if i == 0 and previous:
                keep = ("model_updates_ms", "policy_updates_ms", "ms_per_run", "compile_s")
                row.update({k: previous[-1][k] for k in keep}, reused=previous[-1]["stage"])
            elif self.left() < 20:
                self.rows.append({**row, "skipped": "out of time"})
                continue
            else:
                try:
                    apply(cand)
                    row.update(
                        measure(
                            self.args.model, horizon, runs, self.args.quick, self.args.repeats, self.args.env
                        )
                    )
                except Exception as e:  # noqa: BLE001 - a candidate the backend cannot run is recorded
                    self.rows.append(
                        {**row, "skipped": f"{type(e).__name__}: {str(e).splitlines()[0][:160]}"}
                    )
                    continue
            self.rows.append(row)
            if best_ms is None or (i > 0 and row["ms_per_run"] < _BETTER * best_ms):
                best, best_ms = cand, row["ms_per_run"]
        apply(best)
        for row in self.rows:
            if row["stage"] == stage and "skipped" not in row:
                row["chosen"] = row["candidate"] == str(best)
        return best


def _flags_child(args, flags: str) -> dict:
    """One measurement in a child process with ``XLA_FLAGS`` set (read by XLA at start only)."""
    env = {**os.environ, "XLA_FLAGS": (os.environ.get("XLA_FLAGS", "") + " " + flags).strip()}
    cmd = [sys.executable, __file__, "--child", "--model", args.model, "--horizons", str(args.horizons[-1]),
           "--runs", str(args.best_runs), "--repeats", str(args.repeats), "--env", args.env] + (["--quick"] if args.quick else [])  # fmt: skip
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=max(30, args.budget_s))
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "child failed")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _machine() -> dict:
    device = jax.devices()[0]
    return {"platform": platform.platform(), "python": sys.version.split()[0], "jax": jax.__version__,
            "backend": jax.default_backend(), "device": getattr(device, "device_kind", str(device)),
            "load_average": os.getloadavg()}  # fmt: skip


def run(args) -> dict:
    on_gpu = jax.default_backend() in ("gpu", "cuda")
    search = args.search = Search(args)
    hs = args.horizons
    # 1. runs per program, at every horizon; the best at the longest horizon is kept.
    best_runs = {}
    for h in hs:
        per_run = []
        for r in args.runs:
            row = {"stage": "runs", "candidate": str(r), "horizon": h, "runs": r}
            if search.left() < 20:
                search.rows.append({**row, "skipped": "out of time"})
                continue
            row.update(measure(args.model, h, r, args.quick, args.repeats, args.env))
            search.rows.append(row)
            per_run.append((row["ms_per_run"], r))
        best_runs[h] = min(per_run)[1] if per_run else args.runs[0]
        for row in search.rows:
            if row["stage"] == "runs" and row["horizon"] == h and "skipped" not in row:
                row["chosen"] = row["runs"] == best_runs[h]
    args.best_runs = best_runs[hs[-1]]
    r, h = args.best_runs, hs[-1]
    attention = ["xla", "cudnn", "pallas", "blocked"] if on_gpu else ["blocked", "xla"]
    chosen = {"runs": best_runs}
    if "transformer" in args.model:
        chosen["attention"] = search.stage("attention", attention, h, r, awmkit.nn.set_attention)
    else:
        search.rows.append(
            {"stage": "attention", "candidate": "-", "horizon": h, "skipped": "no attention in this model"}
        )
    chosen["precision"] = search.stage(
        "precision",
        [None, "float32", "bf16"] if on_gpu else [None, "bf16"],
        h,
        r,
        awmkit.nn.set_matmul_precision,
    )
    chosen["unroll"] = search.stage(
        "unroll", [1, 4] if on_gpu else [1, 2], h, r, awmkit.models.set_generation_unroll
    )
    # 5. XLA loop flags, one child process each (GPU only).
    for flags in ("", _COMMAND_BUFFERS):
        row = {"stage": "xla_flags", "candidate": flags or "(XLA default)", "horizon": h, "runs": r}
        if not on_gpu:
            search.rows.append({**row, "skipped": "XLA GPU flags: not a GPU"})
        elif search.left() < 60:
            search.rows.append({**row, "skipped": "out of time"})
        else:
            try:
                search.rows.append({**row, **_flags_child(args, flags)})
            except Exception as e:  # noqa: BLE001
                search.rows.append({**row, "skipped": f"{type(e).__name__}: {str(e)[:160]}"})
    flag_rows = [x for x in search.rows if x["stage"] == "xla_flags" and "skipped" not in x]
    if len(flag_rows) == 2:
        win = flag_rows[1]["ms_per_run"] < _BETTER * flag_rows[0]["ms_per_run"]
        flag_rows[0]["chosen"], flag_rows[1]["chosen"] = not win, win
    # 6. a short paper-schedule cell with the winners.
    cell_h = hs[0]
    cell = {"skipped": "out of time"}
    if search.left() > 30:
        cell = paper_cell(args.model, cell_h, best_runs[cell_h], args.quick, args.env)
    search.rows.append({"stage": "cell", "candidate": "winners", "horizon": cell_h, **cell})
    return {"chosen": {k: v for k, v in chosen.items()}, "rows": search.rows,
            "wall_s": time.perf_counter() - search.start}  # fmt: skip


def table(rows) -> str:
    head = f"{'stage':10s} {'candidate':28s} {'H':>4s} {'R':>4s} {'update ms':>10s} {'pg ms':>8s} {'ms/run':>8s}  chosen"
    lines = [head, "-" * len(head)]
    for row in rows:
        if "skipped" in row:
            lines.append(
                f"{row['stage']:10s} {row['candidate'][:28]:28s} {row['horizon']:4d} {'':4s} skipped: {row['skipped']}"
            )
        elif row["stage"] == "cell":
            lines.append(f"{'cell':10s} {'winners':28s} {row['horizon']:4d} {row['runs']:4d} "
                         f"{row['s_per_episode'] * 1e3:10.1f} ms per episode of all runs (first run {row['first_s']:.1f} s)")  # fmt: skip
        else:
            lines.append(
                f"{row['stage']:10s} {row['candidate'][:28]:28s} {row['horizon']:4d} {row['runs']:4d} "
                f"{row['model_updates_ms']:10.2f} {row['policy_updates_ms']:8.2f} {row['ms_per_run']:8.3f}  "
                f"{'<=' if row.get('chosen') else ''}"
            )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes on any backend (pipeline check)")
    parser.add_argument(
        "--model", default=None, help="world model (default awm-transformer; quick: markovian)"
    )
    parser.add_argument("--env", default=None, help="system (default hiv_treatment; quick: cancer_treatment)")
    parser.add_argument("--horizons", type=int, nargs="+", default=None)
    parser.add_argument("--runs", type=int, nargs="+", default=None)
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--budget-s", type=float, default=None, help="wall deadline (default 540; quick 120)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    args.model = args.model or ("markovian" if args.quick else "awm-transformer")
    args.env = args.env or ("cancer_treatment" if args.quick else "hiv_treatment")
    args.horizons = args.horizons or ([5] if args.quick else [100, 500])
    args.runs = args.runs or ([2] if args.quick else [10, 30, 60, 120])
    args.repeats = args.repeats or (1 if args.quick else 3)
    args.budget_s = args.budget_s or (300.0 if args.quick else 540.0)
    if args.child:
        print(
            json.dumps(
                measure(args.model, args.horizons[-1], args.runs[0], args.quick, args.repeats, args.env)
            )
        )
        return 0
    load_before = os.getloadavg()
    args.search = None
    try:
        result = run(args)
    except KeyboardInterrupt:  # SIGINT from a time limit (benchmarks/gpu_session.sh): keep the rows so far
        rows = [] if args.search is None else args.search.rows
        result = {"chosen": {}, "rows": rows, "interrupted": True,
                  "wall_s": time.perf_counter() - (args.search.start if args.search else time.perf_counter())}  # fmt: skip
    report = {"benchmark": "gpu_tune", "machine": {**_machine(), "load_average_before": load_before},
              "config": {k: v for k, v in vars(args).items() if k not in ("child", "search")}, **result}  # fmt: skip
    print(table(result["rows"]))
    print(f"chosen: {json.dumps(result['chosen'], default=str)}  ({result['wall_s']:.0f} s)")
    if args.out:
        os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(report, f, indent=1, default=str)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

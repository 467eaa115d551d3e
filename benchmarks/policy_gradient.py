"""Time and peak memory of one policy-gradient step through every world model.

One step is ``jit(grad(mean policy_objective))`` over a batch of 16 initial states: the gradient of
``J^W(theta)`` (equations 1-3) with respect to the parameters of an MLP policy (64, 64), for each model
of [`awmkit.models.make`][] at horizons ``H`` in {20, 100, 500} on the HIV-treatment system. The models
use the defaults (the authors' code, ``docs/fidelity.md``); ``--sizes text`` builds the transformers at
Appendix C.1's sizes instead, the defaults before, for before/after tables over two trees.
For each (model, H) the script reports the compile time, the
median run time over ``--repeats`` runs after a warm-up (the rows of one horizon compiled first and
then timed round-robin, interleaved), and XLA's memory analysis of the compiled
step (arguments + outputs + temporaries: the peak working set of the program, ``peak_bytes``).

Extra rows:

- ``awm-transformer/sequential``: the same gradient computed by backpropagating through the KV-cache
  generation (``ActionsModel.imagine_sequential``) instead of one teacher-forced parallel pass; the
  ratio of the two times is the speed-up of the shortcut (``speedup_teacher_forced``).
- ``hwm-transformer/no-remat``, ``hwm-transformer/remat`` and ``awm-rnn/remat``: the effect of
  block-wise rematerialisation on time and memory (``hwm-transformer`` itself uses the default,
  ``remat=None``: "auto" per backend and horizon).
- ``update/<model>``: one teacher-forced model update, ``jit(value_and_grad(mean loss))`` over
  ``--episodes`` (64) stored episodes, the work that dominates BPO on the authors' schedule;
  ``update/<model>/dpa`` (and ``<model>/dpa``) the same with ``jax.nn.dot_product_attention`` in the
  teacher-forced pass instead of the explicit einsum-mask-softmax.

Every row reports XLA's FLOP count of the compiled program (``flops``), the achieved rate and its
fraction of the machine's matmul peak, measured in the same process by a large matmul
(``--peak-size``, 2048: ``machine.matmul_peak_flops``).

Run (CPU, results in ``benchmarks/results/policy_gradient_cpu.json``)::

    python benchmarks/policy_gradient.py            # full: H in {20, 100, 500}
    python benchmarks/policy_gradient.py --quick    # H in {20, 100}, fewer repeats

GPU run (on a machine with a CUDA build of JAX, ``pip install -e .[cuda]``)::

    python benchmarks/policy_gradient.py --out benchmarks/results/policy_gradient_gpu.json

The output is JSON: ``{"machine": {...}, "config": {...}, "results": [{...}, ...]}``.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time

import equinox as eqx
import jax
import jax.numpy as jnp

import awmkit
from awmkit.nn import MLP


class Policy(eqx.Module):
    """A deterministic MLP policy on log-scaled states (HIV states span 0.04 to 800)."""

    mlp: MLP

    def __call__(self, state, k, key):
        return jnp.tanh(self.mlp(jnp.log1p(jnp.abs(state))))


def write_report(report: dict, out) -> None:
    """Prints the JSON report and, when ``out`` is given, writes it there (folders created)."""
    text = json.dumps(report, indent=2)
    print(text)
    if out:
        os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
        with open(out, "w") as f:
            f.write(text + "\n")


def _machine() -> dict:
    device = jax.devices()[0]
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        "jax": jax.__version__,
        "equinox": eqx.__version__,
        "backend": jax.default_backend(),
        "device": getattr(device, "device_kind", str(device)),
        "device_count": jax.device_count(),
        "x64": bool(jax.config.jax_enable_x64),
    }


SIZES = "default"  # set by --sizes


def _make(name: str, env, key, **kwargs):
    """``awmkit.models.make`` at the chosen sizes. ``--sizes text`` builds the transformer models at
    Appendix C.1's sizes (embedding 72, linear encoders, block MLP 64), the defaults of the code before
    the models followed the authors' code, so that a tree from before and one from after are timed on
    the same network; a tree without the ``encoder`` argument already has those defaults."""
    import inspect

    from awmkit.models import ActionsModel

    text = SIZES == "text" and "encoder" in inspect.signature(ActionsModel.__init__).parameters
    if text and name == "hwm-transformer":
        kwargs.update(embed_size=72, encoder="linear", mlp_width=64)
    elif text and name == "awm-transformer":
        from awmkit.models import TransformerBackbone

        kb, key = jax.random.split(key)
        backbone = TransformerBackbone(72, env.state_dim, env.horizon + 1, mlp_width=64, key=kb)
        kwargs.update(embed_size=72, encoder="linear", backbone=backbone)
        return ActionsModel(env.state_dim, env.action_dim, env.horizon, key=key, **kwargs)
    return awmkit.models.make(name, env, key=key, **kwargs)


def _variant(name: str, env, key):
    """The model and the function computing ``(J, trajectory)`` for one benchmark row."""
    if name == "awm-transformer/sequential":
        model = _make("awm-transformer", env, key)

        def objective(model, policy, s0, key):
            trajectory = model.imagine_sequential(s0, policy, env.horizon, key, reward_fn=env.reward)
            return trajectory.total_return

        return model, objective
    if name == "hwm-transformer/no-remat":
        model = _make("hwm-transformer", env, key, remat=False)
    elif name == "hwm-transformer/remat":
        model = _make("hwm-transformer", env, key, remat=True)
    elif name == "awm-rnn/remat":
        model = awmkit.models.make("awm-rnn", env, key=key, remat=True)
    else:
        model = _make(name, env, key)

    def objective(model, policy, s0, key):
        return model.policy_objective(policy, s0, env.reward, env.horizon, key)[0]

    return model, objective


def matmul_peak(size: int = 2048, repeats: int = 5) -> float:
    """FLOP/s of the best of `repeats` ``(size, size) @ (size, size)`` float32 matmuls."""
    a = jnp.ones((size, size), jnp.float32)
    f = jax.jit(lambda a: a @ a)
    jax.block_until_ready(f(a))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(f(a))
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


_LIBRARY_DEFAULT = {}


def _attention(dpa: bool):
    """Forces ``jax.nn.dot_product_attention`` in the teacher-forced pass (``dpa=True``) or restores
    the library's default for this backend (when the installed awmkit has the switch; older trees
    always use the einsum)."""
    from awmkit.nn import _transformer

    table = getattr(_transformer, "_USE_DOT_PRODUCT_ATTENTION", None)
    if table is None:
        if dpa:
            raise SystemExit("this awmkit has no dot_product_attention switch")
        return
    backend = jax.default_backend()
    _LIBRARY_DEFAULT.setdefault(backend, table.get(backend, False))
    table[backend] = True if dpa else _LIBRARY_DEFAULT[backend]


def _flops(compiled) -> float | None:
    compiled = getattr(compiled, "compiled", compiled)  # equinox's wrapper around jax's Compiled
    try:
        cost = compiled.cost_analysis()
    except Exception:  # noqa: BLE001 - not every backend reports costs
        return None
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    return None if not cost or "flops" not in cost else float(cost["flops"])


def _data(env, key, episodes):
    actions = jax.random.uniform(key, (episodes, env.horizon, env.action_dim), minval=-1.0, maxval=1.0)
    return jax.jit(jax.vmap(lambda a: awmkit.envs.rollout(env, a)))(actions)


def _timed(call, repeats: int) -> dict:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    if not times:
        return {"time_s": None, "min_s": None, "times_s": []}
    return {"time_s": statistics.median(times), "min_s": min(times), "times_s": times}


def interleave(rows: list[dict], calls: list, repeats: int) -> None:
    """Times ``calls`` round-robin (A, B, C, A, B, C...) ``repeats`` times and fills in their rows."""
    times = [[] for _ in calls]
    for _ in range(repeats):
        for j, call in enumerate(calls):
            start = time.perf_counter()
            call()
            times[j].append(time.perf_counter() - start)
    for row, ts in zip(rows, times):
        row.update(time_s=statistics.median(ts), min_s=min(ts), times_s=ts)


def _measure(name: str, horizon: int, batch: int, repeats: int, key, episodes: int = 64, calls=None) -> dict:
    """One row: compiled, warmed up and timed `repeats` times (``repeats=0`` with a list `calls`: the
    row's zero-argument call is appended for `interleave`)."""
    base = name.partition("/")[0]
    _attention(name.endswith("/dpa"))
    if base == "update":
        return _measure_update(name, horizon, repeats, key, episodes, calls)
    env = awmkit.envs.make("hiv_treatment", horizon=horizon)
    model_key, policy_key, state_key = jax.random.split(key, 3)
    model, objective = _variant(name.removesuffix("/dpa"), env, model_key)
    # A dataset of random-action rollouts sets the normalisation, as in training.
    actions = jax.random.uniform(state_key, (32, horizon, env.action_dim), minval=-1.0, maxval=1.0)
    data = jax.jit(jax.vmap(lambda a: awmkit.envs.rollout(env, a)))(actions)
    model = awmkit.models.fit_normaliser(model, data)
    policy = Policy(MLP(env.state_dim, env.action_dim, (64, 64), jnp.tanh, key=policy_key))
    s0s = data.states[:batch, 0] * (1.0 + 0.01 * jnp.arange(batch, dtype=data.states.dtype)[:, None])
    keys = jax.random.split(key, batch)

    def loss(policy, model, s0s, keys):
        return jnp.mean(jax.vmap(lambda s0, k: objective(model, policy, s0, k))(s0s, keys))

    step = eqx.filter_jit(eqx.filter_grad(loss))
    start = time.perf_counter()
    lowered = step.lower(policy, model, s0s, keys)
    compiled = lowered.compile()
    compile_s = time.perf_counter() - start
    memory = compiled.compiled.memory_analysis()
    peak = None
    if memory is not None:
        peak = int(
            memory.argument_size_in_bytes
            + memory.output_size_in_bytes
            + memory.temp_size_in_bytes
            - getattr(memory, "alias_size_in_bytes", 0)
        )
    flops = _flops(compiled)
    grads = jax.block_until_ready(step(policy, model, s0s, keys))  # warm-up

    def call():
        jax.block_until_ready(step(policy, model, s0s, keys))

    if calls is not None:
        calls.append(call)
    timed = _timed(call, repeats)
    norm = float(jnp.sqrt(sum(jnp.sum(jnp.square(g)) for g in jax.tree.leaves(grads))))
    return {
        "model": name,
        "horizon": horizon,
        "batch": batch,
        "compile_s": round(compile_s, 4),
        **timed,
        "flops": flops,
        "peak_bytes": peak,
        "temp_bytes": None if memory is None else int(memory.temp_size_in_bytes),
        "grad_norm": norm,
    }


def _measure_update(name: str, horizon: int, repeats: int, key, episodes: int, calls=None) -> dict:
    """One teacher-forced model update over `episodes` stored episodes (value and gradient)."""
    model_name = name.split("/")[1]
    env = awmkit.envs.make("hiv_treatment", horizon=horizon)
    model_key, data_key = jax.random.split(key)
    data = _data(env, data_key, episodes)
    model = awmkit.models.fit_normaliser(_make(model_name, env, model_key), data)
    params, static = eqx.partition(model, awmkit.models.trainable_filter(model))

    def loss(params, data):
        return jnp.mean(jax.vmap(eqx.combine(params, static).loss)(data))

    step = jax.jit(jax.value_and_grad(loss))
    start = time.perf_counter()
    compiled = step.lower(params, data).compile()
    compile_s = time.perf_counter() - start
    flops = _flops(compiled)
    jax.block_until_ready(compiled(params, data))

    def call():
        jax.block_until_ready(compiled(params, data))

    if calls is not None:
        calls.append(call)
    return {
        "model": name,
        "horizon": horizon,
        "batch": episodes,
        "compile_s": round(compile_s, 4),
        **_timed(call, repeats),
        "flops": flops,
    }


MODELS = (
    "markovian",
    "hwm-transformer",
    "awm-transformer",
    "awm-rnn",
    "awm-lstm",
    "simulator",
    "awm-transformer/sequential",
    "hwm-transformer/no-remat",
    "hwm-transformer/remat",
    "awm-rnn/remat",
    "awm-transformer/dpa",
    "update/awm-transformer",
    "update/hwm-transformer",
    "update/awm-transformer/dpa",
    "update/hwm-transformer/dpa",
    "update/markovian",
)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="H in {20, 100} and 2 repeats")
    parser.add_argument("--horizons", type=int, nargs="+", default=None)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--episodes", type=int, default=64, help="episodes per model update (update/ rows)")
    parser.add_argument("--peak-size", type=int, default=2048, help="matmul size measuring the peak")
    parser.add_argument(
        "--sizes",
        choices=("default", "text"),
        default="default",
        help="transformer sizes: the defaults (the authors' code) or Appendix C.1's text (before/after)",
    )
    parser.add_argument("--out", default=None, help="JSON file (default: print only)")
    args = parser.parse_args(argv)
    global SIZES
    SIZES = args.sizes
    horizons = args.horizons or ([20, 100] if args.quick else [20, 100, 500])
    repeats = args.repeats or (2 if args.quick else 5)
    load_before = os.getloadavg()
    peak = matmul_peak(args.peak_size)
    results = []
    for horizon in horizons:
        # Every row of this horizon compiled first, then timed round-robin (interleaved).
        rows, calls = [], []
        for name in args.models:
            rows.append(_measure(name, horizon, args.batch, 0, jax.random.key(0), args.episodes, calls))
        interleave(rows, calls, repeats)
        for row in rows:
            results.append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "times_s"}), file=sys.stderr, flush=True)
    peak_after = matmul_peak(args.peak_size)
    for row in results:
        if row.get("flops"):
            row["gflops_per_s"] = row["flops"] / row["time_s"] / 1e9
            row["peak_fraction"] = row["flops"] / row["time_s"] / max(peak, peak_after)
    speedups = {}
    for horizon in horizons:
        rows = {r["model"]: r for r in results if r["horizon"] == horizon}
        if "awm-transformer" in rows and "awm-transformer/sequential" in rows:
            speedups[str(horizon)] = (
                rows["awm-transformer/sequential"]["time_s"] / rows["awm-transformer"]["time_s"]
            )
    report = {
        "machine": {
            **_machine(),
            "matmul_peak_flops": max(peak, peak_after),
            "matmul_peak_flops_before_after": [peak, peak_after],
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
        },
        "config": {
            "env": "hiv_treatment",
            "sizes": args.sizes,
            "batch": args.batch,
            "episodes": args.episodes,
            "repeats": repeats,
            "horizons": horizons,
        },
        "speedup_teacher_forced": speedups,
        "results": results,
    }
    write_report(report, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

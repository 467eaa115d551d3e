"""What bounds the teacher-forced model update on a CPU: its matmul shapes, or the rest?

BPO on the authors' schedule spends most of its time in one kind of call: the model update,
``jit(value_and_grad(mean loss))`` of the transformer Actions World Model over 64 stored episodes
(``H = 100``, HIV treatment). ``benchmarks/policy_gradient.py`` reports its FLOP rate as a fraction
of the machine's matmul peak (a ``2048^3`` float32 matmul). This script explains that fraction with
three interleaved measurements (A, B, C, ... then again; medians of ``--repeats``):

- ``update/W``: the update at embedding widths ``W`` (default 48, the library's default, and wider;
  block MLP ``4 W``): its XLA FLOP count, time and peak fraction. If the fraction grows with ``W``,
  the small width, not the program, keeps the update from the peak.
- ``matmul/...``: each matmul the default update performs, alone, at its own shape (tokens
  ``M = episodes * (H + 1)``; per layer q/k/v, output projection, the two block-MLP layers, the
  attention scores and values per episode and head), its FLOP rate as a fraction of the peak: the
  best the update's matmuls can do on this machine.
- ``matmul_share``: the forward matmuls' times, times three (a forward and two backward matmuls of the
  same sizes per weight), times the depth, over the update's time: the share of the update a perfect
  program would still spend in matmuls at these shapes; the rest is layer norms, softmax, activations,
  the MLP encoders, the loss, and XLA's per-op overhead.

Run (CPU, ~3 minutes)::

    python benchmarks/model_update_bound.py --out benchmarks/results/model_update_bound_cpu.json
"""

import argparse
import json
import os
import sys

import equinox as eqx
import jax
import jax.numpy as jnp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from policy_gradient import _data, _flops, _machine, interleave, matmul_peak, write_report  # noqa: E402

import awmkit  # noqa: E402
from awmkit.models import ActionsModel, TransformerBackbone  # noqa: E402


def _update_call(env, width: int, episodes: int, key):
    kd, km, kb = jax.random.split(key, 3)
    data = _data(env, kd, episodes)
    backbone = TransformerBackbone(width, env.state_dim, env.horizon + 1, mlp_width=4 * width, key=kb)
    model = ActionsModel(
        env.state_dim, env.action_dim, env.horizon, embed_size=width, backbone=backbone, key=km
    )
    model = awmkit.models.fit_normaliser(model, data)
    params, static = eqx.partition(model, awmkit.models.trainable_filter(model))

    def loss(params, data):
        return jnp.mean(jax.vmap(eqx.combine(params, static).loss)(data))

    compiled = jax.jit(jax.value_and_grad(loss)).lower(params, data).compile()
    jax.block_until_ready(compiled(params, data))
    t = model.backbone.transformer
    return (lambda: jax.block_until_ready(compiled(params, data))), _flops(compiled), t.depth, t.num_heads


def _matmul_call(batch: int, m: int, k: int, n: int, key):
    """``(batch,) m x k @ k x n`` float32, as one jitted call; its FLOPs."""
    ka, kb = jax.random.split(key)
    a = jax.random.normal(ka, (batch, m, k), jnp.float32)
    b = jax.random.normal(kb, (batch, k, n), jnp.float32)
    f = jax.jit(lambda a, b: jnp.einsum("bmk,bkn->bmn", a, b)).lower(a, b).compile()
    jax.block_until_ready(f(a, b))
    return (lambda: jax.block_until_ready(f(a, b))), 2.0 * batch * m * k * n


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[48, 96, 192, 384])
    parser.add_argument("--horizon", type=int, default=100)
    parser.add_argument("--episodes", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--peak-size", type=int, default=2048)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    key = jax.random.key(0)
    env = awmkit.envs.make("hiv_treatment", horizon=args.horizon)
    peak = matmul_peak(args.peak_size)

    rows, calls = [], []
    depth = heads = None
    for width in args.widths:
        call, flops, d, h = _update_call(env, width, args.episodes, key)
        if width == args.widths[0]:
            depth, heads = d, h
        rows.append({"row": f"update/{width}", "width": width, "flops": flops})
        calls.append(call)
    w = args.widths[0]
    m, t, hd = args.episodes * (args.horizon + 1), args.horizon + 1, args.widths[0] // heads
    shapes = {  # the default width's forward matmuls of one layer: (batch, m, k, n)
        "qkv": (1, m, w, 3 * w),
        "out_projection": (1, m, w, w),
        "mlp_up": (1, m, w, 4 * w),
        "mlp_down": (1, m, 4 * w, w),
        "attention_scores": (args.episodes * heads, t, hd, t),
        "attention_values": (args.episodes * heads, t, t, hd),
    }
    for name, shape in shapes.items():
        call, flops = _matmul_call(*shape, key)
        rows.append({"row": f"matmul/{name}", "shape": list(shape), "flops": flops})
        calls.append(call)
    interleave(rows, calls, args.repeats)
    peak = max(peak, matmul_peak(args.peak_size))
    for row in rows:
        row["gflops_per_s"] = row["flops"] / row["time_s"] / 1e9
        row["peak_fraction"] = row["flops"] / row["time_s"] / peak
    update = rows[0]
    matmul_rows = [r for r in rows if r["row"].startswith("matmul/")]
    matmul_s = 3 * depth * sum(r["time_s"] for r in matmul_rows)
    matmul_flops = 3 * depth * sum(r["flops"] for r in matmul_rows)
    report = {
        "benchmark": "model_update_bound",
        "machine": {
            **_machine(),
            "matmul_peak_flops": peak,
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
        },
        "config": {
            "env": "hiv_treatment",
            "model": "awm-transformer (block MLP 4 W)",
            "horizon": args.horizon,
            "episodes": args.episodes,
            "depth": depth,
            "heads": heads,
            "repeats": args.repeats,
            "interleaved": True,
        },
        "matmul_share": {
            "width": w,
            "matmul_time_s": matmul_s,
            "update_time_s": update["time_s"],
            "share_of_time": matmul_s / update["time_s"],
            "matmul_flops": matmul_flops,
            "share_of_flops": matmul_flops / update["flops"],
            "matmul_peak_fraction": matmul_flops / matmul_s / peak,
        },
        "results": [{k: v for k, v in r.items() if k != "times_s"} | {"times_s": r["times_s"]} for r in rows],
    }
    write_report(report, args.out)
    print(
        json.dumps({r["row"]: round(r["peak_fraction"], 3) for r in rows}),
        json.dumps(
            {k: round(v, 3) if isinstance(v, float) else v for k, v in report["matmul_share"].items()}
        ),
        f"(medians of {args.repeats}, interleaved)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Time per generated token of the transformer world models' KV-cache decoding, before and after the
copy-free cache layout.

One measurement generates ``H + 1`` tokens (an Actions World Model's state token and ``H`` action
tokens) through the paper's transformer (width 72, 2 layers, 3 heads, MLP 64) for a batch of 16
sequences (``vmap``, the policy-gradient batch), in one jitted ``lax.scan`` per segment, and divides
the median wall time by ``H + 1``. Variants, timed interleaved (A, B, C, ... then again):

- ``before``: the previous layout, kept here verbatim for comparison: one stacked cache
  ``(depth, length, heads, head)`` of the full length, three separate q/k/v projections, every token
  attending over all ``H + 1`` positions (masked). XLA copies and transposes each layer's keys and
  values out of the stacked buffer at every token.
- ``layout``: the library's cache (one head-major ``(heads, length, head)`` buffer per layer, fused
  q/k/v) at full length, one segment: the effect of the layout alone.
- ``after``: the library's generation: the layout plus segments with a growing cache
  (``awmkit.nn.cache_lengths``), so each token attends over about its prefix.

``--unroll`` adds ``after`` with ``lax.scan(..., unroll=u)`` for ``H <= --unroll-up-to`` (unrolled
segments compile for minutes at ``H = 500`` on a CPU). Run (CPU, ~5 minutes)::

    python benchmarks/generation.py --out benchmarks/results/generation_cpu.json

The JSON has the machine, the load average before and after, the repeat count, and per (variant,
H, unroll) the compile time, the median time per token and all repeats.
"""

import argparse
import json
import math
import os
import statistics
import sys
import time

import jax
import jax.numpy as jnp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from policy_gradient import _machine, write_report  # noqa: E402

from awmkit.nn import CausalTransformer, cache_lengths  # noqa: E402
from awmkit.nn._transformer import _layer_norm, _linear  # noqa: E402


def _before_step(transformer, x, keys, values, index):
    """The previous decode step, verbatim in effect: stacked ``(depth, L, heads, head)`` cache,
    separate projections (slices of the fused weight), attention over the whole cache."""
    x = x + jax.lax.dynamic_index_in_dim(transformer.position, index, keepdims=False)
    zero = jnp.zeros((), jnp.int32)
    for layer, block in enumerate(transformer.blocks):
        att = block.attention
        h = _layer_norm(x, block.ln_attn)
        w, b, d = att.qkv_proj.weight, att.qkv_proj.bias, att.width
        q, k, v = (
            (w[i * d : (i + 1) * d] @ h + b[i * d : (i + 1) * d]).reshape(att.num_heads, -1) for i in range(3)
        )
        position = (zero + layer, index, zero, zero)
        keys = jax.lax.dynamic_update_slice(keys, k[None, None], position)
        values = jax.lax.dynamic_update_slice(values, v[None, None], position)
        logits = jnp.einsum("hd,lhd->hl", q, keys[layer]) / math.sqrt(att.head_size)
        visible = jnp.arange(keys.shape[1]) <= index
        weights = jax.nn.softmax(jnp.where(visible[None], logits, -jnp.inf), axis=-1)
        out = jnp.einsum("hl,lhd->hd", weights, values[layer]).reshape(d)
        x = x + _linear(out, att.out_proj)
        x = x + block._mlp(x)
    return _layer_norm(x, transformer.ln_final), keys, values


def generate(variant: str, transformer: CausalTransformer, tokens, unroll: int = 1):
    """The outputs of decoding ``tokens`` (``(L, width)``) one at a time with the given variant."""
    length = tokens.shape[0]
    if variant == "before":
        head = transformer.width // transformer.num_heads
        zeros = jnp.zeros((transformer.depth, length, transformer.num_heads, head), tokens.dtype)

        def body(carry, inputs):
            keys, values = carry
            index, token = inputs
            out, keys, values = _before_step(transformer, token, keys, values, index)
            return (keys, values), out

        return jax.lax.scan(body, (zeros, zeros), (jnp.arange(length), tokens), unroll=unroll)[1]
    lengths = (length,) if variant == "layout" else cache_lengths(length)

    def body(cache, token):
        out, cache = transformer.decode(token, cache)
        return cache, out

    cache, outs, start = transformer.init_cache(lengths[0], tokens.dtype), [], 0
    for end in lengths:
        cache = cache if cache.length == end else transformer.grow_cache(cache, end)
        cache, out = jax.lax.scan(body, cache, tokens[start:end], unroll=unroll)
        outs.append(out)
        start = end
    return jnp.concatenate(outs)


def build(horizon: int, batch: int, key=0):
    transformer = CausalTransformer(72, 2, 3, 64, horizon + 1, key=jax.random.key(key))
    tokens = jax.random.normal(jax.random.key(key + 1), (batch, horizon + 1, 72))
    return transformer, tokens


def measure(horizons, batch, repeats, unrolls, unroll_up_to=100, log=sys.stderr) -> list[dict]:
    rows = []
    for horizon in horizons:
        transformer, tokens = build(horizon, batch)
        reference = jax.jit(jax.vmap(transformer))(tokens)
        variants = [("before", 1), ("layout", 1), ("after", 1)]
        if horizon <= unroll_up_to:  # unrolled segments compile slowly (minutes at H = 500 on a CPU)
            variants += [("after", u) for u in unrolls if u != 1]
        fns = {}
        for variant, unroll in variants:
            fn = jax.jit(jax.vmap(lambda t, v=variant, u=unroll, m=transformer: generate(v, m, t, u)))
            start = time.perf_counter()
            out = jax.block_until_ready(fn(tokens))
            compile_s = time.perf_counter() - start
            error = float(jnp.max(jnp.abs(out - reference)))
            if error > 1e-3:
                raise AssertionError(f"{variant} at H={horizon} differs from the parallel pass by {error}")
            fns[(variant, unroll)] = (fn, compile_s, error)
        times = {k: [] for k in fns}
        for _ in range(repeats):
            for k, (fn, _, _) in fns.items():
                start = time.perf_counter()
                jax.block_until_ready(fn(tokens))
                times[k].append(time.perf_counter() - start)
        for (variant, unroll), (_, compile_s, error) in fns.items():
            ts = times[(variant, unroll)]
            row = {
                "variant": variant,
                "horizon": horizon,
                "unroll": unroll,
                "batch": batch,
                "compile_s": round(compile_s, 3),
                "us_per_token": statistics.median(ts) / (horizon + 1) * 1e6,
                # The best repeat: on a shared machine the least disturbed by other jobs.
                "us_per_token_min": min(ts) / (horizon + 1) * 1e6,
                "times_s": ts,
                "max_abs_error_vs_parallel": error,
            }
            rows.append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "times_s"}), file=log, flush=True)
    return rows


def summary(rows) -> dict:
    horizons = sorted({r["horizon"] for r in rows})
    out = {}
    for stat in ("us_per_token", "us_per_token_min"):
        per = {(r["variant"], r["horizon"], r["unroll"]): r[stat] for r in rows}
        tag = "" if stat == "us_per_token" else "_min"
        for variant in ("before", "layout", "after"):
            if (variant, 100, 1) in per and (variant, 500, 1) in per:
                out[f"{variant}_ratio_H500_over_H100{tag}"] = per[(variant, 500, 1)] / per[(variant, 100, 1)]
        for h in horizons:
            if ("before", h, 1) in per and ("after", h, 1) in per:
                out[f"speedup_after_over_before_H{h}{tag}"] = per[("before", h, 1)] / per[("after", h, 1)]
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--horizons", type=int, nargs="+", default=[20, 100, 500])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--unroll", type=int, nargs="*", default=[2, 4])
    parser.add_argument("--unroll-up-to", type=int, default=100, help="largest H timed with --unroll")
    parser.add_argument("--out", default=None, help="JSON file (default: print only)")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    rows = measure(args.horizons, args.batch, args.repeats, args.unroll, args.unroll_up_to)
    report = {
        "machine": {**_machine(), "load_average_before": load_before, "load_average_after": os.getloadavg()},
        "config": {
            "batch": args.batch,
            "repeats": args.repeats,
            "interleaved": True,
            "horizons": args.horizons,
        },
        "summary": summary(rows),
        "results": rows,
    }
    write_report(report, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

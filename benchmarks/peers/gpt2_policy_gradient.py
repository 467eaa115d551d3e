"""Peer comparison: the transformer AWM's one-pass policy gradient in PyTorch + Hugging Face GPT-2.

The same computation as awmkit's ``awm-transformer`` row of ``benchmarks/policy_gradient.py`` (batch
16 of imagined rollouts on HIV treatment's sizes, 6 states, 2 actions): a GPT-2 of the paper's size
(width 72, 2 layers, 3 heads, MLP 64) with linear token embeddings and read-out, a (64, 64) tanh MLP
policy; the rollout is generated without gradient through GPT-2's KV cache (``past_key_values``),
then one teacher-forced pass over the re-computed actions is backpropagated to the policy. The world
model's states here are synthetic (no learned normaliser, no environment reward: a quadratic one),
which changes no cost. It reports the median time of one policy gradient at each H, next to awmkit's
(same process, JAX), so the ratio is measured under the same load.

Runs only when ``torch`` and ``transformers`` are installed (they are not dependencies of awmkit);
otherwise it prints ``{"skipped": ...}`` and exits 0::

    python benchmarks/peers/gpt2_policy_gradient.py --horizons 20 100 500 --threads 1
"""

import argparse
import importlib.util
import json
import os
import statistics
import sys
import time


def _missing() -> str | None:
    for name in ("torch", "transformers"):
        if importlib.util.find_spec(name) is None:
            return name
    return None


def torch_policy_gradient(horizon: int, batch: int, repeats: int, threads: int) -> dict:
    import torch
    from transformers import GPT2Config, GPT2Model

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    state_dim, action_dim, width = 6, 2, 72
    gpt = GPT2Model(GPT2Config(n_embd=width, n_layer=2, n_head=3, n_inner=64, n_positions=horizon + 1,
                               resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0))  # fmt: skip
    state_embed = torch.nn.Linear(state_dim + 1, width)
    action_embed = torch.nn.Linear(action_dim + 1, width)
    head = torch.nn.Linear(width, state_dim)
    policy = torch.nn.Sequential(
        torch.nn.Linear(state_dim, 64), torch.nn.Tanh(), torch.nn.Linear(64, 64), torch.nn.Tanh(),
        torch.nn.Linear(64, action_dim), torch.nn.Tanh(),
    )  # fmt: skip
    for module in (gpt, state_embed, action_embed, head):
        module.requires_grad_(False)
    s0 = torch.randn(batch, state_dim)
    times_k = torch.arange(horizon, dtype=torch.float32) / horizon

    def step():
        with torch.no_grad():  # generation through the KV cache
            out = gpt(inputs_embeds=state_embed(torch.cat([s0, torch.zeros(batch, 1)], -1))[:, None], use_cache=True)
            past, state, states = out.past_key_values, s0, [s0]
            for k in range(horizon):
                a = policy(state)
                token = action_embed(torch.cat([a, times_k[k].expand(batch, 1)], -1))[:, None]
                out = gpt(inputs_embeds=token, past_key_values=past, use_cache=True)
                past = out.past_key_values
                state = s0 + head(out.last_hidden_state[:, -1])
                states.append(state)
        seen = torch.stack(states[:-1], 1)
        actions = policy(seen)  # re-computed with gradient
        tokens = torch.cat([
            state_embed(torch.cat([s0, torch.zeros(batch, 1)], -1))[:, None],
            action_embed(torch.cat([actions, times_k.expand(batch, horizon)[..., None]], -1)),
        ], 1)  # fmt: skip
        predicted = s0[:, None] + head(gpt(inputs_embeds=tokens).last_hidden_state[:, 1:])
        loss = -(predicted**2).sum(-1).mean()
        policy.zero_grad()
        loss.backward()

    step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return {"impl": "pytorch+hf-gpt2", "horizon": horizon, "batch": batch, "threads": threads,
            "time_s": statistics.median(times), "times_s": times}  # fmt: skip


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--horizons", type=int, nargs="+", default=[20, 100, 500])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    missing = _missing()
    if missing is not None:
        print(json.dumps({"skipped": f"{missing} is not installed; this comparison needs torch and transformers"}))
        return 0
    import jax

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import policy_gradient

    load_before = os.getloadavg()
    rows = []
    for horizon in args.horizons:
        rows.append(torch_policy_gradient(horizon, args.batch, args.repeats, args.threads))
        jax_row = policy_gradient._measure("awm-transformer", horizon, args.batch, args.repeats, jax.random.key(0))
        rows.append({"impl": "awmkit-jax", **jax_row})
        rows[-1]["torch_over_awmkit"] = rows[-2]["time_s"] / jax_row["time_s"]
        print(json.dumps(rows[-1]["torch_over_awmkit"]), file=sys.stderr, flush=True)
    report = {"benchmark": "PyTorch + HF GPT-2 vs awmkit, one policy gradient",
              "machine": {**policy_gradient._machine(), "load_average_before": load_before,
                          "load_average_after": os.getloadavg()},
              "results": rows}  # fmt: skip
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

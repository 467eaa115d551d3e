"""Gradient error of each matmul precision policy against float64.

For each world model and policy (``awmkit.nn.MATMUL_PRECISIONS``, plus ``None``: JAX's default), two
gradients are computed in float32 under the policy and once in float64 (the same parameters and data,
cast): the **policy gradient** (BPO's objective without the entropy term, of the policy's mode, batch 16 imagined rollouts
through the model, with respect to the policy's parameters) and the **model-update gradient** (mean
teacher-forced loss of 16 stored episodes, with respect to the model's trainable parameters). The error
is ``|g - g64| / |g64|`` over the whole gradient vector. On a CPU ``"tf32"`` and ``"bf16"`` are emulated
by rounding the operands of the transformer layers' matmuls (the CPU compiler ignores JAX's precision
setting); the other matmuls (MLP heads, encoders, the policy) stay float32 there, and are rounded by
the GPU's compiler on a GPU.

Run (CPU, the documented table; about a minute)::

    python benchmarks/precision_error.py --out benchmarks/results/precision_error_cpu.json

GPU (one H100/H200; the same command with the machine's output folder)::

    PYTHONPATH=$PWD python3 benchmarks/precision_error.py --horizons 100 500 --out $OUT/precision_error_gpu.json

(``benchmarks/gpu_session.sh`` runs it after ``gpu_tune.py``, both in at most 9 minutes; a SIGINT
still writes the rows measured so far, with ``"interrupted": true``.)
"""

import argparse
import json
import os
import platform
import sys

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import awmkit
from awmkit.bpo._train import cast_floats
from awmkit.models import fit_normaliser, trainable_filter
from awmkit.nn import MATMUL_PRECISIONS, matmul_precision
from awmkit.policies import TanhGaussianPolicy


class _Deterministic(eqx.Module):
    """The policy's mode: float32 and float64 runs draw different random numbers from one key, so the
    compared gradients must not sample."""

    policy: TanhGaussianPolicy

    def __call__(self, state, k, key):
        return self.policy.deterministic(state, k)


def _setup(name: str, horizon: int, key: int):
    env = awmkit.envs.make("hiv_treatment", horizon=horizon)
    k_model, k_policy, k_act, k_reset = jax.random.split(jax.random.key(key), 4)
    model = awmkit.models.make(name, env, key=k_model)
    policy = TanhGaussianPolicy(env.state_dim, env.action_dim, horizon, key=k_policy)
    actions = jax.random.uniform(k_act, (16, horizon, env.action_dim), minval=-1.0, maxval=1.0)
    episodes = jax.vmap(lambda a, k: awmkit.envs.rollout(env, a, k))(actions, jax.random.split(k_reset, 16))
    model = fit_normaliser(model, episodes)
    states = episodes.states.reshape(-1, env.state_dim)
    policy = policy.with_normaliser(jnp.mean(states, 0), jnp.std(states, 0))
    return env, model, _Deterministic(policy), episodes


def _gradients(env, model, policy, episodes, key, kinds):
    """The policy gradient and the model-update gradient (those in `kinds`), each flattened to one
    float64 vector."""
    horizon = env.horizon
    s0 = episodes.states[:, 0]
    keys = jax.random.split(key, s0.shape[0])
    p_params, p_static = eqx.partition(policy, eqx.is_inexact_array)
    m_params, m_static = eqx.partition(model, trainable_filter(model))

    def objective(p):
        pol = eqx.combine(p, p_static)
        returns = jax.vmap(lambda s, k: model.policy_objective(pol, s, env.reward, horizon, k)[0])(s0, keys)
        return jnp.mean(returns)

    def loss(m):
        return jnp.mean(jax.vmap(eqx.combine(m, m_static).loss)(episodes))

    def flat(tree):
        return np.concatenate([np.asarray(x, np.float64).ravel() for x in jax.tree.leaves(tree)])

    out = {}
    if "policy" in kinds:
        out["policy_gradient"] = flat(jax.jit(jax.grad(objective))(p_params))
    if "model" in kinds:
        out["model_gradient"] = flat(jax.jit(jax.grad(loss))(m_params))
    return out


def gradient_errors(
    name: str, horizon: int, precisions=(None, *MATMUL_PRECISIONS), key: int = 0, kinds=("policy", "model")
) -> dict:
    """`kinds`: which gradients (``"policy"``, ``"model"``). ``{policy: {"policy_gradient": err, "model_gradient": err}}`` for world model `name` at `horizon`
    (``policy`` as a string, ``"default"`` for ``None``)."""
    env, model, policy, episodes = _setup(name, horizon, key)
    grad_key = jax.random.key(key + 1)
    with jax.enable_x64(True):
        ref = _gradients(*cast_floats((env, model, policy, episodes), jnp.float64), grad_key, kinds)
    out = {}
    for p in precisions:
        with matmul_precision(p):
            got = _gradients(env, model, policy, episodes, grad_key, kinds)
        out["default" if p is None else p] = {
            kind: float(np.linalg.norm(got[kind] - ref[kind]) / np.linalg.norm(ref[kind])) for kind in ref
        }
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["awm-transformer", "hwm-transformer", "markovian"])
    parser.add_argument("--horizons", type=int, nargs="+", default=[20, 100])
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    rows, interrupted = [], False
    try:
        for name in args.models:
            for h in args.horizons:
                for policy, errs in gradient_errors(name, h).items():
                    rows.append({"model": name, "horizon": h, "precision": policy, **errs})
                    print(
                        f"{name:16s} H={h:4d} {policy:8s} pg {errs['policy_gradient']:.2e}  "
                        f"update {errs['model_gradient']:.2e}",
                        flush=True,
                    )
    except KeyboardInterrupt:  # SIGINT from a time limit (benchmarks/gpu_session.sh): keep the rows so far
        interrupted = True
    report = {
        "interrupted": interrupted,
        "benchmark": "gradient error of each matmul precision policy against float64",
        "machine": {
            "platform": platform.platform(),
            "python": sys.version.split()[0],
            "jax": jax.__version__,
            "backend": jax.default_backend(),
            "device": str(jax.devices()[0].device_kind),
            "load_average": os.getloadavg(),
        },
        "results": rows,
    }
    if args.out:
        os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(report, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

# ruff: noqa: B023, E741  (closures are traced at once, inside their loop iteration)
"""SHA-256 of the optimised HLO that XLA compiles for one policy gradient and one model update
(awm-transformer and markovian, H = 100 and 500), with source locations stripped: equal hashes in two
trees mean the same CPU program, so neither can be slower.

    PYTHONPATH=/tmp/before python benchmarks/hlo_identity.py > before.json
    PYTHONPATH=$PWD python benchmarks/hlo_identity.py > after.json
"""

import hashlib
import json
import re

import equinox as eqx
import jax
import jax.numpy as jnp

import awmkit
from awmkit.models import fit_normaliser, trainable_filter
from awmkit.policies import TanhGaussianPolicy

out = {}
for name in ("awm-transformer", "markovian"):
    for h in (100, 500):
        env = awmkit.envs.make("hiv_treatment", horizon=h)
        model = awmkit.models.make(name, env, key=jax.random.key(0))
        policy = TanhGaussianPolicy(env.state_dim, env.action_dim, h, key=jax.random.key(1))
        eps = jax.vmap(lambda a, k: awmkit.envs.rollout(env, a, k))(
            jnp.zeros((4, h, env.action_dim)), jax.random.split(jax.random.key(2), 4)
        )
        model = fit_normaliser(model, eps)
        pp, ps = eqx.partition(policy, eqx.is_inexact_array)
        mp, ms = eqx.partition(model, trainable_filter(model))

        def pg(p):
            pol = eqx.combine(p, ps)
            return jnp.mean(
                jax.vmap(lambda s, k: model.policy_objective(pol, s, env.reward, h, k)[0])(
                    eps.states[:, 0], jax.random.split(jax.random.key(3), 4)
                )
            )

        def up(m):
            return jnp.mean(jax.vmap(eqx.combine(m, ms).loss)(eps))

        for kind, f, x in (("pg", pg, pp), ("update", up, mp)):
            text = re.sub(r", metadata=\{[^}]*\}", "", jax.jit(jax.grad(f)).lower(x).compile().as_text())
            text = "\n".join(
                l for l in text.splitlines() if l.startswith(("%", "ENTRY", " ", "}", "HloModule"))
            )
            out[f"{name}/{kind}/H{h}"] = hashlib.sha256(text.encode()).hexdigest()[:16]
print(json.dumps(out))

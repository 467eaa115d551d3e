"""Your own world model in BPO: an Actions World Model whose sequence network is a GRU you wrote.

Any awmkit.models.AbstractWorldModel can be passed to awmkit.bpo.train: a name, an instance (every seed
starts from it) or a factory key -> model (each seed its own initialisation, as here). The quickest way to
a new architecture is a new backbone inside awmkit.models.ActionsModel: a causal map from tokens
(T, in_size) to predictions (T, out_size), run all at once (__call__) and token by token (step).
"""

from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp

import awmkit


class GRUBackbone(awmkit.models.AbstractBackbone):
    """One GRU layer over the action tokens and a linear read-out of its state."""

    cell: eqx.nn.GRUCell
    readout: eqx.nn.Linear
    in_size: int = eqx.field(static=True)
    out_size: int = eqx.field(static=True)
    max_length: None = eqx.field(static=True)
    parallel: ClassVar[bool] = False  # __call__ is a scan of step

    def __init__(self, in_size: int, out_size: int, hidden: int = 64, *, key):
        k1, k2 = jax.random.split(key)
        self.cell = eqx.nn.GRUCell(in_size, hidden, key=k1)
        self.readout = eqx.nn.Linear(hidden, out_size, key=k2)
        self.in_size, self.out_size, self.max_length = in_size, out_size, None

    def init_carry(self, length, dtype):
        return jnp.zeros(self.cell.hidden_size, dtype)

    def step(self, token, carry):
        # mark_application: lets awmkit.diagnostics count gradient paths through your network.
        h = awmkit.models.mark_application(self.cell(token, carry))
        return self.readout(h), h

    def __call__(self, tokens):
        def body(h, token):
            out, h = self.step(token, h)
            return h, out

        return jax.lax.scan(body, self.init_carry(tokens.shape[0], tokens.dtype), tokens)[1]


env = awmkit.envs.make("timber_harvest", horizon=50)


def my_model(key):
    kb, km = jax.random.split(key)
    backbone = GRUBackbone(in_size=48, out_size=env.state_dim, key=kb)  # in_size = the model's embed_size
    return awmkit.models.ActionsModel(env.state_dim, env.action_dim, env.horizon, backbone=backbone, key=km)


config = awmkit.bpo.BPOConfig(steps=2000, warmup_steps=500, policy_lr=1e-3, eval_interval=500, chunk_size=10)
result = awmkit.bpo.train(env, config, model=my_model, key=0, seeds=3, out="runs/gru-awm")

print(
    f"{type(my_model(jax.random.key(0)).backbone).__name__} inside an ActionsModel, 3 seeds, timber_harvest H=50"
)
for step, returns in zip(result.eval_steps, result.eval_returns):
    print(f"  step {int(step):5d}: {returns.mean():8.3f}   seeds {' '.join(f'{r:8.3f}' for r in returns)}")
print(f"wall time {result.wall_time_s:.0f} s; score it with: awmkit results {result.out}")

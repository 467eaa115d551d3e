"""Writing your own world-model backbone: a long causal convolution inside an Actions World Model.

An Actions World Model ``s_hat_{t+1} = g(s_0, a_0, ..., a_t)`` takes its sequence network from an
``awmkit.models.AbstractBackbone``: a causal map from tokens ``(T, in_size)`` to outputs
``(T, out_size)``, runnable all at once (``__call__``) and token by token (``init_carry`` then ``step``).
This script writes a *long convolution* backbone (the token mixing of SSM- and Hyena-style models):

    y_t = sum_{j <= t} K[t - j] * E(x_j),        output_t = MLP(y_t),

with a learned filter ``K`` as long as the sequence, so every prediction sees every earlier action in a
single application of the network. It then checks that the two ways of running it agree, trains the
resulting AWM offline on random ``cancer_treatment`` trajectories (Appendix D style), and reads the
gradient-path lengths off the traced computation: one model application from every action to every
prediction, as for the transformer.

Run ``python examples/custom_backbone.py --quick``.
"""

import argparse
import json
import pathlib
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt

import awmkit
from awmkit._graph import mark_application


class LongConvBackbone(awmkit.models.AbstractBackbone):
    """A causal long convolution over embedded tokens followed by an MLP read-out.

    **Arguments:**

    - `in_size`: the token width (the model's ``embed_size``).
    - `out_size`: the output size (``state_dim``).
    - `max_length`: the longest sequence (the filter's length).
    - `width`: channels of the convolution (default 64).
    - `key`: a PRNG key (keyword-only).
    """

    embed: eqx.nn.Linear
    kernel: jax.Array
    readout: eqx.nn.MLP
    in_size: int = eqx.field(static=True)
    out_size: int = eqx.field(static=True)
    max_length: int = eqx.field(static=True)
    parallel: ClassVar[bool] = True  # __call__ processes all tokens at once

    def __init__(self, in_size: int, out_size: int, max_length: int, width: int = 64, *, key):
        k1, k2, k3 = jax.random.split(key, 3)
        self.embed = eqx.nn.Linear(in_size, width, key=k1)
        # A decaying random filter: recent tokens weigh more at initialisation.
        decay = jnp.exp(-jnp.arange(max_length) / 16.0)[:, None]
        self.kernel = decay * jax.random.normal(k2, (max_length, width)) / jnp.sqrt(width)
        self.readout = eqx.nn.MLP(width, out_size, width_size=64, depth=1, activation=jax.nn.gelu, key=k3)
        self.in_size, self.out_size, self.max_length = in_size, out_size, max_length

    def __call__(self, tokens):
        length = tokens.shape[0]
        u = jax.vmap(self.embed)(tokens)  # (T, width)
        lag = jnp.arange(length)[:, None] - jnp.arange(length)[None, :]  # t - j
        filt = jnp.where((lag >= 0)[..., None], self.kernel[jnp.clip(lag, 0, None)], 0.0)  # (T, T, width)
        y = jnp.einsum("tjw,jw->tw", filt, u)
        return mark_application(jax.vmap(self.readout)(y))

    def init_carry(self, length, dtype):
        return jnp.zeros((length, self.kernel.shape[1]), dtype), jnp.zeros((), jnp.int32)

    def step(self, token, carry):
        buffer, position = carry
        buffer = buffer.at[position].set(self.embed(token))
        lag = position - jnp.arange(buffer.shape[0])
        weights = jnp.where((lag >= 0)[:, None], self.kernel[jnp.clip(lag, 0, self.max_length - 1)], 0.0)
        out = mark_application(self.readout(jnp.sum(weights * buffer, axis=0)))
        return out, (buffer, position + 1)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller offline training budget")
    parser.add_argument("--out", default="docs/examples/img/custom_backbone.png")
    args = parser.parse_args(argv)

    env = awmkit.envs.make("cancer_treatment", horizon=50)
    embed_size = 72
    backbone = LongConvBackbone(embed_size, env.state_dim, env.horizon + 1, key=jax.random.key(0))
    model = awmkit.models.ActionsModel(
        env.state_dim,
        env.action_dim,
        env.horizon,
        backbone=backbone,
        embed_size=embed_size,
        key=jax.random.key(1),
    )

    # The parallel pass and the token-by-token pass must agree.
    tokens = jax.random.normal(jax.random.key(2), (10, embed_size))
    carry = backbone.init_carry(10, tokens.dtype)
    stepped = []
    for token in tokens:
        out, carry = backbone.step(token, carry)
        stepped.append(out)
    mismatch = float(jnp.max(jnp.abs(backbone(tokens) - jnp.stack(stepped))))

    transitions, steps = (5_000, 300) if args.quick else (100_000, 1_000)
    model, losses = awmkit.diagnostics.train_offline(
        model, env, key=jax.random.key(3), transitions=transitions, steps=steps
    )

    # Predictions under fresh random action sequences, against the simulator.
    plans = jax.random.uniform(jax.random.key(4), (3, env.horizon, 1), minval=-1.0, maxval=1.0)
    s0 = env.reset()
    true = jax.vmap(lambda a: awmkit.envs.rollout(env, a).states)(plans)
    predicted = jax.vmap(lambda a: model.rollout_actions(s0, a))(plans)
    error = float(jnp.sqrt(jnp.mean((true - predicted) ** 2)))

    paths = awmkit.diagnostics.gradient_paths(model, 8)
    applications = np.asarray(paths.applications)

    fig, (ax0, ax1, ax2) = plt.subplots(1, 3, figsize=(12, 3.6), constrained_layout=True)
    ax0.semilogy(np.asarray(losses))
    ax0.set(xlabel="Adam step", ylabel="teacher-forced loss", title="offline training")
    t = np.arange(env.horizon + 1) * env.dt
    for i in range(plans.shape[0]):
        ax1.plot(t, true[i, :, 0], color=f"C{i}", lw=1.5)
        ax1.plot(t, predicted[i, :, 0], color=f"C{i}", ls="--", lw=1.5)
    ax1.set(xlabel="time (days)", ylabel="tumour density", title="simulator (solid) vs AWM (dashed)")
    shown = np.where(np.isfinite(applications), applications, np.nan)
    im = ax2.imshow(shown, origin="lower", cmap="magma", vmin=0, vmax=max(2.0, float(np.nanmax(shown))))
    fig.colorbar(im, ax=ax2, label="model applications")
    ax2.set(xlabel="action k", ylabel="prediction t", title="longest gradient path")
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)

    finite = applications[np.isfinite(applications)]
    summary = {
        "parallel_vs_step_max_abs_difference": mismatch,
        "first_loss": float(losses[0]),
        "last_loss": float(losses[-1]),
        "open_loop_rmse": error,
        "gradient_path_lengths": sorted({float(v) for v in finite}),
        "figure": str(out),
    }
    print(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main()

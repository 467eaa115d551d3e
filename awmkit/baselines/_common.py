"""What SAC and the Online DT share on the host: their chunked programs as the shared host loop's
`Loop`, and the trainer arguments only BPO uses (refused here)."""

from collections.abc import Callable, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .. import _fingerprint
from ..envs import Env
from ..runs._host import Chunk, Loop, check_out, run_loop
from ..runs._result import RunResult, check_key, check_loggers, check_seeds, refuse

#: Command-line flags of the run-configuration fields a resume-mismatch message names.
_FLAGS = {"rtg_target": "--target-return", "rtg_scale": "--return-scale", "algo": "--algo"}


def check_common(trainer: str, model, policy, seeds, key, loggers, out, resume):
    """The checks of the shared trainer arguments: ``(seed ids, root key, key record, loggers, run dir)``."""
    why = "only BPO learns through a world model"
    refuse("model", model, trainer, why)
    refuse("policy", policy, trainer, f"{trainer} builds its own policy network from its config")
    seed_ids = check_seeds(seeds)
    root, record = check_key(key)
    return seed_ids, root, record, check_loggers(loggers), check_out(out, resume)


def check_config_fields(
    config,
    *,
    positive_ints: Sequence[str] = (),
    non_negative_ints: Sequence[str] = (),
    unit_interval: Sequence[str] = (),
    positive: Sequence[str] = (),
    non_negative: Sequence[str] = (),
) -> None:
    """The field checks SAC's and the Online DT's configs share: each named field of ``config`` has
    the kind of value its group says, and `warmup_steps` is below `steps`; a one-line ``ValueError``
    names the first field that does not."""
    for name in positive_ints:
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"`{name}` must be a positive integer, got {value!r}")
    for name in non_negative_ints:
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"`{name}` must be a non-negative integer, got {value!r}")
    for name in unit_interval:
        if not 0.0 <= getattr(config, name) <= 1.0:
            raise ValueError(f"`{name}` must lie in [0, 1], got {getattr(config, name)!r}")
    for name in positive:
        if not getattr(config, name) > 0:
            raise ValueError(f"`{name}` must be positive, got {getattr(config, name)!r}")
    for name in non_negative:
        if not getattr(config, name) >= 0:
            raise ValueError(f"`{name}` must be non-negative, got {getattr(config, name)!r}")
    if config.warmup_steps >= config.steps:
        raise ValueError(f"`warmup_steps` ({config.warmup_steps}) must be below `steps` ({config.steps})")


def train_chunked(
    *,
    algo: str,
    label: str,
    title: str,
    env: Env,
    run_config: dict,
    checkpoint_format: str,
    seed_ids: tuple[int, ...],
    root,
    init: Callable,
    train_chunk: Callable,
    evaluate: Callable,
    chunk_sizes: Sequence[int],
    eval_steps: Sequence[int],
    result_extra: dict,
    artifacts: Callable[[Any], dict],
    policy_of: Callable[[Any], Any],
    config,
    out,
    resume: bool,
    progress: bool,
    loggers,
    t0: float,
) -> RunResult:
    """Runs a baseline's vmapped programs through the shared host loop: ``init(seed_keys) -> carry``
    (the warm-up), ``train_chunk(carry, n) -> (carry, stats)`` and ``evaluate(carry) -> returns``; an
    evaluation after the warm-up and after every chunk (``eval_steps`` environment steps)."""
    seed_keys = jnp.stack([jax.random.fold_in(root, s) for s in seed_ids])
    carry_shape = eqx.filter_eval_shape(init, seed_keys)
    eval_steps = [int(s) for s in eval_steps]

    def rows(c: int, carry, stats: dict | None) -> list[dict]:
        returns = np.asarray(evaluate(carry), dtype=np.float64)
        out = []
        for j, s in enumerate(seed_ids):
            row = {"chunk": c, "env_steps": eval_steps[c + 1], "seed": s, "eval_return": float(returns[j])}
            if stats is not None:
                row.update({k: float(v[j]) for k, v in stats.items()})
            out.append(row)
        return out

    def first() -> Chunk:
        carry = eqx.filter_jit(init)(seed_keys)
        return Chunk(carry, rows(-1, carry, None))

    def chunk(carry, c: int) -> Chunk:
        carry, stats = train_chunk(carry, jnp.asarray(chunk_sizes[c], jnp.int32))
        return Chunk(carry, rows(c, carry, jax.tree.map(np.asarray, stats)))

    def result(carry, final, wall: float) -> dict:
        return {
            "algo": algo,
            "env": env.name,
            "model": None,
            "horizon": env.horizon,
            "seeds": len(seed_ids),
            "env_steps": eval_steps[-1],
            "final_return": [float(x) for x in final],
            "wall_time_s": wall,
            **result_extra,
        }

    loop = Loop(
        algo=algo,
        label=label,
        title=title,
        run_config=run_config,
        expected={
            "run": {k: v for k, v in run_config.items() if k != "awmkit_version"},
            "env": _fingerprint.describe(env, values=True),
            "structure": _fingerprint.structure(carry_shape),
            "num_chunks": len(chunk_sizes),
        },
        flags=_FLAGS,
        checkpoint_format=checkpoint_format,
        state_shape=carry_shape,
        seeds=seed_ids,
        num_chunks=len(chunk_sizes),
        total_steps=eval_steps[-1],
        init=first,
        chunk=chunk,
        result=result,
        artifacts=artifacts,
    )
    done = run_loop(loop, out, resume=resume, progress=progress, loggers=loggers, t0=t0)
    return RunResult(
        algo=algo,
        seeds=seed_ids,
        eval_steps=done.eval_steps,
        eval_returns=done.eval_returns,
        final_return=done.final_return,
        wall_time_s=done.wall_time_s,
        out=None if out is None else out.root,
        policy=policy_of(done.state),
        state=done.state,
        config=config,
        info=dict(result_extra),
    )


def filter_scan(body, carry, length: int):
    """``lax.scan`` over a carry that holds non-array leaves (activation functions in the MLPs)."""
    dynamic, static = eqx.partition(carry, eqx.is_array)

    def f(d, x):
        c, out = body(eqx.combine(d, static), x)
        return eqx.partition(c, eqx.is_array)[0], out

    dynamic, out = jax.lax.scan(f, dynamic, None, length=length)
    return eqx.combine(dynamic, static), out


def filter_scan_xs(body, carry, xs):
    """``lax.scan`` of ``body(carry, x)`` over ``xs`` with such a carry; returns the final carry."""
    dynamic, static = eqx.partition(carry, eqx.is_array)

    def f(d, x):
        c, out = body(eqx.combine(d, static), x)
        return eqx.partition(c, eqx.is_array)[0], out

    dynamic, _ = jax.lax.scan(f, dynamic, xs)
    return eqx.combine(dynamic, static)

"""Host-side helpers shared by the SAC and Online DT loops: run directory, checkpoints with a JSON header,
resume bookkeeping and the progress bar (the same format as BPO's, see ``awmkit/bpo/_run.py``)."""

import contextlib
import io
import json
import pathlib
import time
from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .. import _fingerprint
from .._progress import Progress
from ..bpo._run import CheckpointError, _RunDir
from ..bpo._rundir import read_checkpoint_file

#: Command-line flags of the run-configuration fields a resume-mismatch message names.
_FLAGS = {"rtg_target": "--rtg", "rtg_scale": "--rtg", "algo": "--algo"}


def structure_hash(tree) -> str:
    """A hash of a pytree's classes, static fields, leaf shapes and dtypes (the same in every process)."""
    return _fingerprint.structure(tree)


def _is_key(x) -> bool:
    return hasattr(x, "dtype") and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _raw_keys(tree):
    """Typed PRNG keys replaced by their raw data (serialisation stores plain arrays only)."""
    return jax.tree.map(lambda x: jax.random.key_data(x) if _is_key(x) else x, tree)


def _typed_keys(tree, like):
    return jax.tree.map(lambda x, ref: jax.random.wrap_key_data(x) if _is_key(ref) else x, tree, like)


class RunDir(_RunDir):
    """BPO's run directory (``config.json``, ``metrics.jsonl``, ``result.json``, ``checkpoints/``) with a
    checkpoint format of its own."""

    def __init__(self, out: pathlib.Path, checkpoint_format: str):
        super().__init__(out)
        self.format = checkpoint_format
        #: ``result.json`` when the resumed run had already finished (nothing is then trained or written).
        self.finished: dict | None = None

    def read_checkpoint(self, expected: dict, like):
        """The header and the state of the checkpoint, refused with what differs when ``expected`` (the
        header's ``run`` and ``structure`` entries of this run) does not match."""
        path = self.checkpoint
        header, payload = read_checkpoint_file(path, self.format)
        mismatch = _fingerprint.mismatch_message(
            path, {k: header.get(k) for k in expected}, expected, flags=_FLAGS
        )
        if mismatch:
            raise CheckpointError(mismatch)
        is_shape = lambda x: isinstance(x, jax.ShapeDtypeStruct)
        dynamic, static = eqx.partition(like, is_shape, is_leaf=is_shape)
        raw_like = jax.eval_shape(_raw_keys, dynamic)
        raw = eqx.tree_deserialise_leaves(io.BytesIO(payload), eqx.combine(raw_like, static))
        raw_dynamic = eqx.partition(raw, eqx.is_array)[0]
        return header, eqx.combine(_typed_keys(raw_dynamic, dynamic), static)

    def save_state(self, header: dict, state) -> None:
        """An atomic checkpoint of ``state`` (typed PRNG keys stored as their raw data): a JSON header
        line with the payload's hash, then the serialised leaves."""
        self.write_checkpoint(header, _raw_keys(state))

    def eval_history(self, seeds: int) -> list[tuple[int, np.ndarray]]:
        """The evaluations recorded in ``metrics.jsonl``, in order: ``(env_steps, returns per seed)``."""
        by_step: dict[int, np.ndarray] = {}
        if self.metrics.exists():
            for line in self.metrics.read_text().splitlines():
                row = json.loads(line)
                if "eval_return" in row:
                    by_step.setdefault(row["env_steps"], np.full(seeds, np.nan))[row["seed"]] = row[
                        "eval_return"
                    ]
        return sorted(by_step.items())


def plot_curve(path: pathlib.Path, label: str, title: str, steps: np.ndarray, returns: np.ndarray) -> None:
    """``learning_curve.png``: the mean evaluation return over seeds with a one-standard-deviation band
    (skipped when matplotlib, an optional extra, is missing)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, ax = plt.subplots(figsize=(5, 3.5))
    mean, std = returns.mean(axis=1), returns.std(axis=1)
    ax.plot(steps, mean, label=f"{label} ({returns.shape[1]} seeds)")
    ax.fill_between(steps, mean - std, mean + std, alpha=0.3)
    ax.set_xlabel("environment steps")
    ax.set_ylabel("evaluation return")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run_chunks(
    *,
    out: "RunDir | None",
    resume: bool,
    run_config: dict,
    checkpoint_format: str,
    init,
    seed_keys,
    train_chunk,
    evaluate,
    chunk_sizes: Sequence[int | np.integer],
    eval_steps: Sequence[int | np.integer],
    seeds: int,
    progress: bool,
    t0: float,
    env=None,
):
    """The host loop of SAC and the Online DT: initialise (or resume from the last checkpoint), then run
    the compiled chunks, evaluating, logging to ``metrics.jsonl`` and checkpointing after each one.

    ``init(seed_keys) -> carry`` and ``train_chunk(carry, n) -> (carry, stats)`` are the vmapped programs;
    ``evaluate(carry) -> per-seed returns``. Returns ``(carry, steps, returns, t0)`` with the evaluation
    history as arrays and ``t0`` moved back by the time a resumed run had already spent. ``env`` (its
    parameters) joins the run's fingerprint. When the resumed run had already finished, ``out.finished``
    holds its ``result.json`` and nothing on disk is changed.
    """
    bar = Progress(int(eval_steps[-1]), enabled=progress, name=f"awmkit {run_config.get('algo', 'train')}")
    with contextlib.closing(bar):
        return _run_chunks(
            out, resume, run_config, checkpoint_format, init, seed_keys, train_chunk, evaluate,
            chunk_sizes, eval_steps, seeds, bar, t0, env,
        )  # fmt: skip


def _run_chunks(
    out, resume, run_config, checkpoint_format, init, seed_keys, train_chunk, evaluate, chunk_sizes,
    eval_steps, seeds, bar, t0, env,
):  # fmt: skip
    carry_shape = eqx.filter_eval_shape(init, seed_keys)
    expected = {
        "run": {k: v for k, v in run_config.items() if k != "awmkit_version"},
        **({} if env is None else {"env": _fingerprint.describe(env, values=True)}),
        "structure": structure_hash(carry_shape),
        "num_chunks": len(chunk_sizes),
    }
    history: list[tuple[int, np.ndarray]] = []
    completed, carry = 0, None
    if out is not None and resume and out.checkpoint.exists():
        header, carry = out.read_checkpoint(expected, carry_shape)
        completed = int(header["chunk"])
        out.finished = out.finished_result(completed, len(chunk_sizes))
        t0 -= float(header.get("elapsed_s", 0.0))
        out.truncate_metrics(completed)
        history = out.eval_history(seeds)
    if out is not None:
        out.root.mkdir(parents=True, exist_ok=True)
        out.write_json(out.config, run_config)

    def record(chunk: int, stats: dict | None):
        steps = int(eval_steps[chunk + 1])
        returns = np.asarray(evaluate(carry), dtype=np.float64)
        history.append((steps, returns))
        if out is not None:
            rows = []
            for s in range(seeds):
                row = {"chunk": chunk, "env_steps": steps, "seed": s, "eval_return": float(returns[s])}
                if stats is not None:
                    row.update({k: float(v[s]) for k, v in stats.items()})
                rows.append(row)
            out.append_metrics(rows)
            header = {**expected, "format": checkpoint_format, "chunk": chunk + 1}
            out.save_state({**header, "elapsed_s": time.perf_counter() - t0}, carry)
        if chunk >= 0:  # the speed is measured from the end of the first training chunk
            bar.update(steps, float(np.nanmean(returns)))

    if carry is None:
        with bar.stage("warm-up"):
            carry = eqx.filter_jit(init)(seed_keys)
            record(-1, None)
    for c in range(completed, len(chunk_sizes)):
        with bar.stage("training"):
            carry, stats = train_chunk(carry, jnp.asarray(chunk_sizes[c], jnp.int32))
        record(c, jax.tree.map(np.asarray, stats))
    steps = np.asarray([s for s, _ in history], dtype=np.int64)
    returns = np.stack([r for _, r in history])
    return carry, steps, returns, t0

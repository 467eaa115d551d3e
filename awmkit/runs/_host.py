"""The one host loop of every trainer: lock the run directory, resume or initialise, run the compiled
chunks, append their evaluation rows, checkpoint, draw progress, stop on NaN, feed the loggers, and write
the result and the learning curve."""

import contextlib
import dataclasses
import pathlib
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import _fingerprint, _progress
from ._loggers import AbstractLogger, CloseStatus
from ._plot import plot_learning_curve
from ._rundir import CheckpointError, RunDir, deserialise


class NonFiniteError(RuntimeError):
    """A trainer stopped the whole run on a non-finite loss, gradient or parameter (BPO's
    ``nan_policy="stop_run"``); the run directory keeps the last good checkpoint."""


@dataclasses.dataclass
class Chunk:
    """What a trainer's warm-up or chunk hands the host loop.

    - `state`: the training state after it (checkpointed).
    - `rows`: the metric rows it produced (appended to ``metrics.jsonl`` and logged); an evaluation row
      holds ``chunk``, ``env_steps``, ``seed`` and ``eval_return`` (and ``iteration`` when a chunk
      evaluates more than once).
    - `stop`: a message when the run must stop (non-finite values): the rows are written, the
      checkpoint is not, and [`awmkit.runs.NonFiniteError`][] is raised.
    - `extra`: text shown after the progress bar.
    """

    state: Any
    rows: list[dict]
    stop: str | None = None
    extra: str = ""


@dataclasses.dataclass(frozen=True)
class Loop:
    """How a trainer runs on the host (everything the loop needs to know about it).

    - `algo`, `label`, `title`: names for the progress bar and the learning curve.
    - `run_config`: ``config.json``; `expected`: the checkpoint header's sections that a resumed run
      must match (refused with what differs, ``flags`` naming the option of each run field).
    - `checkpoint_format`, `state_shape`: the checkpoint's format and the state's shapes.
    - `seeds`, `num_chunks`, `total_steps`: the seed indices, chunks and environment steps per seed.
    - `init() -> Chunk` (the warm-up, chunk -1) and `chunk(state, c) -> Chunk`; `resumed(state)` is
      called with a restored state; `stages`: the compiled function names of each (for the
      "compiling" stage of the progress line).
    - `result(state, final_return, wall_time_s) -> dict`: ``result.json``; `artifacts(state)`: extra
      files under ``checkpoints/`` (name -> pytree).
    """

    algo: str
    label: str
    title: str
    run_config: dict
    expected: dict
    flags: dict
    checkpoint_format: str
    state_shape: Any
    seeds: tuple[int, ...]
    num_chunks: int
    total_steps: int
    init: Callable[[], Chunk]
    chunk: Callable[[Any, int], Chunk]
    result: Callable[[Any, np.ndarray, float], dict]
    artifacts: Callable[[Any], dict] = lambda state: {}
    resumed: Callable[[Any], None] = lambda state: None
    stages: tuple[Any, Any] = (None, None)


@dataclasses.dataclass(frozen=True)
class LoopOutput:
    state: Any
    eval_steps: np.ndarray
    eval_returns: np.ndarray
    final_return: np.ndarray
    wall_time_s: float
    finished: dict | None  # result.json of a run that had already finished (nothing was trained)


class _Loggers:
    """The loggers of a run, each dropped with one warning when it raises."""

    def __init__(self, loggers: Sequence[AbstractLogger]):
        self.live = list(loggers)

    def call(self, method: str, *args, **kwargs) -> None:
        for logger in list(self.live):
            try:
                getattr(logger, method)(*args, **kwargs)
            except Exception as e:  # noqa: BLE001 - a logger never stops a run
                if method != "close":
                    self.live.remove(logger)
                what = "dropped" if method != "close" else "failed to close"
                warnings.warn(
                    f"logger {type(logger).__name__} {what} ({method} raised {type(e).__name__}: {e}); "
                    "the run and metrics.jsonl go on",
                    RuntimeWarning,
                    stacklevel=3,
                )


def history(rows: list[dict], seeds: Sequence[int]) -> list[tuple[int, np.ndarray]]:
    """The evaluations in metric rows, in order: ``(env steps, returns per seed)``."""
    groups: dict[tuple, tuple[int, np.ndarray]] = {}
    for row in rows:
        if "eval_return" not in row:  # e.g. a NaN-guard report
            continue
        key = (row.get("chunk", -1), row.get("iteration"))
        steps, returns = groups.setdefault(key, (0, np.full(len(seeds), np.nan)))
        returns[list(seeds).index(row["seed"])] = np.nan if row["eval_return"] is None else row["eval_return"]
        groups[key] = (max(steps, int(row["env_steps"])), returns)
    return list(groups.values())


def run_loop(
    loop: Loop,
    out: RunDir | None,
    *,
    resume: bool,
    progress: bool,
    loggers: Sequence[AbstractLogger],
    t0: float,
) -> LoopOutput:
    """Runs ``loop`` into ``out`` (or in memory), holding the run directory's lock throughout."""
    bar = _progress.Progress(loop.total_steps, enabled=progress, name=f"awmkit {loop.algo}")
    locked = contextlib.nullcontext() if out is None else out.lock()
    with locked, contextlib.closing(bar):
        return _run(loop, out, resume, bar, _Loggers(loggers), t0)


def _restore(loop: Loop, out: RunDir, t0: float):
    """State, completed chunks, finished result, earlier rows and moved ``t0`` of a resumed run."""
    header, payload = out.read_checkpoint(loop.checkpoint_format)
    mismatch = _fingerprint.mismatch_message(
        out.checkpoint, {k: header.get(k) for k in loop.expected}, loop.expected, flags=loop.flags
    )
    if mismatch:
        raise CheckpointError(mismatch)
    state = deserialise(out.checkpoint, payload, loop.state_shape)
    completed = int(header["chunk"])
    finished = None
    if completed >= loop.num_chunks and out.result.exists():
        finished = out.read_json(out.result)
    rows = out.truncate_metrics(completed)
    loop.resumed(state)
    return state, completed, finished, rows, t0 - float(header.get("elapsed_s", 0.0))


def _run(loop: Loop, out: RunDir | None, resume: bool, bar, loggers: _Loggers, t0: float) -> LoopOutput:
    state, completed, finished, rows = None, 0, None, []
    if out is not None:
        out.check(resume)
        if resume and out.checkpoint.exists():
            state, completed, finished, rows, t0 = _restore(loop, out, t0)
        elif resume:
            out.check_metrics_have_checkpoint()
        out.write_json(out.config, loop.run_config)
    evals = history(rows, loop.seeds)
    status: CloseStatus = "failed"
    loggers.call("open", None if out is None else out.root, loop.run_config, resumed=state is not None)
    try:
        if state is None:
            with bar.stage("warm-up", program=loop.stages[0]):
                step = loop.init()
            state = _record(loop, out, step, -1, evals, loggers, bar, t0)
        for c in range(completed, loop.num_chunks):
            with bar.stage("training", program=loop.stages[1]):
                step = loop.chunk(state, c)
            state = _record(loop, out, step, c, evals, loggers, bar, t0)
        status = "finished"
    except NonFiniteError:
        status = "stopped"
        raise
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        loggers.call("close", status)
    return _finish(loop, out, state, evals, finished, t0)


def _record(loop: Loop, out: RunDir | None, step: Chunk, c: int, evals, loggers: _Loggers, bar, t0) -> Any:
    """Appends a chunk's rows, checkpoints (or stops), logs and draws its progress."""
    fresh = history(step.rows, loop.seeds)
    evals.extend(fresh)
    if out is not None:
        out.append_metrics(step.rows)
    loggers.call("log", step.rows)
    if step.stop is not None:
        where = "" if out is None else f"; the last good checkpoint is {out.checkpoint}"
        raise NonFiniteError(step.stop + where)
    if out is not None:
        header = {"format": loop.checkpoint_format, **loop.expected, "chunk": c + 1}
        out.write_checkpoint({**header, "elapsed_s": time.perf_counter() - t0}, step.state)
    if c >= 0 and evals:  # the speed is measured from the end of the first training chunk
        bar.update(int(evals[-1][0]), float(np.nanmean(evals[-1][1])), extra=step.extra)
    return step.state


def _finish(loop: Loop, out: RunDir | None, state, evals, finished: dict | None, t0: float) -> LoopOutput:
    steps = np.asarray([s for s, _ in evals], dtype=np.int64)
    returns = np.stack([r for _, r in evals]) if evals else np.zeros((0, len(loop.seeds)))
    final = returns[-1] if len(evals) else np.full(len(loop.seeds), np.nan)
    wall = time.perf_counter() - t0 if finished is None else float(finished["wall_time_s"])
    if out is not None and finished is None:
        for name, tree in loop.artifacts(state).items():
            out.write_tree(name, tree)
        out.write_json(out.result, loop.result(state, final, wall))
        try:
            plot_learning_curve(out.curve, steps, returns, label=loop.label, title=loop.title)
        except ImportError:
            pass  # matplotlib is an optional extra
    return LoopOutput(state, steps, returns, final, wall, finished)


def check_out(out, resume: bool) -> RunDir | None:
    """The `RunDir` of a trainer's `out` argument, refusing ``resume`` without one, a path that is not
    a directory and a directory holding a run when not resuming (before anything is built)."""
    if out is None:
        if resume:
            raise ValueError("`resume=True` needs `out`, the run directory to resume")
        return None
    if not isinstance(out, (str, pathlib.PurePath)) and not hasattr(out, "__fspath__"):
        raise ValueError(f"`out` must be a path or None, got {type(out).__name__}")
    run_dir = RunDir(out)
    run_dir.check(resume)  # again under the lock: another process may start the run meanwhile
    return run_dir

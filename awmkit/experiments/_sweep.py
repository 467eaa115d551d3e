"""The sweep runner: a list of independent cells, each run into ``out/cells/<name>/``, in-process one after
another (``local``) or as Ray tasks (``ray``, see ``_ray.py``).

Faults: the cell list is recorded in ``out/sweep.json`` first, so a resumed sweep can refuse a different
grid; a cell is finished when its ``result.json`` is complete (written atomically, last), so a resumed
sweep skips exactly the finished cells and continues every other one from its own checkpoint; a cell that
raises is recorded in ``out/cells/<name>/error.json`` and the others go on.
"""

import contextlib
import dataclasses
import json
import os
import pathlib
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from ._attempts import CellOutcome, attempt_cell, count_attempts, write_error, write_json
from ._cell import Cell, LoggerSpec, check_logger_specs, read_result
from ._ray import check_ray, ray_cluster, run_ray

_FORMAT = "awmkit-sweep-v1"
BACKENDS = ("local", "ray")


@dataclasses.dataclass(frozen=True)
class SweepResult:
    """Every cell of a sweep exactly once, in the order given, with the sweep directory and wall time."""

    outcomes: tuple[CellOutcome, ...]
    out: pathlib.Path
    backend: str
    wall_time_s: float

    @property
    def done(self) -> tuple[CellOutcome, ...]:
        return tuple(o for o in self.outcomes if o.status == "done")

    @property
    def failed(self) -> tuple[CellOutcome, ...]:
        return tuple(o for o in self.outcomes if o.status == "failed")

    def __getitem__(self, name: str) -> CellOutcome:
        for o in self.outcomes:
            if o.cell.name == name:
                return o
        raise KeyError(f"no cell named {name!r} in this sweep")

    def to_dict(self) -> dict[str, Any]:
        return {
            "out": str(self.out),
            "backend": self.backend,
            "wall_time_s": self.wall_time_s,
            "cells": [o.to_dict() for o in self.outcomes],
        }


# --- the sweep directory ---------------------------------------------------------------------------


def _describe_differences(saved: list[dict], cells: Sequence[Cell]) -> str:
    old = {c["name"]: c for c in saved}
    new = {c.name: c.to_dict() for c in cells}
    parts = []
    if added := [n for n in new if n not in old]:
        parts.append(f"cells not in it: {', '.join(added)}")
    if removed := [n for n in old if n not in new]:
        parts.append(f"cells missing here: {', '.join(removed)}")
    for name in (n for n in new if n in old and new[n] != old[n]):
        changed = [k for k in new[name] if new[name].get(k) != old[name].get(k)]
        fields = [f"{k} {old[name].get(k)!r} -> {new[name].get(k)!r}" for k in changed]
        parts.append(f"cell {name}: " + ", ".join(fields))
    return "; ".join(parts)


def _open_sweep(cells: Sequence[Cell], out: pathlib.Path, resume: bool, check_only: bool = False) -> None:
    """Checks that `out` may hold this sweep (refusing a different recorded grid), then, unless
    ``check_only``, records the cell list in ``out/sweep.json``."""
    record = out / "sweep.json"
    if out.exists() and not out.is_dir():
        raise ValueError(f"`out` {out} exists and is not a directory")
    if record.exists():
        if not resume:
            raise ValueError(f"`out` {out} already holds a sweep; pass resume=True (--resume) to continue it")
        try:
            saved = json.loads(record.read_text())["cells"]
        except (ValueError, KeyError, TypeError):
            raise ValueError(f"{record} is not an awmkit sweep record (format {_FORMAT})") from None
        if diff := _describe_differences(saved, cells):
            raise ValueError(f"{record} records a different grid, refusing to resume it: {diff}")
    elif (out / "cells").exists() and not resume:
        raise ValueError(f"`out` {out} holds cell directories but no sweep.json; choose another directory")
    if check_only:
        return
    (out / "cells").mkdir(parents=True, exist_ok=True)
    write_json(record, {"format": _FORMAT, "cells": [c.to_dict() for c in cells]})


def _check_args(cells, backend, address, max_retries) -> list[Cell]:
    if isinstance(cells, (str, bytes, Cell)) or not isinstance(cells, Sequence):
        raise ValueError(f"`cells` must be a sequence of awmkit.experiments.Cell, got {type(cells).__name__}")
    cells = list(cells)
    if not cells:
        raise ValueError("`cells` is empty: a sweep needs at least one cell")
    for c in cells:
        if not isinstance(c, Cell):
            raise ValueError(f"`cells` must hold awmkit.experiments.Cell objects, got {type(c).__name__}")
    seen: set[str] = set()
    duplicated = sorted({c.name for c in cells if c.name in seen or seen.add(c.name)})
    if duplicated:
        raise ValueError(f"cell names must be unique within a sweep; repeated: {', '.join(duplicated)}")
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; valid backends are: {', '.join(BACKENDS)}")
    if address is not None and backend != "ray":
        raise ValueError("`address` joins a Ray cluster: it needs backend='ray'")
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise ValueError(f"`max_retries` must be a non-negative integer, got {max_retries!r}")
    return cells


def _summary(outcome: CellOutcome) -> str:
    if outcome.status == "failed":
        return f"FAILED ({outcome.error.splitlines()[0]})"
    returns = outcome.result.get("final_return", [])
    mean = sum(returns) / len(returns) if returns else float("nan")
    return f"done, final return {mean:.6g} in {outcome.result.get('wall_time_s', float('nan')):.1f} s"


class _Reporter:
    """Prints one line per finished cell on stderr."""

    def __init__(self, enabled: bool, total: int):
        self.enabled, self.total, self.count = enabled, total, 0

    def __call__(self, outcome: CellOutcome) -> None:
        self.count += 1
        if self.enabled:
            skipped = " (finished before)" if outcome.attempts == 0 else ""
            retried = f" after {outcome.attempts} attempts" if outcome.attempts > 1 else ""
            print(
                f"[{self.count}/{self.total}] {outcome.cell.name}: {_summary(outcome)}{retried}{skipped}",
                file=sys.stderr,
                flush=True,
            )


def run_sweep(
    cells: Sequence[Cell],
    out: str | os.PathLike,
    *,
    backend: str = "local",
    address: str | None = None,
    resume: bool = False,
    max_retries: int = 2,
    progress: bool = True,
    loggers: Sequence[LoggerSpec] = (),
) -> SweepResult:
    """Runs every cell of a grid into ``out/cells/<name>/`` and returns how each one ended.

    The cell list goes first into ``out/sweep.json``. ``backend="local"`` runs the cells one after
    another in this process; ``backend="ray"`` submits each as a Ray task requesting the cell's
    ``num_cpus`` / ``num_gpus`` (fractional GPUs share a device), on a local Ray cluster started for
    the sweep (and shut down after it) or on the cluster at `address`.

    **Faults.** A cell that raises (a bad config, [`awmkit.bpo.NonFiniteError`][] from the NaN guard,
    any exception) fails for good: its error goes to ``out/cells/<name>/error.json`` and the other
    cells go on. A Ray worker that dies inside a cell is retried up to `max_retries` times, and the
    retry resumes the cell from its own checkpoint (every attempt runs with ``resume=True``), so no
    metrics line is repeated. With `resume`, finished cells (a complete ``result.json``) are skipped and
    every other cell continues from its checkpoint: a sweep killed at any moment and resumed ends with
    exactly the results of an uninterrupted one.

    **Arguments:**

    - `cells`: the [`awmkit.experiments.Cell`][]s (unique names).
    - `out`: the sweep directory.
    - `backend`: ``"local"`` or ``"ray"`` (needs ``pip install 'awmkit[ray]'``).
    - `address`: the address of a running Ray cluster to join (``backend="ray"`` only); ``None``
      starts a local one on 127.0.0.1.
    - `resume`: continue the sweep recorded in `out`; refused with what differs if `cells` is not the
      recorded grid. On a directory without a sweep, starts one.
    - `max_retries`: retries of a cell whose Ray worker died (the ``local`` backend runs in this
      process, so a death ends the sweep, and `resume` continues it).
    - `progress`: print one line per finished cell on stderr.
    - `loggers`: names of registered loggers (``"tensorboard"``, ``"wandb"``) or factories
      ``() -> AbstractLogger`` (picklable for Ray): each cell's run gets one fresh logger of each, with
      the cell's configuration as its hyper-parameters (see the Logging page).

    **Returns:** a [`awmkit.experiments.SweepResult`][] listing every cell exactly once.

    **Raises:** ``ValueError`` for bad arguments or a different grid in `out`, before any cell runs.
    """
    t0 = time.perf_counter()
    cells = _check_args(cells, backend, address, max_retries)
    loggers = check_logger_specs(loggers, [c.kind for c in cells])
    if not isinstance(out, (str, os.PathLike)):
        raise ValueError(f"`out` must be a path, got {type(out).__name__}")
    out = pathlib.Path(out)
    if backend == "ray":
        check_ray()  # before anything is written: a missing extra is a one-line error
    _open_sweep(cells, out, resume, check_only=True)  # a refused grid starts no cluster
    report = _Reporter(progress, len(cells))
    outcomes: dict[str, CellOutcome] = {}
    pending = []
    for cell in cells:
        run_dir = out / "cells" / cell.name
        result = read_result(run_dir) if resume else None
        if result is not None:
            outcomes[cell.name] = CellOutcome(cell, "done", result, None, run_dir, 0)
        else:
            pending.append(cell)

    def finished(outcome: CellOutcome) -> None:
        outcomes[outcome.cell.name] = outcome
        report(outcome)

    with contextlib.ExitStack() as stack:
        if backend == "ray" and pending:
            # Connected (and resources checked) before the sweep directory is written.
            ray = stack.enter_context(ray_cluster(pending, address))
        _open_sweep(cells, out, resume)
        for outcome in outcomes.values():
            report(outcome)
        for cell in pending:
            (out / "cells" / cell.name / "error.json").unlink(missing_ok=True)  # retried now
        if backend == "local":
            _run_local(pending, out, finished, loggers)
        elif pending:
            run_ray(pending, out, ray=ray, max_retries=max_retries, on_done=finished, loggers=loggers)
    return SweepResult(tuple(outcomes[c.name] for c in cells), out, backend, time.perf_counter() - t0)


def _run_local(
    cells: Sequence[Cell],
    out: pathlib.Path,
    finished: Callable[[CellOutcome], None],
    loggers: Sequence[LoggerSpec] = (),
) -> None:
    for cell in cells:
        run_dir = out / "cells" / cell.name
        before = count_attempts(run_dir)
        try:
            result = attempt_cell(cell, run_dir, loggers=loggers)
        except Exception as e:  # noqa: BLE001 -- a failed cell must not stop the others
            error = f"{type(e).__name__}: {e}"
            attempts = count_attempts(run_dir) - before
            write_error(run_dir, cell, error, traceback.format_exc(), attempts)
            finished(CellOutcome(cell, "failed", None, error, run_dir, attempts))
            continue
        finished(CellOutcome(cell, "done", result, None, run_dir, count_attempts(run_dir) - before))

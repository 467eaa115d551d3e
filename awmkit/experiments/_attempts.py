"""A cell's attempts inside a sweep, shared by the ``local`` backend (``_sweep.py``) and the ``ray``
backend (``_ray.py``): the attempts file (one line per start of the cell, counted by the driver to tell
retries apart), one attempt (always resuming), the error record of a failed cell and the
[`awmkit.experiments.CellOutcome`][] each backend reports."""

import dataclasses
import json
import os
import pathlib
import socket
import time
from collections.abc import Callable, Sequence
from typing import Any

from ._cell import Cell, LoggerSpec, call_runner, kind_runner

#: File in a cell's run directory with one line per attempt at running it.
ATTEMPTS_FILE = "sweep_attempts.jsonl"


@dataclasses.dataclass(frozen=True)
class CellOutcome:
    """How one cell of a sweep ended.

    **Attributes:**

    - `cell`: the [`awmkit.experiments.Cell`][].
    - `status`: ``"done"`` (its ``result.json`` is complete) or ``"failed"``.
    - `result`: the ``result.json`` dict of a done cell (``final_return`` per seed, ``wall_time_s``,
      ...), else ``None``.
    - `error`: ``"ExceptionType: message"`` of a failed cell, else ``None`` (the traceback is in
      ``error.json`` in its run directory).
    - `run_dir`: the cell's run directory, ``out/cells/<name>/``.
    - `attempts`: how many times this sweep started the cell (0: finished before, skipped on resume;
      more than 1: its worker died and the cell was resumed from its checkpoint).
    """

    cell: Cell
    status: str
    result: dict | None
    error: str | None
    run_dir: pathlib.Path
    attempts: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "cell": self.cell.to_dict(),
            "status": self.status,
            "result": self.result,
            "error": self.error,
            "run_dir": str(self.run_dir),
            "attempts": self.attempts,
        }


def write_json(path: pathlib.Path, data) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)  # atomic: a kill leaves the old file or the new one


def count_attempts(run_dir: pathlib.Path) -> int:
    """How many attempts the cell in ``run_dir`` has had (lines of its attempts file)."""
    path = run_dir / ATTEMPTS_FILE
    return len(path.read_text().splitlines()) if path.exists() else 0


def record_attempt(run_dir: pathlib.Path) -> None:
    """Appends one line to the cell's attempts file (read back by the driver to count retries)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    line = {"pid": os.getpid(), "host": socket.gethostname(), "time": time.time()}
    with open(run_dir / ATTEMPTS_FILE, "a") as f:
        f.write(json.dumps(line) + "\n")


def attempt_cell(
    cell: Cell,
    run_dir: str | os.PathLike,
    runner: Callable | None = None,
    loggers: Sequence[LoggerSpec] = (),
) -> dict:
    """One attempt at a cell inside a sweep: always resuming, so a retry after a dead worker (or a
    sweep killed and started again) continues from the cell's own checkpoint (and its loggers' runs)."""
    run_dir = pathlib.Path(run_dir)
    record_attempt(run_dir)
    return call_runner(runner or kind_runner(cell.kind), cell, run_dir, True, loggers)


def write_error(run_dir: pathlib.Path, cell: Cell, error: str, details: str, attempts: int) -> None:
    """Records a failed cell in ``run_dir/error.json`` (its error line, attempts and traceback)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(
        run_dir / "error.json",
        {"cell": cell.name, "error": error, "attempts": attempts, "traceback": details},
    )

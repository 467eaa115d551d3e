"""Tiny cells and test-only cell kinds for the sweep tests, importable by Ray workers and subprocesses
(both get the tests directory on their Python path).

- ``boom`` raises: a cell that fails for good.
- ``bpo_killed_once`` is the ``bpo`` kind, except that on its first attempt the process SIGKILLs itself
  inside the cell, after the first chunk's checkpoint and after the next chunk's metrics lines were
  appended but before that chunk's checkpoint: the worst moment for repeated metrics lines. A marker
  file next to the run directory says the kill happened.
"""

import os
import pathlib
import signal

from awmkit.experiments import Cell, register_cell_kind
from awmkit.experiments._cell import _run_trainer as _run_bpo, _validate_bpo
from awmkit.runs import RunDir

# A few compiled chunks of BPO through the true dynamics: the cheapest real cell.
TINY_BPO = {
    "steps": 120,
    "warmup_steps": 10,
    "dynamics_batch_size": 4,
    "policy_batch_size": 4,
    "eval_interval": 30,
    "eval_episodes": 1,
    "chunk_size": 3,
}


def tiny_cell(name: str, key: int = 0, kind: str = "bpo", **config) -> Cell:
    return Cell(
        name=name,
        kind=kind,
        env="cancer_treatment",
        horizon=10,
        seeds=2,
        model="simulator",
        key=key,
        config={**TINY_BPO, **config},
    )


def boom(cell: Cell, run_dir: pathlib.Path, resume: bool) -> dict:
    raise RuntimeError(f"boom: cell {cell.name} fails for good")


def killed_marker(run_dir: pathlib.Path) -> pathlib.Path:
    return run_dir.parent / f"{run_dir.name}.killed"


def bpo_killed_once(cell: Cell, run_dir: pathlib.Path, resume: bool) -> dict:
    marker = killed_marker(run_dir)
    if marker.exists():
        return _run_bpo(cell, run_dir, resume)
    original = RunDir.write_checkpoint

    def save_then_die(self, header, state):
        if header["chunk"] >= 2:  # chunk 1's checkpoint is written, chunk 2's metrics appended
            marker.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        original(self, header, state)

    RunDir.write_checkpoint = save_then_die
    try:
        return _run_bpo(cell, run_dir, resume)
    finally:
        RunDir.write_checkpoint = original


register_cell_kind("boom", boom, overwrite=True)
register_cell_kind("bpo_killed_once", bpo_killed_once, validate=_validate_bpo, overwrite=True)


def fake(cell: Cell, run_dir: pathlib.Path, resume: bool) -> dict:
    """A run directory in no time (no JAX): for the sweep's bookkeeping. ``config["fail"]`` raises."""
    import json

    if cell.config.get("fail"):
        raise ValueError(f"fake cell {cell.name} was told to fail")
    run_dir.mkdir(parents=True, exist_ok=True)
    result = {
        "algo": "fake",
        "env": cell.env,
        "model": None,
        "horizon": cell.horizon,
        "seeds": cell.seeds,
        "env_steps": cell.horizon,
        "final_return": [float(cell.key + s) for s in range(cell.seeds)],
        "wall_time_s": 0.0,
    }
    (run_dir / "result.json").write_text(json.dumps(result))
    return result


register_cell_kind("fake", fake, overwrite=True)

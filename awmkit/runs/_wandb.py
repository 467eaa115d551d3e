"""`WandbLogger`: a run's metrics as a Weights & Biases run, offline by default (the ``wandb`` extra)."""

import json
import os
import pathlib
from collections.abc import Sequence
from typing import Any

from ._loggers import AbstractLogger, CloseStatus, register_logger
from ._rundir import RunDir
from ._scalars import MissingExtraError, nan_reports, points, recorded_rows

#: The file in the run directory's W&B folder (`RunDir.wandb`) that keeps the W&B run id, for resumed runs.
STATE_FILE = "awmkit_run.json"

_EXIT_CODES = {"finished": 0, "stopped": 1, "interrupted": 130, "failed": 1}


def _import_wandb():
    # Imported here: wandb is an optional extra and takes about a second to import.
    try:
        import wandb
    except ImportError as error:
        raise MissingExtraError(
            f"the wandb logger needs the `wandb` extra: pip install 'awmkit[wandb]' ({error})"
        ) from None
    return wandb


class WandbLogger(AbstractLogger):
    """Logs a run to Weights & Biases: one W&B run per awmkit run, offline unless asked otherwise.

    The W&B run's config is the run's configuration (as in ``config.json``); at each evaluation
    (W&B ``step`` = environment steps) every numeric metric is logged per seed, ``<metric>/seed_<i>``,
    and as the mean over the seeds with a finite value, ``<metric>/mean``. NaN-guard reports go to
    the run summary (``nan_guard/seed_<i>``), how the run ended to ``awmkit_status`` and the exit code.

    Offline (the default) W&B writes everything under ``<run directory>/wandb/`` and contacts no
    server; upload later with ``wandb sync``. A resumed awmkit run continues the same W&B run (its id
    is kept in ``<run directory>/wandb/awmkit_run.json``). W&B buffers its offline log, so a process
    killed with SIGKILL can lose its whole W&B session; a resumed run therefore starts its session by
    logging the rows ``metrics.jsonl`` already holds, and the newest ``offline-run-*`` folder always
    holds the whole history.

    **Arguments:**

    - `project`: the W&B project.
    - `entity`, `name`, `group`, `tags`, `notes`, `job_type`: as in ``wandb.init``; `name` defaults
      to the run directory's name.
    - `mode`: ``"offline"``, ``"online"`` or ``"disabled"``; default: the ``WANDB_MODE`` environment
      variable, else ``"offline"``.
    - `dir`: the folder W&B writes into (its ``wandb/`` sub-folder); default: the run directory.
      Needed for a run without a directory (``out=None``), which cannot be resumed.
    - `settings`: extra ``wandb.Settings`` fields (default: W&B does not capture the console, so the
      progress line stays as it is).
    """

    def __init__(
        self,
        project: str = "awmkit",
        *,
        entity: str | None = None,
        name: str | None = None,
        group: str | None = None,
        tags: Sequence[str] = (),
        notes: str | None = None,
        job_type: str | None = None,
        mode: str | None = None,
        dir: str | os.PathLike | None = None,
        settings: dict[str, Any] | None = None,
    ):
        self._wandb = _import_wandb()
        mode = os.environ.get("WANDB_MODE", "offline") if mode is None else mode
        if mode not in ("offline", "online", "disabled"):
            raise ValueError(f"WandbLogger: mode must be 'offline', 'online' or 'disabled', got {mode!r}")
        self.mode = mode
        self._init = {
            "project": project,
            "entity": entity,
            "name": name,
            "group": group,
            "tags": list(tags),
            "notes": notes,
            "job_type": job_type,
        }
        self._dir = None if dir is None else pathlib.Path(dir)
        self._settings = {"console": "off", "quiet": True, **(settings or {})}
        self._run: Any = None
        self._state_path: pathlib.Path | None = None

    @property
    def run(self) -> Any:
        """The ``wandb.Run`` while the logger is open (``None`` before and after)."""
        return self._run

    def open(self, run_dir: pathlib.Path | None, config: dict[str, Any], *, resumed: bool) -> None:
        """Starts the W&B run; for a resumed run, continues the same W&B run id and first logs the rows
        already in ``metrics.jsonl``."""
        wandb = self._wandb
        if self._dir is None and run_dir is None:
            raise ValueError("WandbLogger: the run has no directory (out=None); pass WandbLogger(dir=...)")
        base = self._dir if self._dir is not None else pathlib.Path(run_dir)
        run_id = None  # W&B draws a fresh one
        self._state_path = None
        if run_dir is not None:
            self._state_path = RunDir(run_dir).wandb / STATE_FILE
            # Also without `resumed`: a run started over (killed before its first checkpoint) keeps its id.
            if self._state_path.exists():
                run_id = json.loads(self._state_path.read_text()).get("id")
        RunDir(base).wandb.mkdir(parents=True, exist_ok=True)
        init = dict(self._init)
        if init["name"] is None and run_dir is not None:
            init["name"] = pathlib.Path(run_dir).name
        self._run = wandb.init(
            **init,
            id=run_id,
            resume="allow",
            dir=str(base),
            mode=self.mode,
            config=config,
            allow_val_change=True,
            reinit="create_new",
            settings=wandb.Settings(**self._settings),
        )
        if self._state_path is not None:
            _write_atomic(self._state_path, json.dumps({"id": self._run.id}))
        if resumed:
            # W&B buffers its offline log: a killed process can lose all of its session's records, so
            # every session starts with the whole history (online, W&B skips the steps it holds).
            self.log(recorded_rows(run_dir))

    def log(self, rows: list[dict[str, Any]]) -> None:
        """Logs the rows' evaluations at their environment steps."""
        if self._run is None:
            raise RuntimeError("WandbLogger.log before open")
        for point in points(rows):
            # Steps below W&B's own (a resumed online run's, or a chunk redone after its rows were
            # re-read from metrics.jsonl) would be dropped with a warning: their values are identical.
            if point.step >= self._run.step:
                self._run.log(point.scalars, step=point.step)
        for _, seed, text in nan_reports(rows):
            self._run.summary[f"nan_guard/seed_{seed}"] = text

    def close(self, status: CloseStatus) -> None:
        """Records how the run ended and finishes the W&B run."""
        if self._run is None:
            return
        self._run.summary["awmkit_status"] = status
        self._run.finish(exit_code=_EXIT_CODES.get(status, 1))
        self._run = None


def _write_atomic(path: pathlib.Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


register_logger("wandb", WandbLogger)

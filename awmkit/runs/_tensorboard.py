"""`TensorBoardLogger`: a run's metrics as TensorBoard event files (the ``tensorboard`` extra).

The events are written by TensorBoard's own framework-free ``EventFileWriter`` (the writer PyTorch's
``SummaryWriter`` is built on), so neither TensorFlow nor PyTorch nor ``tensorboardX`` is needed:
the ``tensorboard`` package that shows the files also writes them.
"""

import json
import os
import pathlib
import time
import types
from typing import Any

from ._loggers import AbstractLogger, CloseStatus, register_logger
from ._rundir import RunDir
from ._scalars import MissingExtraError, flat_hparams, nan_reports, points, recorded_rows

_STATUS = {"finished": "STATUS_SUCCESS", "stopped": "STATUS_ABORTED", "interrupted": "STATUS_ABORTED"}


def _import_tensorboard():
    # Imported here: tensorboard is an optional extra and takes half a second to import.
    try:
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.plugins.hparams import (
            api_pb2,
            metadata as hparams_metadata,
            plugin_data_pb2,
            summary_v2 as hparams_summary,
        )
        from tensorboard.plugins.text import summary_v2 as text_summary
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
    except ImportError as error:
        raise MissingExtraError(
            f"the tensorboard logger needs the `tensorboard` extra: pip install 'awmkit[tensorboard]' ({error})"
        ) from None
    return types.SimpleNamespace(
        Event=event_pb2.Event,
        SessionLog=event_pb2.SessionLog,
        Summary=summary_pb2.Summary,
        EventFileWriter=EventFileWriter,
        hparams_pb=hparams_summary.hparams_pb,
        hparams_metadata=hparams_metadata,
        plugin_data_pb2=plugin_data_pb2,
        api_pb2=api_pb2,
        text_pb=text_summary.text_pb,
    )


class TensorBoardLogger(AbstractLogger):
    """Writes a run's metrics as TensorBoard scalars, its configuration as hyper-parameters.

    At each evaluation (step = environment steps) every numeric metric gets one scalar per seed,
    ``<metric>/seed_<i>``, and the mean over the seeds with a finite value, ``<metric>/mean`` (e.g.
    ``eval_return/seed_3`` and ``eval_return/mean``). The run's configuration goes to the HParams
    dashboard (nested entries as dotted names) and, as JSON, to the Text dashboard under ``config``;
    how the run ended becomes the session's status; NaN-guard reports go to the Text dashboard under
    ``nan_guard``.

    A resumed run appends to the same directory, starting with a restart marker at its first step, so
    that points a killed process had written past its last checkpoint are replaced by the redone
    ones (a logger first used on resume starts with the rows ``metrics.jsonl`` already holds). View
    with ``tensorboard --logdir <run directory or a folder above it>``.

    **Arguments:**

    - `logdir`: where to write the event files; default ``<run directory>/tensorboard``. Needed for a
      run without a directory (``out=None``).
    """

    def __init__(self, logdir: str | os.PathLike | None = None):
        self._tb = _import_tensorboard()
        self._given = None if logdir is None else pathlib.Path(logdir)
        self._logdir = self._given
        self._writer: Any = None
        self._restart_marker = False

    @property
    def logdir(self) -> pathlib.Path | None:
        """The directory of the event files (known once the logger is opened, or given)."""
        return self._logdir

    def open(self, run_dir: pathlib.Path | None, config: dict[str, Any], *, resumed: bool) -> None:
        """Starts an event file in the log directory; writes the hyper-parameters unless a resumed run
        has written them already."""
        if self._given is None and run_dir is None:
            raise ValueError(
                "TensorBoardLogger: the run has no directory (out=None); pass TensorBoardLogger(logdir=...)"
            )
        self._logdir = self._given if self._given is not None else RunDir(run_dir).tensorboard
        self._logdir.mkdir(parents=True, exist_ok=True)
        earlier_files = any(self._logdir.glob("*tfevents*"))
        self._writer = self._tb.EventFileWriter(str(self._logdir), flush_secs=30)
        if not (resumed and earlier_files):
            self._write_config(config)
            if resumed:  # the logger joins a resumed run: the history so far, from metrics.jsonl
                self.log(recorded_rows(run_dir))
        # Points of an earlier process (killed past its checkpoint, or before its first one) at or after
        # this session's first step are dropped by TensorBoard.
        self._restart_marker = earlier_files
        self._writer.flush()

    def _write_config(self, config: dict[str, Any]) -> None:
        tb = self._tb
        now = time.time()
        hparams = tb.hparams_pb(flat_hparams(config), start_time_secs=int(now))
        self._writer.add_event(tb.Event(wall_time=now, step=0, summary=hparams))
        text = "```json\n" + json.dumps(config, indent=2, default=str) + "\n```"
        self._writer.add_event(tb.Event(wall_time=now, step=0, summary=tb.text_pb("config", text)))

    def log(self, rows: list[dict[str, Any]]) -> None:
        """Adds the rows' scalars (and NaN-guard reports) and flushes them to disk."""
        if self._writer is None:
            raise RuntimeError("TensorBoardLogger.log before open")
        tb = self._tb
        now = time.time()
        new = points(rows)
        if self._restart_marker and new:
            # TensorBoard drops the points at or after this step written before it (a killed process's).
            marker = tb.SessionLog(status=tb.SessionLog.START)
            self._writer.add_event(tb.Event(wall_time=now, step=new[0].step, session_log=marker))
            self._restart_marker = False
        for point in new:
            values = [tb.Summary.Value(tag=t, simple_value=v) for t, v in point.scalars.items()]
            self._writer.add_event(tb.Event(wall_time=now, step=point.step, summary=tb.Summary(value=values)))
        for step, _, text in nan_reports(rows):
            self._writer.add_event(tb.Event(wall_time=now, step=step, summary=tb.text_pb("nan_guard", text)))
        self._writer.flush()

    def close(self, status: CloseStatus) -> None:
        """Records how the run ended (the HParams session status) and closes the event file."""
        if self._writer is None:
            return
        tb = self._tb
        meta, pb2 = tb.hparams_metadata, tb.plugin_data_pb2
        end = pb2.SessionEndInfo(
            status=tb.api_pb2.Status.Value(_STATUS.get(status, "STATUS_FAILURE")),
            end_time_secs=time.time(),
        )
        content = pb2.HParamsPluginData(session_end_info=end, version=meta.PLUGIN_DATA_VERSION)
        value = tb.Summary.Value(
            tag=meta.SESSION_END_INFO_TAG,
            metadata=meta.create_summary_metadata(content),
            tensor=meta.NULL_TENSOR,
        )
        self._writer.add_event(tb.Event(wall_time=time.time(), summary=tb.Summary(value=[value])))
        self._writer.close()
        self._writer = None


register_logger("tensorboard", TensorBoardLogger)

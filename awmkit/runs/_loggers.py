"""Loggers: where a run's metric rows go besides ``metrics.jsonl`` (always written; the source of truth).

This module is the contract between the host loop (``awmkit/runs/_host.py``) and every logger:

- the host loop calls `AbstractLogger.open` once, after the run directory's ``config.json`` is written
  (``run_dir`` is ``None`` for a run without ``out``), with the run's configuration dict as written to
  ``config.json`` and ``resumed=True`` when it continues from a checkpoint;
- `AbstractLogger.log` after each chunk, with the rows exactly as they were appended to
  ``metrics.jsonl`` (each row holds at least ``chunk``, ``env_steps``, ``seed`` and ``eval_return``,
  plus training means such as ``model_loss``; ``None`` stands for "no value this window");
- `AbstractLogger.close` exactly once, in a ``finally``, with how the run ended.

A logger that raises in ``log`` is warned about once and dropped; the run and its ``metrics.jsonl`` go on.
On resume the host loop re-sends nothing: rows after the checkpoint that a killed process had already
logged are logged again when their chunk is redone (TensorBoard and W&B keep the last value of a step).
"""

import abc
import pathlib
from collections.abc import Callable
from typing import Any, Literal

#: How a run ended, as passed to `AbstractLogger.close`.
CloseStatus = Literal["finished", "stopped", "interrupted", "failed"]


class AbstractLogger(abc.ABC):
    """Receives a run's configuration and metric rows (see the module docstring for when)."""

    @abc.abstractmethod
    def open(self, run_dir: pathlib.Path | None, config: dict[str, Any], *, resumed: bool) -> None:
        """Called once before the first chunk."""

    @abc.abstractmethod
    def log(self, rows: list[dict[str, Any]]) -> None:
        """Called after each chunk's rows are durably appended to ``metrics.jsonl``."""

    @abc.abstractmethod
    def close(self, status: CloseStatus) -> None:
        """Called exactly once when the run ends, however it ends."""


#: Logger factories by the name ``--logger NAME`` takes; each is called with no argument.
_FACTORIES: dict[str, Callable[[], AbstractLogger]] = {}


def register_logger(name: str, factory: Callable[[], AbstractLogger]) -> None:
    """Makes ``--logger name`` (and `logger_from_name`) build a logger with ``factory()``."""
    _FACTORIES[name] = factory


def logger_names() -> tuple[str, ...]:
    """The names `logger_from_name` accepts."""
    return tuple(sorted(_FACTORIES))


def logger_from_name(name: str) -> AbstractLogger:
    """The logger registered under ``name``; a one-line error lists the valid names."""
    try:
        factory = _FACTORIES[name]
    except KeyError:
        raise ValueError(
            f"logger must be one of: {', '.join(logger_names()) or '(none registered)'}; got {name!r}"
        ) from None
    return factory()

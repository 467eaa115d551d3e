"""What the TensorBoard and W&B loggers make of a run's metric rows and configuration.

A chunk's rows (as appended to ``metrics.jsonl``) hold one row per seed and evaluation. They become
*points*: one per evaluation, at its environment step, with every numeric field of the rows as
``<field>/seed_<i>`` and its mean over the seeds with a finite value as ``<field>/mean``. NaN-guard
reports (rows with a ``nan`` entry and no ``env_steps``) are returned apart.
"""

import dataclasses
import json
import math
import pathlib
from collections.abc import Iterable, Mapping
from typing import Any

from ._rundir import RunDir

#: Row fields that say where a row belongs rather than what was measured.
INDEX_FIELDS = ("chunk", "iteration", "env_steps", "seed")


class MissingExtraError(ImportError, ValueError):
    """A logger whose optional extra is not installed; also a ``ValueError``, so that the command line
    reports it in one line like any other bad argument."""


@dataclasses.dataclass(frozen=True)
class Point:
    """One evaluation: its environment step and its scalars by tag."""

    step: int
    scalars: dict[str, float]


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    return None


def points(rows: Iterable[Mapping[str, Any]]) -> list[Point]:
    """The evaluations among ``rows``, in order of first appearance.

    Rows of one evaluation share ``chunk`` and ``iteration`` (BPO) or ``chunk`` and ``env_steps`` (the
    baselines, one evaluation per chunk). The point's step is the largest ``env_steps`` of its rows
    (the seeds of a run step in lockstep; a seed the NaN guard stopped may lag), so that steps grow
    monotonically, as W&B requires. ``None`` values ("no value in this window") are left out.
    """
    groups: dict[tuple, list[Mapping[str, Any]]] = {}
    for row in rows:
        if "env_steps" not in row or "seed" not in row:
            continue
        second = row["iteration"] if "iteration" in row else row["env_steps"]
        groups.setdefault((row.get("chunk"), second), []).append(row)
    out = []
    for group in groups.values():
        scalars: dict[str, float] = {}
        finite: dict[str, list[float]] = {}
        for row in group:
            for field, value in row.items():
                number = _number(value)
                if field in INDEX_FIELDS or number is None:
                    continue
                scalars[f"{field}/seed_{row['seed']}"] = number
                if math.isfinite(number):
                    finite.setdefault(field, []).append(number)
        for field, values in finite.items():
            scalars[f"{field}/mean"] = math.fsum(values) / len(values)
        out.append(Point(max(int(row["env_steps"]) for row in group), scalars))
    return out


def nan_reports(rows: Iterable[Mapping[str, Any]]) -> list[tuple[int, Any, str]]:
    """The NaN-guard reports among ``rows`` as ``(env step, seed, "seed s: non-finite q at env step n")``."""
    out = []
    for row in rows:
        report = row.get("nan")
        if isinstance(report, Mapping):
            step, seed = int(report.get("env_step", 0)), report.get("seed", row.get("seed"))
            out.append((step, seed, f"seed {seed}: non-finite {report.get('quantity')} at env step {step}"))
    return out


def flat_hparams(config: Mapping[str, Any], prefix: str = "") -> dict[str, bool | int | float | str]:
    """``config`` flattened to the scalar values a hyper-parameter table holds: nested dictionaries
    become dotted keys, lists and ``None`` their JSON text."""
    out: dict[str, bool | int | float | str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flat_hparams(value, prefix=f"{name}."))
        elif isinstance(value, (bool, int, float, str)):
            out[name] = value
        else:
            out[name] = json.dumps(value, default=str)
    return out


def recorded_rows(run_dir: pathlib.Path | None) -> list[dict[str, Any]]:
    """The rows already in a run directory's ``metrics.jsonl`` (on resume: those up to the checkpoint,
    the host loop having dropped the rest before opening the loggers)."""
    return [] if run_dir is None else RunDir(run_dir).read_metrics()

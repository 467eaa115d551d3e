"""The run reader: run directories (the one format every trainer writes through `RunDir`) read and
validated for ``awmkit results``, the experiments and the evaluation tables."""

import dataclasses
import json
import pathlib
from collections.abc import Iterable
from typing import Any

import numpy as np

from ._rundir import CONFIG, METRICS, RESULT

#: Keys every ``config.json`` holds, with their expected types.
CONFIG_KEYS: dict[str, tuple[type, ...]] = {
    "awmkit_version": (str,),
    "algo": (str,),
    "env": (str,),
    "model": (str, type(None)),
    "horizon": (int,),
    "seeds": (int,),
    "steps": (int,),
    "key": (int,),
}
#: Keys every ``result.json`` holds.
RESULT_KEYS: dict[str, tuple[type, ...]] = {
    "algo": (str,),
    "env": (str,),
    "model": (str, type(None)),
    "horizon": (int,),
    "seeds": (int,),
    "env_steps": (int,),
    "final_return": (list,),
    "wall_time_s": (int, float),
}
_METRIC_KEYS: dict[str, tuple[type, ...]] = {"env_steps": (int,), "seed": (int,)}


class RunDirectoryError(ValueError):
    """A run directory that does not follow the shared format; the message names each offending path
    and what is missing or wrong there."""


@dataclasses.dataclass(frozen=True)
class Run:
    """One run directory, parsed.

    **Fields:**

    - `path`: the directory.
    - `config`: ``config.json`` (algorithm, environment, model, horizon, seeds, steps, key and every
      hyper-parameter).
    - `metrics`: the records of ``metrics.jsonl``, in file order.
    - `result`: ``result.json``, or ``None`` while the run has not finished.
    """

    path: pathlib.Path
    config: dict[str, Any]
    metrics: list[dict[str, Any]]
    result: dict[str, Any] | None

    @property
    def algo(self) -> str:
        return self.config["algo"]

    @property
    def env(self) -> str:
        return self.config["env"]

    @property
    def model(self) -> str | None:
        return self.config["model"]

    @property
    def horizon(self) -> int:
        return self.config["horizon"]

    @property
    def seeds(self) -> int:
        return self.config["seeds"]

    @property
    def finished(self) -> bool:
        return self.result is not None

    def learning_curves(self) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """Per seed, the ``(env_steps, eval_return)`` arrays of every evaluation in ``metrics.jsonl``."""
        curves: dict[int, tuple[list, list]] = {}
        for record in self.metrics:
            if "eval_return" in record and "seed" in record:
                steps, returns = curves.setdefault(record["seed"], ([], []))
                steps.append(record["env_steps"])
                returns.append(record["eval_return"])
        return {s: (np.asarray(a), np.asarray(b, dtype=np.float64)) for s, (a, b) in sorted(curves.items())}

    def final_returns(self, *, allow_unfinished: bool = False) -> np.ndarray:
        """One final return per seed: ``result.json``'s ``final_return``, or, for an unfinished run with
        ``allow_unfinished=True``, each seed's latest ``eval_return`` in ``metrics.jsonl``."""
        if self.result is not None:
            return np.asarray(self.result["final_return"], dtype=np.float64)
        if not allow_unfinished:
            raise RunDirectoryError(
                f"{self.path}: missing result.json (the run has not finished); pass allow_unfinished=True "
                "(`--allow-unfinished`) to use each seed's latest eval_return from metrics.jsonl"
            )
        curves = self.learning_curves()
        if not curves:
            raise RunDirectoryError(f"{self.path}: unfinished and metrics.jsonl has no eval_return yet")
        return np.asarray([returns[-1] for _, returns in curves.values()], dtype=np.float64)


def _is_type(value, types) -> bool:
    if isinstance(value, bool):  # JSON true/false are not numbers here
        return bool in types
    return isinstance(value, types)


def _type_names(types) -> str:
    names = {str: "string", int: "integer", float: "number", list: "list", type(None): "null"}
    return " or ".join(names.get(t, t.__name__) for t in types)


def _read_json_object(path: pathlib.Path, problems: list[str]) -> dict | None:
    if not path.is_file():
        problems.append(f"missing {path.name}")
        return None
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        problems.append(f"{path.name} is not valid JSON ({e})")
        return None
    if not isinstance(data, dict):
        problems.append(f"{path.name} must hold a JSON object, got {type(data).__name__}")
        return None
    return data


def _check_keys(data: dict, spec: dict[str, tuple[type, ...]], where: str, problems: list[str]) -> None:
    missing = [k for k in spec if k not in data]
    if missing:
        problems.append(f"{where} lacks {', '.join(repr(k) for k in missing)}")
    for k, types in spec.items():
        if k in data and not _is_type(data[k], types):
            problems.append(f"{where}[{k!r}] must be {_type_names(types)}, got {data[k]!r}")


def _read_metrics(path: pathlib.Path, problems: list[str]) -> list[dict]:
    if not path.is_file():
        problems.append("missing metrics.jsonl")
        return []
    records = []
    text = path.read_text()
    lines = text.split("\n")
    if lines[-1]:  # a last line still being written (or torn by a kill): not a row yet
        lines.pop()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            problems.append(f"metrics.jsonl line {number} is not valid JSON ({e})")
            continue
        if not isinstance(record, dict):
            problems.append(f"metrics.jsonl line {number} must be a JSON object")
            continue
        before = len(problems)
        # An evaluation record must say when and for which seed; other records (training statistics,
        # events such as a NaN guard firing) are free-form.
        if "eval_return" in record:
            _check_keys(record, _METRIC_KEYS, f"metrics.jsonl line {number}", problems)
            if not _is_type(record["eval_return"], (int, float)):
                problems.append(f"metrics.jsonl line {number}['eval_return'] must be a number")
        if len(problems) > before + 5:  # one broken writer would otherwise flood the report
            problems.append("metrics.jsonl: further lines not checked")
            break
        records.append(record)
    return records


def load_run(path: str | pathlib.Path) -> Run:
    """Reads and validates one run directory in the shared format.

    A run directory holds ``config.json`` (with at least the keys of
    ``awmkit.runs.CONFIG_KEYS``), ``metrics.jsonl`` (one JSON object per line; every evaluation
    record, i.e. every line with ``eval_return``, also has integer ``env_steps`` and ``seed``; other
    lines are free-form training or event records), and, once finished, ``result.json`` (with the keys
    of ``awmkit.runs.RESULT_KEYS`` and one ``final_return`` per seed; ``NaN`` marks a seed that
    diverged).

    **Raises:** [`awmkit.runs.RunDirectoryError`][] naming the path and everything missing or
    malformed in it.
    """
    path = pathlib.Path(path)
    if not path.exists():
        raise RunDirectoryError(f"{path}: does not exist")
    if not path.is_dir():
        raise RunDirectoryError(f"{path}: not a directory")
    problems: list[str] = []
    config = _read_json_object(path / CONFIG, problems)
    if config is not None:
        _check_keys(config, CONFIG_KEYS, "config.json", problems)
        for k in ("horizon", "seeds"):
            if _is_type(config.get(k), (int,)) and config[k] <= 0:
                problems.append(f"config.json[{k!r}] must be positive, got {config[k]}")
    metrics = _read_metrics(path / METRICS, problems)
    result = None
    if (path / RESULT).exists():
        result = _read_json_object(path / RESULT, problems)
        if result is not None:
            _check_keys(result, RESULT_KEYS, "result.json", problems)
            finals = result.get("final_return")
            if isinstance(finals, list):
                if not all(_is_type(v, (int, float)) for v in finals):
                    problems.append("result.json['final_return'] must be a list of numbers")
                if _is_type(result.get("seeds"), (int,)) and len(finals) != result["seeds"]:
                    problems.append(
                        f"result.json['final_return'] has {len(finals)} values for {result['seeds']} seeds"
                    )
            if config is not None:
                for k in ("algo", "env", "model", "horizon", "seeds"):
                    if k in config and k in result and config[k] != result[k]:
                        problems.append(
                            f"result.json[{k!r}] = {result[k]!r} but config.json has {config[k]!r}"
                        )
    if problems:
        raise RunDirectoryError(f"{path}: " + "; ".join(problems))
    assert config is not None
    return Run(path=path, config=config, metrics=metrics, result=result)


def _expand(path: pathlib.Path) -> list[pathlib.Path]:
    # A directory without config.json may be a sweep: every run directory below it is used.
    if path.is_dir() and not (path / CONFIG).exists():
        found = sorted(p.parent for p in path.rglob(CONFIG))
        if found:
            return found
        raise _NoRuns(f"{path}: no runs found (no config.json in it or below it)")
    return [path]


class _NoRuns(RunDirectoryError):
    pass


def load_runs(paths: Iterable[str | pathlib.Path]) -> list[Run]:
    """Reads several run directories. A directory without ``config.json`` is searched recursively for
    run directories (a sweep). Every malformed directory is reported in one
    [`awmkit.runs.RunDirectoryError`][], one line per path."""
    if isinstance(paths, (str, pathlib.Path)):
        paths = [paths]
    runs, errors, empty = [], [], []
    for given in paths:
        try:
            expanded = _expand(pathlib.Path(given))
        except _NoRuns as e:
            errors.append(str(e))
            empty.append(str(given))
            continue
        for path in expanded:
            try:
                runs.append(load_run(path))
            except RunDirectoryError as e:
                errors.append(str(e))
    if empty and len(empty) == len(errors) and not runs:  # nothing to read at all: one line
        raise RunDirectoryError(
            f"no runs found in {', '.join(empty)} (no config.json in it or below it); pass run directories "
            "written by `awmkit train --out DIR`, or a folder holding them"
        )
    if errors:
        raise RunDirectoryError(
            f"{len(errors)} malformed run director{'y' if len(errors) == 1 else 'ies'}:\n" + "\n".join(errors)
        )
    if not runs:
        raise RunDirectoryError("no run directories given")
    return runs

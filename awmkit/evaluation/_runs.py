"""Reading run directories (the shared format written by BPO, SAC and ODT) and tabulating results."""

import dataclasses
import json
import math
import pathlib
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ._stats import IntervalEstimate, normalised_return, stratified_bootstrap_ci

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
    for number, line in enumerate(path.read_text().splitlines(), start=1):
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
    ``awmkit.evaluation.CONFIG_KEYS``), ``metrics.jsonl`` (one JSON object per line; every evaluation
    record, i.e. every line with ``eval_return``, also has integer ``env_steps`` and ``seed``; other
    lines are free-form training or event records), and, once finished, ``result.json`` (with the keys
    of ``awmkit.evaluation.RESULT_KEYS`` and one ``final_return`` per seed; ``NaN`` marks a seed that
    diverged).

    **Raises:** [`awmkit.evaluation.RunDirectoryError`][] naming the path and everything missing or
    malformed in it.
    """
    path = pathlib.Path(path)
    if not path.exists():
        raise RunDirectoryError(f"{path}: does not exist")
    if not path.is_dir():
        raise RunDirectoryError(f"{path}: not a directory")
    problems: list[str] = []
    config = _read_json_object(path / "config.json", problems)
    if config is not None:
        _check_keys(config, CONFIG_KEYS, "config.json", problems)
        for k in ("horizon", "seeds"):
            if _is_type(config.get(k), (int,)) and config[k] <= 0:
                problems.append(f"config.json[{k!r}] must be positive, got {config[k]}")
    metrics = _read_metrics(path / "metrics.jsonl", problems)
    result = None
    if (path / "result.json").exists():
        result = _read_json_object(path / "result.json", problems)
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
    if path.is_dir() and not (path / "config.json").exists():
        found = sorted(p.parent for p in path.rglob("config.json"))
        if found:
            return found
        raise _NoRuns(f"{path}: no runs found (no config.json in it or below it)")
    return [path]


class _NoRuns(RunDirectoryError):
    pass


def load_runs(paths: Iterable[str | pathlib.Path]) -> list[Run]:
    """Reads several run directories. A directory without ``config.json`` is searched recursively for
    run directories (a sweep). Every malformed directory is reported in one
    [`awmkit.evaluation.RunDirectoryError`][], one line per path."""
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


def results_summary(
    runs: Sequence[Run],
    *,
    normalise: bool = True,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
    references: str | pathlib.Path | None = None,
    allow_unfinished: bool = False,
    nan_policy: str = "drop",
) -> dict[str, Any]:
    """The numbers behind [`awmkit.evaluation.results_table`][] as a JSON-serialisable dict.

    ``"groups"`` has one entry per (algo, model, env, horizon) with the seeds of every run of that
    group pooled: raw final returns (mean, standard deviation, the half-width of the Student-t interval
    of the mean at `confidence` as ``awmkit train`` prints it, every value) and the IQM of the score
    (normalised return, or raw return with ``normalise=False``) with a bootstrap interval over seeds.
    ``"overall"`` has one entry per (algo, model): the IQM of the pooled scores of all its tasks
    (env, horizon) with a stratified-bootstrap interval (only with ``normalise=True``; raw returns of
    different systems are not comparable).

    Seeds whose final return is not finite (a run's NaN guard stopped them) are left out of every
    statistic and counted in ``"diverged"`` with ``nan_policy="drop"`` (default); ``"raise"`` refuses.
    """
    if nan_policy not in ("drop", "raise"):
        raise ValueError(f"`nan_policy` must be 'drop' or 'raise', got {nan_policy!r}")
    runs = list(runs)
    if not runs:
        raise ValueError("`runs` is empty")
    for run in runs:
        if not isinstance(run, Run):
            raise TypeError(
                f"`runs` must hold awmkit.evaluation.Run objects (see load_runs), got {type(run).__name__}"
            )
    groups: dict[tuple, dict[str, Any]] = {}
    for run in runs:
        key = (run.algo, run.model, run.env, run.horizon)
        group = groups.setdefault(key, {"paths": [], "returns": []})
        group["paths"].append(str(run.path))
        group["returns"].append(run.final_returns(allow_unfinished=allow_unfinished))

    def interval(samples) -> IntervalEstimate:
        return stratified_bootstrap_ci(
            samples, confidence=confidence, n_resamples=n_resamples, seed=seed, method="percentile"
        )

    out_groups, by_method = [], {}
    for (algo, model, env, horizon), group in sorted(groups.items(), key=lambda kv: tuple(map(str, kv[0]))):
        all_returns = np.concatenate(group["returns"])
        diverged = int(np.count_nonzero(~np.isfinite(all_returns)))
        if diverged and nan_policy == "raise":
            raise ValueError(
                f"{diverged} seed(s) of {algo}/{model} on {env} H={horizon} have a non-finite final return "
                f"(runs: {', '.join(group['paths'])}); pass nan_policy='drop' to leave them out"
            )
        returns = all_returns[np.isfinite(all_returns)]
        if returns.size == 0:
            raise ValueError(
                f"every seed of {algo}/{model} on {env} H={horizon} diverged (runs: {', '.join(group['paths'])})"
            )
        scores = normalised_return(returns, env, horizon, references=references) if normalise else returns
        scores = np.atleast_1d(np.asarray(scores, dtype=np.float64))
        ci = interval([scores])
        out_groups.append(
            {
                "algo": algo,
                "model": model,
                "env": env,
                "horizon": horizon,
                "runs": len(group["paths"]),
                "seeds": int(returns.shape[0]),
                "diverged": diverged,
                "return_mean": float(returns.mean()),
                "return_std": float(returns.std()),
                "return_ci_half_width": _t_half_width(returns, confidence),
                "returns": returns.tolist(),
                "score": "normalised_return" if normalise else "return",
                "scores": scores.tolist(),
                "iqm": ci.to_dict(),
                "paths": group["paths"],
            }
        )
        by_method.setdefault((algo, model), []).append(scores)
    overall = []
    if normalise:
        for (algo, model), samples in sorted(by_method.items(), key=lambda kv: tuple(map(str, kv[0]))):
            ci = interval(samples)
            overall.append(
                {"algo": algo, "model": model, "tasks": len(samples), "seeds": ci.scores, "iqm": ci.to_dict()}
            )
    return {
        "score": "normalised_return" if normalise else "return",
        "confidence": confidence,
        "n_resamples": n_resamples,
        "seed": seed,
        "groups": out_groups,
        "overall": overall,
    }


def _t_half_width(values: np.ndarray, confidence: float) -> float | None:
    """Half-width of the Student-t interval of the mean (as ``awmkit train`` prints); ``None`` for one value."""
    import scipy.stats

    if values.size < 2:
        return None
    return float(scipy.stats.t.ppf(0.5 + confidence / 2, values.size - 1) * scipy.stats.sem(values))


def _fmt(x: float) -> str:
    if not math.isfinite(x):
        return str(x)
    return f"{x:.3f}" if abs(x) < 1e4 else f"{x:.4g}"


def _markdown(rows: list[list[str]], header: list[str]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def results_table(
    runs: Sequence[Run],
    normalise: bool = True,
    format: str = "markdown",
    *,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
    references: str | pathlib.Path | None = None,
    allow_unfinished: bool = False,
    nan_policy: str = "drop",
) -> str:
    """A results table for a set of runs, aggregated per (algo, model, env, horizon), with the overall
    IQM per (algo, model) and stratified-bootstrap confidence intervals (Agarwal et al., 2021).

    **Arguments:**

    - `runs`: [`awmkit.evaluation.Run`][] objects (from [`awmkit.evaluation.load_runs`][]).
    - `normalise`: score normalised returns (0 = random, 1 = optimal) rather than raw returns.
    - `format`: ``"markdown"`` (two Markdown tables) or ``"json"`` (the
      [`awmkit.evaluation.results_summary`][] dict as JSON text).
    - `confidence`, `n_resamples`, `seed`: the bootstrap (see
      [`awmkit.evaluation.stratified_bootstrap_ci`][]).
    - `references`: an additional references file for (env, horizon) pairs that are not shipped.
    - `allow_unfinished`: use the latest evaluations of runs without ``result.json``.
    - `nan_policy`: ``"drop"`` diverged seeds (shown as ``+N NaN`` in the seeds column) or ``"raise"``.

    **Returns:** the table as a string.
    """
    if format not in ("markdown", "json"):
        raise ValueError(f"`format` must be 'markdown' or 'json', got {format!r}")
    summary = results_summary(
        runs,
        normalise=normalise,
        confidence=confidence,
        n_resamples=n_resamples,
        seed=seed,
        references=references,
        allow_unfinished=allow_unfinished,
        nan_policy=nan_policy,
    )
    if format == "json":
        return json.dumps(summary, indent=2)
    pct = f"{100 * confidence:g}%"
    score = "normalised IQM" if normalise else "return IQM"
    rows = []
    for g in summary["groups"]:
        ci = g["iqm"]
        rows.append(
            [
                g["algo"],
                g["model"] or "-",
                g["env"],
                str(g["horizon"]),
                str(g["runs"]),
                str(g["seeds"]) + (f" (+{g['diverged']} NaN)" if g["diverged"] else ""),
                _fmt(g["return_mean"])
                + ("" if g["return_ci_half_width"] is None else f" ± {_fmt(g['return_ci_half_width'])}"),
                f"{_fmt(ci['estimate'])} [{_fmt(ci['low'])}, {_fmt(ci['high'])}]",
            ]
        )
    mean_ci = f"return (mean ± {pct} CI)"  # the Student-t interval `awmkit train` prints
    header = ["algo", "model", "env", "H", "runs", "seeds", mean_ci, f"{score} [{pct} bootstrap CI]"]
    text = _markdown(rows, header)
    if summary["overall"]:
        rows = [
            [
                o["algo"],
                o["model"] or "-",
                str(o["tasks"]),
                str(o["seeds"]),
                f"{_fmt(o['iqm']['estimate'])} [{_fmt(o['iqm']['low'])}, {_fmt(o['iqm']['high'])}]",
            ]
            for o in summary["overall"]
        ]
        text += "\n\n" + _markdown(
            rows, ["algo", "model", "tasks", "scores", f"overall {score} [{pct} stratified-bootstrap CI]"]
        )
    return text

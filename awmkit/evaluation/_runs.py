"""Result tables of run directories (read by `awmkit.runs`' run reader)."""

import json
import math
import pathlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..runs import Run
from ._stats import IntervalEstimate, normalised_return, stratified_bootstrap_ci


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

"""Aggregates over the cells of a figure in the style of rliable (Agarwal et al., 2021): IQM with
stratified-bootstrap 95% confidence intervals per horizon and method, performance profiles, the
probability of improvement of one method over another, and IQM learning curves.

Everything is computed with [`awmkit.evaluation`][] (``iqm``, ``stratified_bootstrap_ci``,
``normalised_return``); the tasks (strata) are the systems of a figure, the runs within a task its
seeds."""

import dataclasses
import json
import math
import pathlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..evaluation import IntervalEstimate, iqm, normalised_return, stratified_bootstrap_ci
from ..runs import RunDir
from ._cell import Cell

_SCORES = ("normalised", "return")


class NotEvaluable(LookupError):
    """The results a claim or an aggregate needs are missing (a cell failed or is not in the grid);
    the message says which."""


@dataclasses.dataclass(frozen=True)
class CellRecord:
    """One cell of a figure and what it produced.

    **Fields:**

    - `cell`: the [`awmkit.experiments.Cell`][].
    - `status`: ``"done"`` or ``"failed"``.
    - `result`: the cell's ``result.json`` (``None`` when it failed).
    - `error`: why it failed.
    - `run_dir`: its run directory, if any.
    - `curves`: per seed index, the ``(env_steps, eval_return)`` arrays of its evaluations (from
      ``metrics.jsonl``); empty for cells without learning curves.
    """

    cell: Cell
    status: str = "done"
    result: Mapping[str, Any] | None = None
    error: str | None = None
    run_dir: pathlib.Path | None = None
    curves: Mapping[int, tuple[np.ndarray, np.ndarray]] = dataclasses.field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.status == "done" and self.result is not None

    @classmethod
    def from_outcome(cls, outcome) -> "CellRecord":
        """From a ``CellOutcome`` of [`awmkit.experiments.run_sweep`][]; the learning curves are read
        from the run directory's ``metrics.jsonl``."""
        run_dir = pathlib.Path(outcome.run_dir) if outcome.run_dir is not None else None
        curves = read_curves(RunDir(run_dir).metrics) if run_dir is not None else {}
        return cls(outcome.cell, outcome.status, outcome.result, outcome.error, run_dir, curves)


def read_curves(path: pathlib.Path) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per seed, the ``(env_steps, eval_return)`` of every evaluation line of a ``metrics.jsonl``."""
    curves: dict[int, tuple[list, list]] = {}
    if not path.exists():
        return {}
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        if "eval_return" in row and "seed" in row and row["eval_return"] is not None:
            steps, returns = curves.setdefault(int(row["seed"]), ([], []))
            steps.append(row["env_steps"])
            returns.append(row["eval_return"])
    out = {}
    for seed, (steps, returns) in sorted(curves.items()):
        order = np.argsort(np.asarray(steps), kind="stable")
        out[seed] = (np.asarray(steps)[order], np.asarray(returns, dtype=np.float64)[order])
    return out


@dataclasses.dataclass(frozen=True)
class LearningCurve:
    """An IQM learning curve: at each of `steps`, the IQM over tasks and seeds with its stratified-
    bootstrap interval (`low`, `high`)."""

    steps: np.ndarray
    iqm: np.ndarray
    low: np.ndarray
    high: np.ndarray

    def to_dict(self) -> dict:
        return {k: np.asarray(getattr(self, k)).tolist() for k in ("steps", "iqm", "low", "high")}


def variant_of(cell: Cell, selection: Sequence[str]) -> str:
    """The hyper-parameter setting of a cell among the swept keys ``selection`` (canonical JSON)."""
    return json.dumps({k: cell.config[k] for k in sorted(selection) if k in cell.config}, sort_keys=True)


class FigureData:
    """The records of one figure, with the aggregates its claims and plot are computed from.

    **Arguments:**

    - `records`: the [`awmkit.experiments.CellRecord`][]s.
    - `score`: ``"normalised"`` (Myriad: ``awmkit.evaluation.normalised_return`` per system and
      horizon) or ``"return"`` (raw returns, for tasks without references).
    - `selection`: config keys swept as hyper-parameters (the paper's "best performing results are
      reported", Appendix C): for each method and horizon the setting with the highest IQM is used.
    - `n_resamples`, `seed`: the bootstrap.
    """

    def __init__(
        self,
        records: Sequence[CellRecord],
        *,
        score: str = "normalised",
        selection: Sequence[str] = (),
        n_resamples: int = 2000,
        seed: int = 0,
    ):
        if score not in _SCORES:
            raise ValueError(f"`score` must be one of {', '.join(_SCORES)}, got {score!r}")
        self.records = tuple(records)
        self.score = score
        self.selection = tuple(selection)
        self.n_resamples = n_resamples
        self.seed = seed
        self._cache: dict = {}

    # --- what is there ---------------------------------------------------------------------------

    @property
    def done(self) -> tuple[CellRecord, ...]:
        return tuple(r for r in self.records if r.done)

    @property
    def failed(self) -> tuple[CellRecord, ...]:
        return tuple(r for r in self.records if not r.done)

    def only_env(self, env: str) -> "FigureData":
        """The records of one system only (same score, selection and bootstrap)."""
        return FigureData(
            [r for r in self.records if r.cell.env == env],
            score=self.score,
            selection=self.selection,
            n_resamples=self.n_resamples,
            seed=self.seed,
        )

    def methods(self) -> list[str]:
        return list(dict.fromkeys(_method(r.cell) for r in self.records))

    def horizons(self, method: str | None = None, *, finished: bool = False) -> list[int]:
        """The horizons of the grid (of ``method``; with `finished`, only those it has finished cells at)."""
        return sorted(
            {
                r.cell.horizon
                for r in self.records
                if (method is None or _method(r.cell) == method) and (r.done or not finished)
            }
        )

    def envs(self) -> list[str]:
        return list(dict.fromkeys(r.cell.env for r in self.records))

    def cells(self, method: str, horizon: int | None = None) -> list[CellRecord]:
        """The finished records of ``method`` (at ``horizon``) of the selected hyper-parameter setting."""
        found = [
            r
            for r in self.records
            if _method(r.cell) == method and (horizon is None or r.cell.horizon == horizon)
        ]
        if not found:
            raise NotEvaluable(f"no cell of method {method!r} at H={horizon} in this grid")
        done = [r for r in found if r.done]
        if not done:
            raise NotEvaluable(f"every cell of method {method!r} at H={horizon} failed")
        if not self.selection:
            return done
        variant = self.selected_variant(method, horizon)
        return [r for r in done if variant_of(r.cell, self.selection) == variant]

    def selected_variant(self, method: str, horizon: int | None) -> str:
        """The swept setting with the highest IQM for ``method`` at ``horizon``."""
        key = ("variant", method, horizon)
        if key not in self._cache:
            groups: dict[str, list[CellRecord]] = {}
            for r in self.records:
                if r.done and _method(r.cell) == method and (horizon is None or r.cell.horizon == horizon):
                    groups.setdefault(variant_of(r.cell, self.selection), []).append(r)
            if not groups:
                raise NotEvaluable(f"no finished cell of method {method!r} at H={horizon}")
            best = max(groups, key=lambda v: iqm(np.concatenate(list(self._scores(groups[v]).values()))))
            self._cache[key] = best
        return self._cache[key]

    # --- scores ----------------------------------------------------------------------------------

    def _normalise(self, values, env: str, horizon: int) -> np.ndarray:
        values = np.asarray(values, dtype=np.float64)
        if self.score == "return":
            return values
        return np.asarray(normalised_return(values, env, horizon), dtype=np.float64).reshape(values.shape)

    def _scores(self, records: Sequence[CellRecord]) -> dict[str, np.ndarray]:
        per_env: dict[str, list[np.ndarray]] = {}
        for r in records:
            final = np.asarray(r.result["final_return"], dtype=np.float64)
            final = final[np.isfinite(final)]
            if final.size:
                per_env.setdefault(r.cell.env, []).append(self._normalise(final, r.cell.env, r.cell.horizon))
        if not per_env:
            raise NotEvaluable("no finite final return in the selected cells")
        return {env: np.concatenate(parts) for env, parts in per_env.items()}

    def scores(self, method: str, horizon: int) -> dict[str, np.ndarray]:
        """Per system, the per-seed final scores of ``method`` at ``horizon``."""
        return self._scores(self.cells(method, horizon))

    def interval(self, method: str, horizon: int) -> IntervalEstimate:
        """The IQM over systems and seeds with its stratified-bootstrap 95% interval."""
        key = ("iqm", method, horizon)
        if key not in self._cache:
            self._cache[key] = stratified_bootstrap_ci(
                self.scores(method, horizon), n_resamples=self.n_resamples, seed=self.seed
            )
        return self._cache[key]

    def mean_std(self, method: str, horizon: int) -> tuple[float, float]:
        """Mean and standard deviation over every seed (the paper's "± std" figures)."""
        values = np.concatenate(list(self.scores(method, horizon).values()))
        return float(values.mean()), float(values.std(ddof=1)) if values.size > 1 else 0.0

    def curve(self, method: str, horizon: int, *, n_resamples: int = 500) -> LearningCurve:
        """The IQM learning curve of ``method`` at ``horizon`` (scores as `score`)."""
        per_task: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
        for r in self.cells(method, horizon):
            for steps, returns in r.curves.values():
                if len(steps):
                    per_task.setdefault(r.cell.env, []).append(
                        (steps, self._normalise(returns, r.cell.env, r.cell.horizon))
                    )
        if not per_task:
            raise NotEvaluable(f"no learning curve recorded for {method!r} at H={horizon}")
        return iqm_learning_curve(per_task, n_resamples=n_resamples, seed=self.seed)

    def result_values(self, method: str, horizon: int | None, field: str) -> list:
        """``result[field]`` of every selected finished cell (for diagnostic cells)."""
        return [r.result[field] for r in self.cells(method, horizon) if field in r.result]


def _method(cell: Cell) -> str:
    return cell.method or cell.model or cell.kind


# --- rliable-style aggregates -----------------------------------------------------------------------


def _task_arrays(scores_per_task, argname: str) -> list[np.ndarray]:
    tasks = list(scores_per_task.values()) if isinstance(scores_per_task, Mapping) else list(scores_per_task)
    if not tasks:
        raise ValueError(f"`{argname}` is empty: at least one task is needed")
    out = []
    for i, t in enumerate(tasks):
        a = np.asarray(t, dtype=np.float64).reshape(-1)
        if a.size == 0 or np.isnan(a).any():
            raise ValueError(f"`{argname}[{i}]` must hold at least one score and no NaN")
        out.append(a)
    return out


def _resample(rng: np.random.Generator, tasks: list[np.ndarray], n: int) -> list[np.ndarray]:
    """``n`` stratified replicates: each task's seeds resampled with replacement, tasks independent."""
    return [t[rng.integers(0, t.size, size=(n, t.size))] for t in tasks]


def performance_profile(
    scores_per_task: Mapping[Any, Any] | Sequence[Any],
    taus: Sequence[float] | np.ndarray,
    *,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    r"""The run-score distribution of Agarwal et al. (2021): for each threshold $\tau$, the fraction of
    runs scoring above it, $\hat F(\tau) = \frac{1}{M}\sum_m \frac{1}{N_m}\sum_n [x_{m,n} > \tau]$
    (each task weighted equally), with a stratified-bootstrap interval.

    **Returns:** ``{"taus", "fraction", "low", "high"}`` arrays.
    """
    tasks = _task_arrays(scores_per_task, "scores_per_task")
    taus = np.asarray(taus, dtype=np.float64).reshape(-1)

    def profile(samples):  # samples: list of (..., n_m) arrays
        return np.mean([(s[..., None] > taus).mean(axis=-2) for s in samples], axis=0)

    point = profile(tasks)
    boot = profile(_resample(np.random.default_rng(seed), tasks, n_resamples))
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(boot, [alpha, 1.0 - alpha], axis=0)
    return {"taus": taus, "fraction": point, "low": low, "high": high}


def probability_of_improvement(
    x_per_task: Mapping[Any, Any],
    y_per_task: Mapping[Any, Any],
    *,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> IntervalEstimate:
    r"""$P(X > Y)$ of Agarwal et al. (2021): on each task shared by both, the Mann-Whitney statistic
    $\frac{1}{NK}\sum_{i,j} \big([x_i > y_j] + \tfrac12 [x_i = y_j]\big)$, averaged over tasks, with a
    stratified-bootstrap interval (each method's seeds resampled within each task).

    **Arguments:** `x_per_task`, `y_per_task`: mappings task -> per-seed scores of the two methods;
    `confidence`, `n_resamples`, `seed`: the bootstrap.
    """
    if not isinstance(x_per_task, Mapping) or not isinstance(y_per_task, Mapping):
        raise TypeError("`x_per_task` and `y_per_task` must be mappings task -> per-seed scores")
    shared = [t for t in x_per_task if t in y_per_task]
    if not shared:
        raise ValueError("`x_per_task` and `y_per_task` share no task")
    xs = _task_arrays([x_per_task[t] for t in shared], "x_per_task")
    ys = _task_arrays([y_per_task[t] for t in shared], "y_per_task")

    def poi(xs_, ys_):
        per = [
            ((x[..., :, None] > y[..., None, :]) + 0.5 * (x[..., :, None] == y[..., None, :])).mean(
                axis=(-1, -2)
            )
            for x, y in zip(xs_, ys_)
        ]
        return np.mean(per, axis=0)

    rng = np.random.default_rng(seed)
    estimate = float(poi(xs, ys))
    boot = poi(_resample(rng, xs, n_resamples), _resample(rng, ys, n_resamples))
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(boot, [alpha, 1.0 - alpha])
    return IntervalEstimate(
        estimate=estimate,
        low=float(low),
        high=float(high),
        confidence=confidence,
        n_resamples=n_resamples,
        method="percentile",
        tasks=len(shared),
        scores=int(sum(x.size for x in xs) + sum(y.size for y in ys)),
    )


def iqm_learning_curve(
    curves_per_task: Mapping[Any, Sequence[tuple[Any, Any]]],
    *,
    confidence: float = 0.95,
    n_resamples: int = 500,
    seed: int = 0,
) -> LearningCurve:
    """The IQM learning curve over tasks and seeds, with stratified-bootstrap intervals at each point.

    Every seed's curve ``(env_steps, returns)`` is interpolated (``numpy.interp``) onto the evaluation
    steps of the shortest curve, so runs evaluated at slightly different steps aggregate together.

    **Arguments:** `curves_per_task`: mapping task -> list of ``(steps, returns)`` per seed.
    """
    runs = [
        (np.asarray(s, dtype=np.float64), np.asarray(r, dtype=np.float64))
        for c in curves_per_task.values()
        for s, r in c
    ]
    if not runs:
        raise ValueError("`curves_per_task` holds no curve")
    grid = min((s for s, _ in runs), key=lambda s: s[-1])
    per_task = {
        task: np.stack([np.interp(grid, np.asarray(s, float), np.asarray(r, float)) for s, r in curves])
        for task, curves in curves_per_task.items()
        if curves
    }
    mid, low, high = [], [], []
    for j in range(grid.size):
        column = {t: v[:, j][np.isfinite(v[:, j])] for t, v in per_task.items()}
        column = {t: v for t, v in column.items() if v.size}
        if not column:
            mid.append(math.nan), low.append(math.nan), high.append(math.nan)
            continue
        est = stratified_bootstrap_ci(column, confidence=confidence, n_resamples=n_resamples, seed=seed)
        mid.append(est.estimate), low.append(est.low), high.append(est.high)
    return LearningCurve(grid, np.asarray(mid), np.asarray(low), np.asarray(high))


def interval_dict(est: IntervalEstimate) -> dict[str, float]:
    """``{"estimate", "low", "high"}`` of an interval, rounded for reports."""
    return {"estimate": round(est.estimate, 4), "low": round(est.low, 4), "high": round(est.high, 4)}

"""Normalised returns, the interquartile mean and stratified-bootstrap confidence intervals
(Agarwal et al., 2021, "Deep reinforcement learning at the edge of the statistical precipice")."""

import dataclasses
import math
import pathlib
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

import numpy as np
import scipy.stats
from jaxtyping import ArrayLike, Float

from ._references import reference

_METHODS = ("percentile", "basic", "BCa")

#: Scores given as an array, a scalar or a (nested) list of numbers.
ScoresLike: TypeAlias = ArrayLike | Sequence[Any]


def normalised_return(
    returns: ScoresLike,
    env_name: str,
    horizon: int,
    *,
    references: str | pathlib.Path | None = None,
) -> float | Float[np.ndarray, "..."]:
    """Maps returns onto the scale on which a uniformly random policy scores 0 and the optimal open-loop
    controls score 1 (paper, Appendix F):

    $$\\bar R = \\frac{R - R_\\text{random}}{R_\\text{optimal} - R_\\text{random}}.$$

    **Arguments:**

    - `returns`: one return or an array of returns (any shape), measured on ``env_name`` at ``horizon``.
    - `env_name`, `horizon`: which reference to use ([`awmkit.evaluation.reference`][]).
    - `references`: an additional references file (for pairs that are not shipped).

    **Returns:** a float for a scalar input, else a float64 array of the input's shape.
    """
    ref = reference(env_name, horizon, references=references)
    scale = ref.optimal_return - ref.random_return
    if not scale > 0:
        raise ValueError(
            f"the reference for {env_name} at H={horizon} has optimal_return {ref.optimal_return} <= "
            f"random_return {ref.random_return}: cannot normalise"
        )
    values = np.asarray(returns, dtype=np.float64)
    out = (values - ref.random_return) / scale
    return float(out) if out.ndim == 0 else out


def _as_scores(x, argname: str) -> np.ndarray:
    try:
        values = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"`{argname}` must be an array of real numbers, got {type(x).__name__}") from None
    if values.size == 0:
        raise ValueError(f"`{argname}` is empty: at least one score is needed")
    if np.isnan(values).any():
        raise ValueError(f"`{argname}` contains NaN")
    return values


def _iqm_along_last(values: np.ndarray) -> np.ndarray:
    # scipy.stats.trim_mean(x, 0.25): drop int(0.25 n) of the smallest and of the largest values.
    n = values.shape[-1]
    cut = int(0.25 * n)
    ordered = np.sort(values, axis=-1)
    return np.asarray(ordered[..., cut : n - cut].mean(axis=-1))


def iqm(scores: ScoresLike, axis: int | None = None) -> float | Float[np.ndarray, "..."]:
    """The interquartile mean: the mean of the middle 50% of the scores.

    Same semantics as ``scipy.stats.trim_mean(scores, 0.25, axis)``: with ``n`` scores,
    ``int(0.25 n)`` of the smallest and as many of the largest are dropped before averaging (so for
    ``n < 4`` it is the plain mean). Robust to outlier seeds, yet less noisy than the median.

    **Arguments:**

    - `scores`: an array of scores.
    - `axis`: the axis to reduce; ``None`` (default) pools every score.

    **Returns:** a float when reducing everything, else an array.
    """
    values = _as_scores(scores, "scores")
    if axis is None:
        return float(_iqm_along_last(values.reshape(-1)))
    if not isinstance(axis, int) or not -values.ndim <= axis < values.ndim:
        raise ValueError(
            f"`axis` must be None or an integer in [-{values.ndim}, {values.ndim}), got {axis!r}"
        )
    return _iqm_along_last(np.moveaxis(values, axis, -1))


@dataclasses.dataclass(frozen=True)
class IntervalEstimate:
    """A point estimate with a confidence interval.

    **Fields:** `estimate` (the statistic on the data), `low`, `high` (the interval), `confidence` (its
    level), `n_resamples`, `method` (the ``scipy.stats.bootstrap`` method) and `tasks`, `scores` (the
    numbers of strata and of pooled scores).
    """

    estimate: float
    low: float
    high: float
    confidence: float
    n_resamples: int
    method: str
    tasks: int
    scores: int

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def stratified_bootstrap_ci(
    scores_per_task: Sequence[ScoresLike] | Mapping[Any, ScoresLike] | np.ndarray,
    *,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
    method: str = "percentile",
) -> IntervalEstimate:
    """The IQM of pooled scores with a stratified-bootstrap confidence interval over seeds and tasks.

    Each task (stratum) is one sample of ``scipy.stats.bootstrap``: every bootstrap replicate resamples
    the seeds *within* each task with replacement, independently across tasks, pools the replicates and
    takes their [`awmkit.evaluation.iqm`][]. This is the interval of Agarwal et al. (2021) (``rliable``),
    which keeps the number of runs per task fixed. A task with a single seed is always resampled to itself
    (``scipy.stats.bootstrap`` needs two observations per sample, so such tasks enter as constants).

    **Arguments:**

    - `scores_per_task`: one 1-D array of per-seed scores for each task (a sequence, or a mapping whose
      values are used), e.g. normalised returns per (environment, horizon).
    - `confidence`: the confidence level (default 0.95).
    - `n_resamples`: bootstrap replicates.
    - `seed`: seeds the resampling (``numpy.random.default_rng(seed)``), so intervals are reproducible.
    - `method`: ``"percentile"`` (rliable's choice, default), ``"basic"`` or ``"BCa"``.

    **Returns:** a [`awmkit.evaluation.IntervalEstimate`][].
    """
    if isinstance(scores_per_task, Mapping):
        tasks = list(scores_per_task.values())
    elif isinstance(scores_per_task, (str, bytes)) or not isinstance(scores_per_task, (Sequence, np.ndarray)):
        raise TypeError(
            f"`scores_per_task` must be a sequence or mapping of per-task score arrays, got "
            f"{type(scores_per_task).__name__}"
        )
    else:
        tasks = list(scores_per_task)
    if not tasks:
        raise ValueError("`scores_per_task` is empty: at least one task is needed")
    samples = []
    for i, task in enumerate(tasks):
        values = _as_scores(task, f"scores_per_task[{i}]")
        if values.ndim != 1:
            raise ValueError(
                f"`scores_per_task[{i}]` must be 1-D (one score per seed), got shape {values.shape}"
            )
        samples.append(values)
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"`confidence` must lie in (0, 1), got {confidence!r}")
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int) or n_resamples < 1:
        raise ValueError(f"`n_resamples` must be a positive integer, got {n_resamples!r}")
    if method not in _METHODS:
        raise ValueError(f"`method` must be one of {', '.join(_METHODS)}, got {method!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"`seed` must be an integer, got {seed!r}")

    pooled = np.concatenate(samples)
    estimate = float(_iqm_along_last(pooled))
    varying = [s for s in samples if s.shape[0] > 1]
    fixed = np.concatenate([s for s in samples if s.shape[0] == 1] or [np.zeros((0,))])
    low = high = estimate
    if varying:

        def statistic(*resampled, axis):
            # scipy hands in each task's replicates with the seed axis at `axis` (-1 here).
            batch = resampled[0].shape[:-1]
            parts = [np.moveaxis(r, axis, -1) for r in resampled]
            parts.append(np.broadcast_to(fixed, batch + fixed.shape))
            return _iqm_along_last(np.concatenate(parts, axis=-1))

        result = scipy.stats.bootstrap(
            tuple(varying),
            statistic,
            n_resamples=n_resamples,
            vectorized=True,
            axis=-1,
            confidence_level=confidence,
            method=method,
            rng=np.random.default_rng(seed),
        )
        low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
        if math.isnan(low) or math.isnan(high):  # BCa on degenerate data; fall back to the estimate
            low = high = estimate
    return IntervalEstimate(
        estimate=estimate,
        low=low,
        high=high,
        confidence=confidence,
        n_resamples=n_resamples,
        method=method,
        tasks=len(samples),
        scores=int(pooled.shape[0]),
    )

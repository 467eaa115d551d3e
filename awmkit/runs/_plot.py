"""The one learning-curve plot of a run (``learning_curve.png``)."""

import os

import numpy as np


def plot_learning_curve(
    path: str | os.PathLike,
    steps: np.ndarray,
    returns: np.ndarray,
    *,
    label: str,
    title: str,
    random_return: float | None = None,
    optimal_return: float | None = None,
) -> None:
    """Evaluation return against environment steps: each seed (faint), their mean and its Student-t
    95% confidence interval, with the random-policy and optimal returns as lines when given.

    ``steps`` has shape ``(evaluations,)`` and ``returns`` ``(evaluations, seeds)``. Raises
    ``ImportError`` when matplotlib (the ``plot`` extra) is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError(
            "plotting the learning curve needs matplotlib: pip install 'awmkit[plot]'"
        ) from None
    import scipy.stats

    steps, returns = np.asarray(steps), np.asarray(returns, dtype=np.float64)
    fig, ax = plt.subplots(figsize=(6, 4))
    for j in range(returns.shape[1]):
        ax.plot(steps, returns[:, j], color="C0", alpha=0.25, linewidth=0.8)
    mean = returns.mean(axis=1)
    ax.plot(steps, mean, color="C0", label=f"{label} mean of {returns.shape[1]} seeds")
    if returns.shape[1] > 1:
        half = scipy.stats.t.ppf(0.975, returns.shape[1] - 1) * scipy.stats.sem(returns, axis=1)
        ax.fill_between(steps, mean - half, mean + half, color="C0", alpha=0.2, label="95% CI")
    if random_return is not None:
        ax.axhline(random_return, color="grey", linestyle="--", label="uniformly random actions")
    if optimal_return is not None:
        ax.axhline(optimal_return, color="black", linestyle=":", label="optimal (trajopt)")
    ax.set_xlabel("environment steps")
    ax.set_ylabel("evaluation return")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)

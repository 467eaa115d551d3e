"""The figures of the reports, in the paper's layouts (matplotlib, PNG; ``pip install awmkit[plot]``)."""

import pathlib
from collections.abc import Sequence

import numpy as np

from .._aggregate import FigureData, NotEvaluable, performance_profile

_COLORS = {
    "awm-transformer": "C3",
    "awm-rnn": "C1",
    "awm-lstm": "C4",
    "hwm-transformer": "C0",
    "markovian": "C2",
    "simulator": "k",
    "sac": "C5",
    "odt-expert": "C6",
    "odt-overshot": "C7",
    "awm-transformer-full": "C8",
    "hwm-transformer-full": "C9",
}


def _figure(nrows: int, ncols: int, size: tuple[float, float]):
    try:
        from matplotlib.figure import Figure  # optional extra awmkit[plot]; keeps it out of start-up
    except ImportError:  # pragma: no cover - exercised only without matplotlib
        raise ImportError("the report figures need matplotlib: `pip install awmkit[plot]`") from None
    fig = Figure(figsize=size, layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).reshape(-1)
    return fig, axes


def _save(fig, path: pathlib.Path) -> pathlib.Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


def _color(method: str, i: int) -> str:
    return _COLORS.get(method, f"C{i % 10}")


def _ylabel(data: FigureData) -> str:
    return "normalised return (IQM)" if data.score == "normalised" else "return"


def bars_by_horizon(
    data: FigureData,
    path: pathlib.Path,
    *,
    title: str,
    methods: Sequence[str] | None = None,
    stat: str = "iqm",
) -> pathlib.Path:
    """Final performance grouped by horizon, one bar per method: IQM with its 95% interval
    (``stat="iqm"``, Figures 5a, 8, 10) or mean ± std (``stat="mean"``, Figure 2)."""
    methods = list(methods or data.methods())
    horizons = data.horizons()
    fig, (ax,) = _figure(1, 1, (max(5.0, 1.2 * len(horizons) * max(1, len(methods)) / 2), 3.6))
    width = 0.8 / max(len(methods), 1)
    for i, m in enumerate(methods):
        xs, ys, lo, hi = [], [], [], []
        for j, h in enumerate(horizons):
            try:
                if stat == "iqm":
                    est = data.interval(m, h)
                    y, a, b = est.estimate, est.low, est.high
                else:
                    y, s = data.mean_std(m, h)
                    a, b = y - s, y + s
            except NotEvaluable:
                continue
            xs.append(j + (i - (len(methods) - 1) / 2) * width)
            ys.append(y), lo.append(y - a), hi.append(b - y)
        if xs:
            ax.bar(xs, ys, width, yerr=[lo, hi], capsize=2, color=_color(m, i), label=m, alpha=0.85)
    ax.set_xticks(range(len(horizons)), [f"H = {h}" for h in horizons])
    ax.set_ylabel(_ylabel(data) if stat == "iqm" else "final return (mean ± std)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return _save(fig, path)


def curves(
    data: FigureData,
    path: pathlib.Path,
    *,
    title: str,
    methods: Sequence[str] | None = None,
    horizons: Sequence[int] | None = None,
    per_env: bool = False,
) -> pathlib.Path:
    """IQM learning curves with 95% intervals, one panel per horizon (Figures 5b, 6), or one panel per
    system at the longest horizon (``per_env``, Figures 7, 9)."""
    methods = list(methods or data.methods())
    if per_env:
        h = max(horizons or data.horizons())
        panels = [(env, h) for env in data.envs()]
    else:
        panels = [(None, h) for h in (horizons or data.horizons())]
    ncols = min(4, len(panels))
    nrows = -(-len(panels) // ncols)
    fig, axes = _figure(nrows, ncols, (3.2 * ncols, 2.6 * nrows))
    for ax, (env, h) in zip(axes, panels):
        drawn = 0
        for i, m in enumerate(methods):
            sub = data if env is None else data.only_env(env)
            try:
                c = sub.curve(m, h)
            except NotEvaluable:
                continue
            ax.plot(c.steps, c.iqm, color=_color(m, i), label=m, lw=1.3)
            ax.fill_between(c.steps, c.low, c.high, color=_color(m, i), alpha=0.2)
            drawn += 1
        if not drawn:
            ax.text(
                0.5, 0.5, "no finished cells", ha="center", va="center", transform=ax.transAxes, fontsize=8
            )
        ax.set_title(f"{env}, H = {h}" if env else f"H = {h}", fontsize=8)
        ax.set_xlabel("environment steps", fontsize=7)
        ax.tick_params(labelsize=7)
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    axes[0].set_ylabel(_ylabel(data), fontsize=7)
    for ax in axes:  # the legend on the first panel that drew something
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=6)
            break
    fig.suptitle(title, fontsize=9)
    return _save(fig, path)


def profiles(
    data: FigureData, path: pathlib.Path, *, horizon: int, methods: Sequence[str] | None = None
) -> pathlib.Path:
    """Performance profiles (run-score distributions) of every method at ``horizon``."""
    fig, (ax,) = _figure(1, 1, (5.0, 3.4))
    taus = np.linspace(-0.5, 1.5, 81)
    for i, m in enumerate(methods or data.methods()):
        try:
            prof = performance_profile(data.scores(m, horizon), taus, n_resamples=500, seed=data.seed)
        except NotEvaluable:
            continue
        ax.plot(taus, prof["fraction"], color=_color(m, i), label=m)
        ax.fill_between(taus, prof["low"], prof["high"], color=_color(m, i), alpha=0.2)
    ax.set_xlabel(r"normalised score $\tau$")
    ax.set_ylabel(r"fraction of runs with score $> \tau$")
    ax.set_title(f"performance profiles, H = {horizon}", fontsize=9)
    ax.legend(fontsize=7)
    return _save(fig, path)


def growth(data: FigureData, path: pathlib.Path, *, title: str) -> pathlib.Path:
    """Mean gradient norm against the horizon, log scale, with the exponential fit (Figure 4b)."""
    fig, (ax,) = _figure(1, 1, (5.0, 3.6))
    for i, m in enumerate(data.methods()):
        try:
            r = data.cells(m)[0].result
        except NotEvaluable:
            continue
        h = np.asarray(r["horizons"], float)
        ax.plot(h, r["mean_norm"], "o-", color=_color(m, i), label=f"{m} ({r['verdict']})")
    ax.set_yscale("log")
    ax.set_xlabel("horizon H")
    ax.set_ylabel(r"mean $\|\partial \hat s_H / \partial a_0\|$")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return _save(fig, path)


def landscapes(data: FigureData, path: pathlib.Path, *, title: str) -> pathlib.Path:
    """The return against the initial action for the simulator and every model (Figures 3c, 4c)."""
    fig, (ax,) = _figure(1, 1, (5.5, 3.6))
    drawn_truth = False
    for i, m in enumerate(data.methods()):
        try:
            recs = data.cells(m)
        except NotEvaluable:
            continue
        r = recs[0].result
        if not drawn_truth:
            ax.plot(r["grid"], r["simulator"], color="k", lw=2, label="simulator")
            drawn_truth = True
        if m != "simulator":
            ax.plot(r["grid"], r["landscapes"][0], color=_color(m, i), lw=1.2, label=m)
    ax.set_xlabel("initial action $a_0$")
    ax.set_ylabel("return")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return _save(fig, path)

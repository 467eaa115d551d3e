"""The figures of the reports, in the style of rliable (Agarwal et al., 2021) and in the paper's layouts
(matplotlib, PNG at 200 dpi; ``pip install awmkit[plot]``).

- Final performance is drawn as **interval estimates**: per method a horizontal bar spanning the 95%
  stratified-bootstrap interval with the point estimate (IQM, or mean with ``± std``) marked, one panel
  per horizon, the axis fitted to the intervals (never anchored at zero, so 0.90 and 0.96 look apart).
- **Performance profiles** (fraction of runs above each score) with their bootstrap bands, beside the
  **probability of improvement** of the first method over each other one.
- Learning curves: IQM with the 95% band, one panel per horizon, or per system and horizon.

Every method has one colour in every figure (:func:`method_color`); legends sit outside the axes and
titles are wrapped to the figure's width, so neither covers data nor is cut off.
"""

import pathlib
import textwrap
import zlib
from collections.abc import Sequence

import numpy as np

from .._aggregate import FigureData, NotEvaluable, performance_profile, probability_of_improvement

DPI = 200
# Paul Tol's colour-blind-safe "bright" and "muted" schemes, one fixed colour per method.
_COLORS = {
    "awm-transformer": "#EE6677",
    "awm-rnn": "#CCBB44",
    "awm-lstm": "#AA3377",
    "awm-ssm": "#882255",
    "hwm-transformer": "#4477AA",
    "markovian": "#228833",
    "simulator": "#222222",
    "sac": "#66CCEE",
    "odt-expert": "#BBBBBB",
    "odt-overshot": "#999933",
    "awm-transformer-full": "#CC6677",
    "hwm-transformer-full": "#332288",
}
_EXTRA = ("#44AA99", "#DDCC77", "#117733", "#88CCEE", "#661100", "#6699CC")


def method_color(method: str) -> str:
    """The colour of `method` in every figure (a fixed table; other names get a stable colour of their
    own from a hash of the name, never one that depends on the order of plotting)."""
    return _COLORS.get(method, _EXTRA[zlib.crc32(method.encode()) % len(_EXTRA)])


def _figure(nrows: int, ncols: int, size: tuple[float, float]):
    try:
        from matplotlib.figure import Figure  # optional extra awmkit[plot]; keeps it out of start-up
    except ImportError:  # pragma: no cover - exercised only without matplotlib
        raise ImportError("the report figures need matplotlib: `pip install awmkit[plot]`") from None
    fig = Figure(figsize=size, layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).reshape(-1)
    for ax in axes:
        ax.tick_params(labelsize=8)
        ax.spines[["top", "right"]].set_visible(False)
    return fig, axes


def _title(fig, title: str) -> None:
    chars = max(30, int(fig.get_figwidth() * 13))  # ~13 characters of 10 pt text per inch
    fig.suptitle(textwrap.fill(title, chars), fontsize=10)


def _legend(fig, methods: Sequence[str], *, marker: str | None = None) -> None:
    """One legend for the whole figure, below the axes (constrained layout makes room for it)."""
    from matplotlib.lines import Line2D  # optional extra awmkit[plot]; keeps it out of start-up

    handles = [Line2D([], [], color=method_color(m), lw=2.5, marker=marker) for m in methods]
    if handles:
        ncol = min(len(handles), max(1, int(fig.get_figwidth() / 1.6)))
        fig.legend(handles, list(methods), loc="outside lower center", ncol=ncol, fontsize=8, frameon=False)


def _save(fig, path: pathlib.Path) -> pathlib.Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)
    return path


def _ylabel(data: FigureData) -> str:
    return "normalised return (IQM)" if data.score == "normalised" else "return (IQM)"


def _estimate(data: FigureData, m: str, h: int, stat: str) -> tuple[float, float, float]:
    if stat == "iqm":
        est = data.interval(m, h)
        return est.estimate, est.low, est.high
    y, s = data.mean_std(m, h)
    return y, y - s, y + s


def _fit_axis(ax, lows: list[float], highs: list[float]) -> None:
    lo, hi = min(lows), max(highs)
    pad = 0.08 * (hi - lo) if hi > lo else max(0.05 * abs(hi), 0.05)
    ax.set_xlim(lo - pad, hi + pad)


def bars_by_horizon(
    data: FigureData,
    path: pathlib.Path,
    *,
    title: str,
    methods: Sequence[str] | None = None,
    stat: str = "iqm",
) -> pathlib.Path:
    """Final performance as rliable's interval estimates, one panel per horizon, one row per method:
    IQM with its 95% stratified-bootstrap interval (``stat="iqm"``, Figures 5a, 8, 10) or mean ± std
    (``stat="mean"``, Figure 2). Each panel's axis spans the intervals, not zero."""
    methods = list(methods or data.methods())
    horizons = data.horizons()
    ncols = max(1, min(3, len(horizons)))
    nrows = max(1, -(-len(horizons) // ncols))
    fig, axes = _figure(nrows, ncols, (3.0 * ncols + 1.2, 0.32 * len(methods) * nrows + 1.6 * nrows + 0.6))
    drawn: list[str] = []
    for ax, h in zip(axes, horizons):
        lows, highs = [], []
        for row, m in enumerate(methods):
            try:
                y, a, b = _estimate(data, m, h, stat)
            except NotEvaluable:
                continue
            ax.barh(row, b - a, left=a, height=0.6, color=method_color(m), alpha=0.75)
            ax.plot([y, y], [row - 0.3, row + 0.3], color="k", lw=1.6)
            lows.append(a), highs.append(b)
            drawn += [m] if m not in drawn else []
        ax.set_yticks(range(len(methods)), methods if ax is axes[0] or ncols == 1 else [""] * len(methods))
        ax.set_ylim(len(methods) - 0.5, -0.5)
        ax.set_title(f"H = {h}", fontsize=9)
        ax.grid(axis="x", alpha=0.3)
        if lows:
            _fit_axis(ax, lows, highs)
        else:
            ax.text(
                0.5, 0.5, "no finished cells", ha="center", va="center", transform=ax.transAxes, fontsize=8
            )
        ax.set_xlabel(_ylabel(data) if stat == "iqm" else "final return (mean ± std)", fontsize=8)
    for ax in axes[len(horizons) :]:
        ax.set_visible(False)
    _title(fig, title)
    return _save(fig, path)


#: rliable's name for the same plot.
interval_estimates = bars_by_horizon


def curves(
    data: FigureData,
    path: pathlib.Path,
    *,
    title: str,
    methods: Sequence[str] | None = None,
    horizons: Sequence[int] | None = None,
    per_env: bool = False,
) -> pathlib.Path:
    """IQM learning curves with 95% bands: one panel per horizon (Figures 5b, 6), or with ``per_env``
    one row of panels per system, one column per horizon (Figures 7, 9)."""
    methods = list(methods or data.methods())
    hs = list(horizons or data.horizons())
    envs = data.envs() if per_env else [None]
    panels = [(env, h) for env in envs for h in hs]
    ncols = len(hs) if per_env else min(4, len(panels))
    nrows = len(envs) if per_env else -(-len(panels) // ncols)
    fig, axes = _figure(nrows, ncols, (2.9 * ncols + 0.4, 2.1 * nrows + 1.1))
    drawn: list[str] = []
    for ax, (env, h) in zip(axes, panels):
        sub = data if env is None else data.only_env(env)
        for m in methods:
            try:
                c = sub.curve(m, h)
            except NotEvaluable:
                continue
            ax.plot(c.steps, c.iqm, color=method_color(m), lw=1.4)
            ax.fill_between(c.steps, c.low, c.high, color=method_color(m), alpha=0.2, lw=0)
            drawn += [m] if m not in drawn else []
        if not ax.lines:
            ax.text(
                0.5, 0.5, "no finished cells", ha="center", va="center", transform=ax.transAxes, fontsize=8
            )
        ax.set_title(f"{env}, H = {h}" if env else f"H = {h}", fontsize=9)
        ax.set_xlabel("environment steps", fontsize=8)
        ax.grid(alpha=0.3)
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    for r in range(nrows):
        axes[r * ncols].set_ylabel(_ylabel(data), fontsize=8)
    _legend(fig, drawn)
    _title(fig, title)
    return _save(fig, path)


def profiles(
    data: FigureData, path: pathlib.Path, *, horizon: int, methods: Sequence[str] | None = None
) -> pathlib.Path:
    """Performance profiles (fraction of runs scoring above each threshold, with 95% bands) of every
    method at ``horizon``, beside the probability of improvement of the first method over each other."""
    methods = list(methods or data.methods())
    fig, (ax, ax_poi) = _figure(1, 2, (8.6, 3.6))
    taus = np.linspace(-0.5, 1.5, 81)
    drawn: list[str] = []
    for m in methods:
        try:
            prof = performance_profile(data.scores(m, horizon), taus, n_resamples=500, seed=data.seed)
        except NotEvaluable:
            continue
        ax.plot(taus, prof["fraction"], color=method_color(m), lw=1.5)
        ax.fill_between(taus, prof["low"], prof["high"], color=method_color(m), alpha=0.2, lw=0)
        drawn.append(m)
    ax.set_xlabel(r"normalised score $\tau$", fontsize=8)
    ax.set_ylabel(r"fraction of runs with score $> \tau$", fontsize=8)
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.set_title("performance profiles", fontsize=9)
    _improvement(ax_poi, data, horizon, methods)
    _legend(fig, drawn)
    _title(fig, f"H = {horizon}: score distributions and probability of improvement (95% CIs)")
    return _save(fig, path)


def _improvement(ax, data: FigureData, horizon: int, methods: Sequence[str]) -> None:
    """P(first method > other) per other method, as interval estimates around the 0.5 line."""
    rows = []
    if methods:
        try:
            mine = data.scores(methods[0], horizon)
        except NotEvaluable:
            mine = None
        for m in methods[1:]:
            try:
                est = probability_of_improvement(
                    mine, data.scores(m, horizon), n_resamples=500, seed=data.seed
                )
            except (NotEvaluable, TypeError, ValueError):
                continue
            rows.append((m, est))
    for i, (m, est) in enumerate(rows):
        ax.barh(i, est.high - est.low, left=est.low, height=0.6, color=method_color(m), alpha=0.75)
        ax.plot([est.estimate] * 2, [i - 0.3, i + 0.3], color="k", lw=1.6)
    ax.axvline(0.5, color="0.4", ls="--", lw=1)
    ax.set_yticks(range(len(rows)), [m for m, _ in rows])
    ax.set_ylim(len(rows) - 0.5, -0.5)
    lows = [e.low for _, e in rows] + [0.5]
    highs = [e.high for _, e in rows] + [0.5]
    _fit_axis(ax, lows, highs)
    ax.grid(axis="x", alpha=0.3)
    first = methods[0] if methods else "?"
    ax.set_xlabel(f"P({first} > Y)", fontsize=8)
    ax.set_title(f"probability of improvement of {first}", fontsize=9)
    if not rows:
        ax.text(0.5, 0.5, "no finished cells", ha="center", va="center", transform=ax.transAxes, fontsize=8)


def growth(data: FigureData, path: pathlib.Path, *, title: str) -> pathlib.Path:
    """Mean gradient norm against the horizon, log scale, with the fit's verdict (Figure 4b)."""
    fig, (ax,) = _figure(1, 1, (5.6, 3.9))
    labels = []
    for m in data.methods():
        try:
            r = data.cells(m)[0].result
        except NotEvaluable:
            continue
        h = np.asarray(r["horizons"], float)
        ax.plot(h, r["mean_norm"], "o-", color=method_color(m), ms=4)
        labels.append(f"{m} ({r['verdict']})")
    ax.set_yscale("log")
    ax.set_xlabel("horizon H", fontsize=8)
    ax.set_ylabel(r"mean $\|\partial \hat s_H / \partial a_0\|$", fontsize=8)
    ax.grid(alpha=0.3, which="both")
    _named_legend(fig, ax, labels)
    _title(fig, title)
    return _save(fig, path)


def _named_legend(fig, ax, labels: list[str], handles: list | None = None) -> None:
    if labels:
        ncol = min(len(labels), max(1, int(fig.get_figwidth() / 2.6)))
        handles = ax.lines if handles is None else handles
        fig.legend(handles, labels, loc="outside lower center", ncol=ncol, fontsize=8, frameon=False)


def landscapes(data: FigureData, path: pathlib.Path, *, title: str) -> pathlib.Path:
    """The return against the initial action for the simulator and every model (Figures 3c, 4c)."""
    fig, (ax,) = _figure(1, 1, (5.8, 3.9))
    labels: list[str] = []
    handles: list = []
    for m in data.methods():
        try:
            r = data.cells(m)[0].result
        except NotEvaluable:
            continue
        if not labels:
            handles += ax.plot(r["grid"], r["simulator"], color=method_color("simulator"), lw=2)
            labels.append("simulator")
        if m != "simulator":  # the first trained model drawn, any others faint
            handles += ax.plot(r["grid"], r["landscapes"][0], color=method_color(m), lw=1.2)
            for y in r["landscapes"][1:]:
                ax.plot(r["grid"], y, color=method_color(m), lw=0.8, alpha=0.35)
            labels.append(m)
    ax.set_xlabel("initial action $a_0$", fontsize=8)
    ax.set_ylabel("return", fontsize=8)
    ax.grid(alpha=0.3)
    _named_legend(fig, ax, labels, handles)
    _title(fig, title)
    return _save(fig, path)

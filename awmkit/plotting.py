"""Matplotlib figures for the diagnostics (an optional dependency: ``pip install awmkit[plot]``).

Every function returns the ``matplotlib.figure.Figure`` and, given ``path``, also saves it there.
"""

from collections.abc import Mapping, Sequence

import numpy as np


def _figure(figsize):
    """A new Figure and its axes, without pyplot (no global state, no GUI backend needed)."""
    try:
        from matplotlib.figure import Figure  # optional extra awmkit[plot]; keeps it out of start-up
    except ImportError:  # pragma: no cover - exercised only without matplotlib
        raise ImportError(
            "awmkit.plotting needs matplotlib: install it with `pip install matplotlib` or "
            "`pip install awmkit[plot]`"
        ) from None
    fig = Figure(figsize=figsize)
    return fig, fig.subplots()


def _finish(fig, path):
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig


def jacobian_heatmap(jacobians, *, title: str | None = None, path=None):
    """Heatmap of ``log10 ||d s_hat_t / d a_k||`` over ``t`` (rows) and ``k`` (columns).

    **Arguments:** `jacobians`: an [`awmkit.diagnostics.ActionJacobians`][] or an ``(H + 1, H)`` array
    of norms; `title`; `path` to save to.
    """
    norms = np.asarray(getattr(jacobians, "norms", jacobians), dtype=float)
    with np.errstate(divide="ignore"):
        logn = np.log10(norms)
    logn[~np.isfinite(logn)] = np.nan
    fig, ax = _figure((5, 4))
    im = ax.imshow(logn, origin="lower", aspect="auto", cmap="viridis")
    fig.colorbar(im, ax=ax, label=r"$\log_{10}\|\partial \hat s_t / \partial a_k\|$")
    ax.set_xlabel("action k")
    ax.set_ylabel("state t")
    ax.set_title(title or "action-Jacobian norms")
    return _finish(fig, path)


def bounds_vs_horizon(horizons: Sequence[int], bounds: Sequence, *, title: str | None = None, path=None):
    """Measured ``||grad J||`` and every bound against the horizon, on log axes.

    **Arguments:** `horizons`; `bounds`: one [`awmkit.diagnostics.Bounds`][] (or its ``as_dict()``)
    per horizon; `title`; `path`.
    """
    rows = [b if isinstance(b, Mapping) else b.as_dict() for b in bounds]
    fig, ax = _figure((6, 4))
    ax.plot(horizons, [r["measured"] for r in rows], "k-o", label="measured", lw=2)
    for name in (
        "theorem1",
        "theorem1_local",
        "theorem2",
        "theorem2_local",
        "corollary_2_1",
        "corollary_2_2",
        "corollary_ssm",
    ):
        vals = np.array([r.get(name, np.nan) for r in rows], dtype=float)
        if np.all(np.isnan(vals)):
            continue
        ax.plot(horizons, vals, "--.", label=name.replace("_", " "))
    ax.set_yscale("log")
    ax.set_xlabel("horizon H")
    ax.set_ylabel(r"$\|\nabla_\theta J\|$")
    ax.legend(fontsize=7)
    ax.set_title(title or "bounds vs measured policy-gradient norm")
    return _finish(fig, path)


def path_heatmap(paths, *, which: str = "applications", title: str | None = None, path=None):
    """Heatmap of the longest gradient path from ``a_k`` (columns) to ``s_hat_t`` (rows).

    **Arguments:** `paths`: an [`awmkit.diagnostics.GradientPaths`][]; `which`: ``"applications"`` or
    ``"matmuls"``; `title`; `path`.
    """
    if which not in ("applications", "matmuls"):
        raise ValueError(f"`which` must be 'applications' or 'matmuls', got {which!r}")
    table = np.asarray(getattr(paths, which), dtype=float)
    table = np.where(np.isfinite(table), table, np.nan)
    fig, ax = _figure((5, 4))
    im = ax.imshow(table, origin="lower", aspect="auto", cmap="magma")
    fig.colorbar(im, ax=ax, label=f"longest path ({which})")
    ax.set_xlabel("action k")
    ax.set_ylabel("state t")
    ax.set_title(title or f"gradient-path length in {which}")
    return _finish(fig, path)


def growth_curves(growths: Mapping[str, object], *, title: str | None = None, path=None):
    """Mean gradient norm against the horizon (log-log axes) for each named
    [`awmkit.diagnostics.HorizonGrowth`][], with its exponential and polynomial fits."""
    fig, ax = _figure((6, 4))
    for i, (name, g) in enumerate(growths.items()):
        color = f"C{i}"
        h = np.asarray(g.horizons, dtype=float)
        ax.plot(h, g.mean_norm, "o", color=color, label=f"{name} ({g.verdict})")
        fine = np.geomspace(h.min(), h.max(), 100)
        ax.plot(fine, g.exponential.predict(fine), "-", color=color, lw=1, alpha=0.8)
        ax.plot(fine, g.polynomial.predict(fine), ":", color=color, lw=1, alpha=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("horizon H")
    ax.set_ylabel("mean gradient norm")
    ax.set_title(title or "gradient norm vs horizon (solid: exponential fit, dotted: polynomial)")
    ax.legend(fontsize=7)
    return _finish(fig, path)


def landscape(land, *, title: str | None = None, path=None):
    """The return against the varied action for every model of an
    [`awmkit.diagnostics.Landscape`][]."""
    fig, ax = _figure((6, 4))
    for name, returns in land.returns.items():
        ax.plot(land.grid, returns, label=name)
    ax.set_xlabel(f"action a_{land.action_index}[{land.component}]")
    ax.set_ylabel("return")
    ax.set_title(title or f"return landscape, H = {land.horizon}")
    ax.legend(fontsize=7)
    return _finish(fig, path)

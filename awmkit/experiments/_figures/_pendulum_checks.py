"""The claims' checks and the plots of Figures 2, 3c, 4b, 4c and 6 (the specs are in
``_pendulum.py``)."""

import pathlib

import numpy as np

from .._aggregate import FigureData
from .._claims import Verdict, highest_mean, longest_horizon, rounded
from . import _plots as plots

PENDULUM_METHODS = ("simulator", "markovian", "hwm-transformer", "awm-transformer")
LEARNED = ("markovian", "hwm-transformer", "awm-transformer")

# --- landscape statistics ------------------------------------------------------------------------------


def local_maxima(y) -> int:
    """Strict interior local maxima of a sampled curve (plateaus count once)."""
    y = np.asarray(y, dtype=float)
    keep = np.concatenate([[True], np.diff(y) != 0])
    z = y[keep]
    if z.size < 3:
        return 0
    return int(np.sum((z[1:-1] > z[:-2]) & (z[1:-1] > z[2:])))


def navigability(model_y, true_y) -> float:
    """Hill-climbing the model's landscape from every grid point (to the better neighbour while it
    improves), the mean true return reached, on the scale where the true minimum is 0 and the true
    maximum 1: how well gradient ascent on the model finds good initial actions."""
    m, t = np.asarray(model_y, float), np.asarray(true_y, float)
    reached = []
    for i in range(m.size):
        j = i
        while True:
            nbrs = [k for k in (j - 1, j + 1) if 0 <= k < m.size]
            k = max(nbrs, key=lambda k: m[k])
            if m[k] <= m[j]:
                break
            j = k
        reached.append(t[j])
    span = t.max() - t.min()
    return float((np.mean(reached) - t.min()) / span) if span > 0 else 1.0


def _landscape(data: FigureData, method: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The grid, the true landscape and the landscapes of the cell's trained models (one per seed)."""
    r = data.cells(method)[0].result
    return np.asarray(r["grid"]), np.asarray(r["simulator"]), np.asarray(r["landscapes"])


def _landscape_stats(data: FigureData) -> dict:
    """Per learned model: RMSE to the true landscape (the mean over its trained models, and each), and
    the first model's argmax, local maxima, navigability; and the simulator's own (every cell carries
    the true landscape)."""
    out = {}
    for m in LEARNED:
        grid, truth, ys = _landscape(data, m)
        rmse = np.sqrt(np.mean((ys - truth) ** 2, axis=-1))
        y = ys[0]
        out[m] = {
            "rmse_to_simulator": round(float(rmse.mean()), 4),
            "rmse_per_model": [round(float(x), 4) for x in rmse],
            "argmax": round(float(grid[int(np.argmax(y))]), 4),
            "local_maxima": local_maxima(y),
            "navigability": round(navigability(y, truth), 4),
        }
    out["simulator"] = {
        "argmax": round(float(grid[int(np.argmax(truth))]), 4),
        "local_maxima": local_maxima(truth),
        "navigability": round(navigability(truth, truth), 4),
    }
    return out


# --- claims --------------------------------------------------------------------------------------------

_S3 = "Section 3, Figure 2"


def _fig2_best(data: FigureData) -> Verdict:
    return highest_mean(
        data, "awm-transformer", longest_horizon(data, PENDULUM_METHODS), PENDULUM_METHODS, std_apart=False
    )


def _fig2_state_based_fail(data: FigureData) -> Verdict:
    h = longest_horizon(data, PENDULUM_METHODS)
    return highest_mean(data, "awm-transformer", h, ["markovian", "hwm-transformer"], std_apart=True)


def _fig6_rises(data: FigureData) -> Verdict:
    h = longest_horizon(data, PENDULUM_METHODS)
    c = data.curve("awm-transformer", h)
    ours = {"horizon": h, "steps": rounded(c.steps), "iqm": rounded(c.iqm)}
    holds = bool(c.iqm[-1] > c.iqm[0])
    return Verdict(holds, ours, f"at H={h} the AWM's IQM return goes from {c.iqm[0]:.4g} to {c.iqm[-1]:.4g}")


def _fig6_area(data: FigureData) -> Verdict:
    h = longest_horizon(data, PENDULUM_METHODS)
    areas = {}
    for m in PENDULUM_METHODS:
        areas[m] = round(float(np.mean(data.curve(m, h).iqm)), 4)
    best = max(areas, key=areas.get)
    return Verdict(
        best == "awm-transformer",
        {"horizon": h, "mean_iqm_over_curve": areas},
        f"at H={h} the highest mean IQM over the learning curve is {best}'s ({areas[best]:.4g})",
    )


def _fig3c_accurate(data: FigureData) -> Verdict:
    stats = _landscape_stats(data)
    rmse = {m: stats[m]["rmse_to_simulator"] for m in LEARNED}
    per_model = {m: stats[m]["rmse_per_model"] for m in LEARNED}
    holds = rmse["awm-transformer"] < min(rmse["markovian"], rmse["hwm-transformer"])
    each = (
        "; per trained model: "
        + "; ".join(f"{m} {', '.join(f'{x:.4g}' for x in v)}" for m, v in per_model.items())
        if len(per_model["awm-transformer"]) > 1
        else ""
    )
    return Verdict(
        holds,
        {"rmse_to_simulator": rmse, "rmse_per_model": per_model},
        f"landscape RMSE to the simulator (mean over trained models): "
        f"{', '.join(f'{m} {v:.4g}' for m, v in rmse.items())}{each}",
    )


def _plot_fig2(data: FigureData, out: pathlib.Path) -> list[pathlib.Path]:
    return [
        plots.bars_by_horizon(
            data,
            out / "figure2.png",
            stat="mean",
            methods=PENDULUM_METHODS,
            title="Figure 2: BPO on the double pendulum, final return (mean ± std)",
        )
    ]


def _plot_fig6(data: FigureData, out: pathlib.Path) -> list[pathlib.Path]:
    return [
        plots.curves(
            data,
            out / "figure6.png",
            methods=PENDULUM_METHODS,
            title="Figure 6: BPO learning curves on the double pendulum (IQM, 95% CI)",
        )
    ]


def _plot_landscape(name: str, title: str):
    return lambda data, out: [plots.landscapes(data, out / f"{name}.png", title=title)]


def _plot_fig4b(data: FigureData, out: pathlib.Path) -> list[pathlib.Path]:
    return [
        plots.growth(
            data,
            out / "figure4b.png",
            title="Figure 4b: mean gradient norm of the final state w.r.t. the initial action",
        )
    ]

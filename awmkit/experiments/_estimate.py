"""``awmkit reproduce NAME --budget B --estimate``: a figure's wall time on this machine, before running it."""

import dataclasses
import json

from ._cell import Cell, _bpo_config


@dataclasses.dataclass(frozen=True)
class GridEstimate:
    """The predicted wall time of a grid, cell by cell.

    **Fields:** `cells` (one dict per cell: `name`, `kind`, `seconds` or ``None`` when the kind has no
    cost model, and `estimated_from`, the cell whose timed pieces it reuses), `seconds` (the sum over
    the estimated cells, run one after another) and `not_estimated` (names of cells without a model).
    """

    cells: tuple[dict, ...]
    seconds: float
    not_estimated: tuple[str, ...]

    def to_dict(self) -> dict:
        return {"cells": list(self.cells), "seconds": self.seconds, "not_estimated": list(self.not_estimated)}


def _signature(cell: Cell) -> str:
    # Cells of one model, horizon, seed count and configuration cost the same on every Myriad system up
    # to their (small) state sizes, so one timed estimate serves them all.
    return json.dumps([cell.model, cell.horizon, cell.seeds, dict(sorted(cell.config.items()))], default=str)


def estimate_grid(cells: list[Cell], *, repeats: int = 3) -> GridEstimate:
    """Predicts each BPO cell's wall time with [`awmkit.bpo.estimate_run`][] (compilation excluded) and
    sums them. One estimate is timed per distinct (model, horizon, seeds, configuration); other kinds
    (SAC, the Online DT, offline diagnostics) are listed as not estimated."""
    from ..bpo import estimate_run
    from ..envs import make

    timed: dict[str, tuple[str, float]] = {}
    rows, missing, total = [], [], 0.0
    for cell in cells:
        if cell.kind != "bpo":
            rows.append({"name": cell.name, "kind": cell.kind, "seconds": None, "estimated_from": None})
            missing.append(cell.name)
            continue
        sig = _signature(cell)
        if sig not in timed:
            env = make(cell.env, horizon=cell.horizon)
            est = estimate_run(
                env, cell.model, _bpo_config(cell), seeds=cell.seeds, key=cell.key, repeats=repeats
            )
            timed[sig] = (cell.name, float(est.seconds))
        source, seconds = timed[sig]
        rows.append({"name": cell.name, "kind": cell.kind, "seconds": seconds, "estimated_from": source})
        total += seconds
    return GridEstimate(tuple(rows), total, tuple(missing))

"""``awmkit reproduce NAME --budget B --estimate``: a figure's wall time on this machine, before running it."""

import dataclasses
import json
from collections.abc import Callable

from .. import bpo  # module, not function: estimate_run is looked up at call time (tests replace it)
from ..envs import make
from ._cell import Cell, _bpo_config


@dataclasses.dataclass(frozen=True)
class GridEstimate:
    """The predicted wall time of a grid, cell by cell.

    **Fields:** `cells` (one dict per cell: `name`, `kind`, `seconds` (its training, compilation
    excluded) and `compile_s` (the compilation of its timed pieces: the cell's own program takes a few
    times this), both ``None`` when the kind has no cost model, and `estimated_from`, the cell whose
    timed pieces it reuses), `seconds` and `compile_s` (the sums over the estimated cells, run one after
    another), `timed` (how many distinct cells were timed) and `not_estimated` (names of cells without
    a model).
    """

    cells: tuple[dict, ...]
    seconds: float
    compile_s: float
    timed: int
    not_estimated: tuple[str, ...]

    def to_dict(self) -> dict:
        return {
            "cells": list(self.cells),
            "seconds": self.seconds,
            "compile_s": self.compile_s,
            "timed": self.timed,
            "not_estimated": list(self.not_estimated),
        }


#: Configuration fields that change what a run learns but not what it computes: cells that differ only
#: in them (a hyper-parameter sweep) cost the same.
COST_NEUTRAL = frozenset({"entropy_coef", "dynamics_lr", "policy_lr", "policy_grad_clip", "nan_policy"})


def _signature(cell: Cell) -> str:
    # Cells of one model, horizon, seed count and cost-relevant configuration cost the same on every
    # Myriad system up to their (small) state sizes, so one timed estimate serves them all.
    config = {k: v for k, v in sorted(cell.config.items()) if k not in COST_NEUTRAL}
    return json.dumps([cell.model, cell.horizon, cell.seeds, config], default=str)


def estimate_grid(cells: list[Cell], *, repeats: int = 3, progress: Callable[[str], None] | None = None) -> GridEstimate:
    """Predicts each BPO cell's wall time with [`awmkit.bpo.estimate_run`][] and sums them. One
    estimate is timed per distinct (model, horizon, seeds, configuration up to the `COST_NEUTRAL`
    fields): a sweep over entropy coefficients or learning rates, and the same cell on another system,
    reuse it. Other kinds (SAC, the Online DT, offline diagnostics) are listed as not estimated.
    `progress` (``callable(str)``) hears of each timed cell."""
    timed: dict[str, tuple[str, float, float]] = {}
    rows, missing, total, compile_total = [], [], 0.0, 0.0
    for cell in cells:
        if cell.kind != "bpo":
            rows.append(
                {"name": cell.name, "kind": cell.kind, "seconds": None, "compile_s": None, "estimated_from": None}
            )
            missing.append(cell.name)
            continue
        sig = _signature(cell)
        if sig not in timed:
            if progress is not None:
                progress(f"timing {cell.name} ({len(timed) + 1} timed so far)")
            env = make(cell.env, horizon=cell.horizon)
            est = bpo.estimate_run(
                env, cell.model, _bpo_config(cell), seeds=cell.seeds, key=cell.key, repeats=repeats
            )
            timed[sig] = (cell.name, float(est.seconds), float(est.compile_s))
        source, seconds, compile_s = timed[sig]
        rows.append(
            {"name": cell.name, "kind": cell.kind, "seconds": seconds, "compile_s": compile_s, "estimated_from": source}
        )
        total += seconds
        compile_total += compile_s
    return GridEstimate(tuple(rows), total, compile_total, len(timed), tuple(missing))

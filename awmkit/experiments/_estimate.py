"""``awmkit reproduce NAME --budget B --estimate``: a figure's wall time on this machine, before running it."""

import dataclasses
import json
from collections.abc import Callable

from ._cell import Cell, _bpo_config, env_options


@dataclasses.dataclass(frozen=True)
class GridEstimate:
    """The predicted wall time of a grid, cell by cell.

    **Fields:** `cells` (one dict per cell: `name`, `kind`, `seconds` (its training, compilation
    excluded; for a packed cell its share of its program: the program's time over its cells) and
    `compile_s` (the compilation of its timed pieces, likewise shared), both ``None`` when the kind has
    no cost model, `estimated_from`, the cell whose timed pieces it reuses, `program`, the first cell
    of the packed program it runs in (itself when alone), and `packed`, how many cells that program
    trains), `seconds` and `compile_s` (the sums over the programs, run one after another), `timed`
    (how many distinct programs were timed), `programs` (how many programs the grid runs) and
    `not_estimated` (names of cells without a model).
    """

    cells: tuple[dict, ...]
    seconds: float
    compile_s: float
    timed: int
    not_estimated: tuple[str, ...]
    programs: int = 0

    def to_dict(self) -> dict:
        return {
            "cells": list(self.cells),
            "seconds": self.seconds,
            "compile_s": self.compile_s,
            "timed": self.timed,
            "programs": self.programs,
            "not_estimated": list(self.not_estimated),
        }


#: Configuration fields that change what a run learns but not what it computes: cells that differ only
#: in them (a hyper-parameter sweep) cost the same.
COST_NEUTRAL = frozenset({"entropy_coef", "dynamics_lr", "policy_lr", "policy_grad_clip", "nan_policy"})


def _signature(cell: Cell, settings: int = 1) -> str:
    # Cells of one model, horizon, seed count and cost-relevant configuration cost the same on every
    # Myriad system up to their (small) state sizes, so one timed estimate serves them all.
    config = {k: v for k, v in sorted(cell.config.items()) if k not in COST_NEUTRAL}
    return json.dumps([cell.model, cell.horizon, cell.seeds, config, settings], default=str)


def program_key(cell: Cell) -> str:
    """Cells with equal keys can share one packed program (`awmkit.bpo.train_packed`): one system,
    model, horizon, seed count, run key and configuration up to ``awmkit.bpo.PER_RUN_FIELDS``."""
    from ..bpo import PER_RUN_FIELDS

    config = {k: v for k, v in sorted(cell.config.items()) if k not in PER_RUN_FIELDS}
    return json.dumps(
        [cell.kind, cell.env, cell.model, cell.horizon, cell.seeds, cell.key, config], default=str
    )


def pack_cells(cells: list[Cell]) -> list[list[Cell]]:
    """The BPO cells of `cells` grouped by `program_key`, in order of first appearance (a sweep over
    entropy coefficients or learning rates on one system and horizon becomes one group)."""
    groups: dict[str, list[Cell]] = {}
    for cell in cells:
        if cell.kind == "bpo":
            groups.setdefault(program_key(cell), []).append(cell)
    return list(groups.values())


def estimate_grid(
    cells: list[Cell], *, repeats: int = 3, progress: Callable[[str], None] | None = None, pack: bool = True
) -> GridEstimate:
    """Predicts each BPO cell's wall time with [`awmkit.bpo.estimate_run`][] and sums them.

    With `pack` (default) the cells that can share one compiled program (`pack_cells`: the same
    system, model, horizon and seeds, differing only in ``PER_RUN_FIELDS``, e.g. an entropy sweep) are
    costed as one packed program of ``settings x seeds`` rows (``estimate_run(settings=...)``), each
    cell getting an equal share; without, every cell is its own program. One estimate is timed per
    distinct (model, horizon, seeds, configuration up to the `COST_NEUTRAL` fields, pack size): the
    same cell on another system reuses it. Other kinds (SAC, the Online DT, offline diagnostics) are
    listed as not estimated. `progress` (``callable(str)``) hears of each timed program."""
    from ..bpo import estimate_run
    from ..envs import make

    groups = pack_cells(cells) if pack else [[c] for c in cells if c.kind == "bpo"]
    timed: dict[str, tuple[str, float, float]] = {}
    share: dict[str, dict] = {}
    total, compile_total = 0.0, 0.0
    for group in groups:
        first = group[0]
        sig = _signature(first, len(group))
        if sig not in timed:
            if progress is not None:
                progress(f"timing {first.name} x {len(group)} packed ({len(timed) + 1} timed so far)")
            env = make(first.env, horizon=first.horizon, **env_options(first))
            est = estimate_run(
                env,
                first.model,
                _bpo_config(first),
                seeds=first.seeds,
                key=first.key,
                repeats=repeats,
                settings=len(group),
            )
            timed[sig] = (first.name, float(est.seconds), float(est.compile_s))
        source, seconds, compile_s = timed[sig]
        total += seconds
        compile_total += compile_s
        for cell in group:
            share[cell.name] = {
                "seconds": seconds / len(group),
                "compile_s": compile_s / len(group),
                "estimated_from": source,
                "program": first.name,
                "packed": len(group),
            }
    rows, missing = [], []
    for cell in cells:
        if cell.kind != "bpo":
            rows.append(
                {"name": cell.name, "kind": cell.kind, "seconds": None, "compile_s": None, "estimated_from": None,
                 "program": None, "packed": None}
            )  # fmt: skip
            missing.append(cell.name)
            continue
        rows.append({"name": cell.name, "kind": cell.kind, **share[cell.name]})
    return GridEstimate(tuple(rows), total, compile_total, len(timed), tuple(missing), len(groups))

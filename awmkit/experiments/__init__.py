"""Experiments: grids of independent cells (system, horizon, method; seeds vmapped inside a cell) run by
the sweep runner in-process or on Ray, and the paper's figures as named specs over such grids."""

from ._cell import (
    Cell as Cell,
    cell_kinds as cell_kinds,
    read_result as read_result,
    register_cell_kind as register_cell_kind,
    run_cell as run_cell,
)
from ._spec_file import expand_sweep_spec as expand_sweep_spec, load_sweep_spec as load_sweep_spec
from ._sweep import CellOutcome as CellOutcome, SweepResult as SweepResult, run_sweep as run_sweep

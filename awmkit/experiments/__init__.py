"""Experiments: grids of independent cells (system, horizon, method; seeds vmapped inside a cell) run by
the sweep runner in-process or on Ray, and the paper's figures as named specs over such grids."""

from ._aggregate import (
    CellRecord as CellRecord,
    FigureData as FigureData,
    LearningCurve as LearningCurve,
    NotEvaluable as NotEvaluable,
    iqm_learning_curve as iqm_learning_curve,
    performance_profile as performance_profile,
    probability_of_improvement as probability_of_improvement,
)
from ._attempts import CellOutcome as CellOutcome
from ._cell import (
    Cell as Cell,
    cell_kinds as cell_kinds,
    read_result as read_result,
    register_cell_kind as register_cell_kind,
    run_cell as run_cell,
)
from ._claims import Claim as Claim, ClaimResult as ClaimResult, Verdict as Verdict
from ._figures import (
    BUDGETS as BUDGETS,
    FigureSpec as FigureSpec,
    figures as figures,
    get_figure as get_figure,
)
from ._glance import (
    ReportSummary as ReportSummary,
    collect_reports as collect_reports,
    plain_text as plain_text,
    tally as tally,
)
from ._report import (
    REPORT_KEYS as REPORT_KEYS,
    Report as Report,
    reproduce as reproduce,
    write_report as write_report,
)
from ._spec_file import expand_sweep_spec as expand_sweep_spec, load_sweep_spec as load_sweep_spec
from ._sweep import SweepResult as SweepResult, run_sweep as run_sweep

"""The paper's figures as named specs over grids of cells.

Layered so that nothing imports upward: ``_spec`` (the spec type and shared helpers) and ``_plots`` at
the bottom, the per-figure checks and specs (``_pendulum``, ``_myriad``) above them, and ``_registry``
(which lists them) on top. ``_kinds`` registers the ``offline_model`` cell kind that Figures 3c, 4b and
4c use. The sub-package is private (re-exported by ``awmkit.experiments``) so that it does not shadow the
public function [`awmkit.experiments.figures`][] for documentation and static tools.
"""

from . import _kinds as _kinds  # registers the offline_model cell kind
from ._registry import figures as figures, get_figure as get_figure
from ._spec import BUDGETS as BUDGETS, FigureSpec as FigureSpec

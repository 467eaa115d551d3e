"""Figure specs: one per figure of the paper, each a grid of cells per budget, a plot in the paper's
layout and the paper's claims as checks. This module holds the spec type and the helpers the specs share;
the specs themselves live in ``_pendulum.py`` (Figures 2, 3c, 4b, 4c, 6) and ``_myriad.py``
(Figures 5a, 5b, 7, 8, 9, 10), and ``_registry.py`` (above both) lists them."""

import dataclasses
import pathlib
from collections.abc import Callable, Mapping, Sequence

from .._aggregate import CellRecord, FigureData
from .._cell import Cell
from .._claims import Claim

#: Said in every ``small`` budget note: how the budget was sized.
SMALL_SIZING = (
    "The small budget is sized for all eleven figures together (35 distinct cells) to take well under an "
    "hour on a 2-core CPU with two cells at a time (the committed run: 37 minutes of wall time, 88 minutes "
    "of cell time). "
)

#: The budgets every figure has: ``smoke`` proves the pipeline in minutes, ``small`` scales the grid,
#: seeds and steps down (all eleven figures in well under an hour on a 2-core CPU), ``medium`` is sized
#: for the training figures' effects to show (Figures 2/6 at H = 20, 50, 100 and a Figure 5a slice at
#: H = 200, 500, 5 seeds: hours on a CPU, minutes on a GPU; the offline figures run their paper grid),
#: ``paper`` is the paper's own budget.
BUDGETS: tuple[str, ...] = ("smoke", "small", "medium", "paper")


@dataclasses.dataclass(frozen=True)
class FigureSpec:
    """One figure of the paper as a reproducible experiment.

    **Fields:**

    - `name`: e.g. ``"figure5a"``.
    - `title`: what the figure shows.
    - `paper`: where it is in the paper (figure and section).
    - `caption`: the paper's caption.
    - `grid`: ``budget -> list of Cell``, the cells of each budget (systems x horizons x methods, seeds
      vmapped inside a cell).
    - `budget_notes`: per budget, what it runs and (for ``smoke``/``small``) what it cuts from the
      paper's budget and why the effect could still show.
    - `claims`: the paper's claims ([`awmkit.experiments.Claim`][]).
    - `plot`: ``(FigureData, out_dir) -> list of PNG paths``, the figure in the paper's layout.
    - `score`: ``"normalised"`` or ``"return"`` (see [`awmkit.experiments.FigureData`][]).
    - `selection`: the config keys the paper sweeps and reports the best of.
    - `shares`: figures whose cells of the same budget are the same runs (equal cells), so finished
      cells can be reused between them.
    """

    name: str
    title: str
    paper: str
    caption: str
    grid: Callable[[str], list[Cell]]
    budget_notes: Mapping[str, str]
    claims: tuple[Claim, ...]
    plot: Callable[[FigureData, pathlib.Path], list[pathlib.Path]]
    score: str = "normalised"
    selection: tuple[str, ...] = ()
    shares: tuple[str, ...] = ()

    def cells(self, budget: str, profile: str = "awmkit", seeds: int | None = None) -> list[Cell]:
        """The grid of ``budget`` (one of ``BUDGETS``) under the settings ``profile`` (``"awmkit"``, or
        ``"authors"``: the authors' per-model BPO settings and their double pendulum; see
        [Fidelity](../fidelity.md#settings-profiles)). ``seeds`` replaces every cell's number of seeds
        (runs, or trained models of an ``offline_model`` cell) and nothing else: the budget's other
        settings keep their meaning, and seed ``i`` of a cell is the same run whatever the count."""
        from ._evidence import apply_profile

        if budget not in BUDGETS:
            raise ValueError(f"unknown budget {budget!r}; valid budgets are: {', '.join(BUDGETS)}")
        if seeds is not None and (isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1):
            raise ValueError(f"`seeds` must be a positive integer or None, got {seeds!r}")
        cells = apply_profile(self.grid(budget), profile)
        if seeds is not None:
            cells = [dataclasses.replace(c, seeds=seeds) for c in cells]
        names = [c.name for c in cells]
        if len(set(names)) != len(names):
            raise AssertionError(f"{self.name} {budget}: duplicate cell names")
        return cells

    def data(self, records: Sequence[CellRecord], **kwargs) -> FigureData:
        """The records as [`awmkit.experiments.FigureData`][] with this figure's score and selection."""
        return FigureData(records, score=self.score, selection=self.selection, **kwargs)


def cell_name(env: str, horizon: int, method: str, suffix: str = "") -> str:
    """The path-safe cell name ``<env>-H<horizon>-<method>[-<suffix>]``."""
    return f"{env}-H{horizon}-{method}" + (f"-{suffix}" if suffix else "")


def fmt_value(value) -> str:
    """A config value as a short path-safe token (``1e-4`` -> ``0.0001``)."""
    return str(value).replace("/", "_")

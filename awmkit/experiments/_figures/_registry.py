"""The registry of figure specs, above the spec modules (``_pendulum``, ``_myriad``) that define them."""

from ._myriad import MYRIAD_FIGURES
from ._pendulum import PENDULUM_FIGURES
from ._reviews import with_reviews
from ._spec import FigureSpec

_ORDER = (
    "figure2",
    "figure3c",
    "figure4b",
    "figure4c",
    "figure5a",
    "figure5b",
    "figure6",
    "figure7",
    "figure8",
    "figure9",
    "figure10",
)


def figures() -> dict[str, FigureSpec]:
    """Every figure spec, by name, in the paper's order."""
    every = {f.name: with_reviews(f) for f in (*PENDULUM_FIGURES, *MYRIAD_FIGURES)}
    return {name: every[name] for name in _ORDER}


def get_figure(name: str) -> FigureSpec:
    """The spec called ``name``; an unknown name lists the valid ones."""
    specs = figures()
    if name not in specs:
        raise ValueError(f"unknown figure {name!r}; valid figures are: {', '.join(specs)}")
    return specs[name]

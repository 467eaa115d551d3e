"""Baselines: trajectory optimisation on the true dynamics (the optimal reference of normalised returns)."""

from ._trajopt import (
    TrajOptResult as TrajOptResult,
    TrajOptSettings as TrajOptSettings,
    trajopt as trajopt,
)

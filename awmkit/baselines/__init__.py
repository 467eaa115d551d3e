"""Baselines: trajectory optimisation on the true dynamics (the optimal reference of normalised returns) and
Soft Actor-Critic (the model-free baseline)."""

from ._sac import (
    SACConfig as SACConfig,
    SACPolicy as SACPolicy,
    SACResult as SACResult,
    train_sac as train_sac,
)
from ._trajopt import (
    TrajOptResult as TrajOptResult,
    TrajOptSettings as TrajOptSettings,
    trajopt as trajopt,
)

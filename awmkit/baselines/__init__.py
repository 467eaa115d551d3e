"""Baselines: trajectory optimisation on the true dynamics (the optimal reference of normalised returns),
Soft Actor-Critic (the model-free baseline) and the Online Decision Transformer (Appendix F.3)."""

from ._odt import (
    DecisionTransformer as DecisionTransformer,
    ODTConfig as ODTConfig,
    ODTResult as ODTResult,
    train_odt as train_odt,
)
from ._sac import (
    SACConfig as SACConfig,
    SACResult as SACResult,
    train_sac as train_sac,
)
from ._trajopt import (
    TrajOptResult as TrajOptResult,
    TrajOptSettings as TrajOptSettings,
    trajopt as trajopt,
)

"""Baselines: trajectory optimisation on the true dynamics (the optimal reference of normalised returns),
Soft Actor-Critic (the model-free baseline) and the Online Decision Transformer (Appendix F.3). SAC and
the Online DT share BPO's trainer signature and return an [`awmkit.runs.RunResult`][]."""

from ._odt import (
    DecisionTransformer as DecisionTransformer,
    ODTConfig as ODTConfig,
    train_odt as train_odt,
)
from ._sac import (
    SACConfig as SACConfig,
    train_sac as train_sac,
)
from ._trajopt import (
    TrajOptResult as TrajOptResult,
    TrajOptSettings as TrajOptSettings,
    trajopt as trajopt,
)

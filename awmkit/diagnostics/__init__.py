"""The paper's theory as runnable diagnostics: action-Jacobians, the bounds of Theorems 1-2 and
Corollaries 2.1-2.2 beside the measured policy-gradient norm, gradient-path lengths read off the traced
computation, gradient-norm growth with the horizon, the finite-time maximal Lyapunov exponent of the dynamics, and
return landscapes."""

from ._bounds import Bounds as Bounds, bounds as bounds, policy_gradient_norm as policy_gradient_norm
from ._bounds_ssm import SSMBound as SSMBound, ssm_bound as ssm_bound
from ._growth import (
    GrowthFit as GrowthFit,
    HorizonGrowth as HorizonGrowth,
    fit_growth as fit_growth,
    horizon_growth as horizon_growth,
)
from ._jacobians import ActionJacobians as ActionJacobians, action_jacobians as action_jacobians
from ._landscape import (
    Landscape as Landscape,
    random_dataset as random_dataset,
    return_landscape as return_landscape,
    train_offline as train_offline,
)
from ._lyapunov import LyapunovEstimate as LyapunovEstimate, lyapunov_exponent as lyapunov_exponent
from ._paths import GradientPaths as GradientPaths, gradient_paths as gradient_paths
from ._reference import AttentionAWM as AttentionAWM, ElmanAWM as ElmanAWM

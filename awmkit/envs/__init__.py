"""Differentiable control problems: the eight Myriad systems, the double pendulum and the one-bounce
task, discretised into a chosen number of steps and integrated with Diffrax."""

from ._double_pendulum import DoublePendulum as DoublePendulum
from ._env import Env as Env, Trajectory as Trajectory, random_return as random_return, rollout as rollout
from ._goal import AbstractGoalProblem as AbstractGoalProblem
from ._integrate import Integrator as Integrator
from ._myriad import (
    Bacteria as Bacteria,
    Bioreactor as Bioreactor,
    CancerTreatment as CancerTreatment,
    Harvest as Harvest,
    HIVTreatment as HIVTreatment,
    InvasivePlant as InvasivePlant,
    MouldFungicide as MouldFungicide,
    TimberHarvest as TimberHarvest,
)
from ._one_bounce import OneBounce as OneBounce
from ._problem import (
    AbstractControlProblem as AbstractControlProblem,
    AbstractFixedDurationProblem as AbstractFixedDurationProblem,
    AbstractODEProblem as AbstractODEProblem,
)
from ._registry import describe as describe, make as make, register as register, registered as registered

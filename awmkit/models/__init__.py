"""World models behind one protocol: Markovian, History and Actions World Models, and the simulator."""

from ._base import AbstractWorldModel as AbstractWorldModel, RewardFn as RewardFn, unroll as unroll
from ._simulator import SimulatorModel as SimulatorModel

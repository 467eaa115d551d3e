"""World models behind one protocol: Markovian, History and Actions World Models, and the simulator."""

from .._graph import MODEL_APPLICATION as MODEL_APPLICATION, mark_application as mark_application
from ._actions import ActionsModel as ActionsModel
from ._backbones import (
    AbstractBackbone as AbstractBackbone,
    LSTMBackbone as LSTMBackbone,
    RNNBackbone as RNNBackbone,
    SSMBackbone as SSMBackbone,
    TransformerBackbone as TransformerBackbone,
)
from ._base import AbstractWorldModel as AbstractWorldModel, RewardFn as RewardFn, unroll as unroll
from ._fit import batch_loss as batch_loss, fit as fit, trainable_filter as trainable_filter
from ._history import HistoryModel as HistoryModel
from ._make import make as make, names as names
from ._markovian import MarkovianModel as MarkovianModel
from ._normalise import Normaliser as Normaliser, fit_normaliser as fit_normaliser
from ._scan import (
    GENERATION_UNROLL as GENERATION_UNROLL,
    REMAT_BUDGET_BYTES as REMAT_BUDGET_BYTES,
    remat_scan as remat_scan,
    set_generation_unroll as set_generation_unroll,
)
from ._simulator import SimulatorModel as SimulatorModel

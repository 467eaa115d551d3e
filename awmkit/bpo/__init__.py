"""Backpropagation-based Policy Optimisation (Algorithm 1) as one compiled, seed-vmapped program."""

from ..runs import CheckpointError as CheckpointError, NonFiniteError as NonFiniteError
from ._buffer import EpisodeBuffer as EpisodeBuffer
from ._config import BPOConfig as BPOConfig
from ._devices import default_seed_group_size as default_seed_group_size, seed_layout as seed_layout
from ._estimate import RunEstimate as RunEstimate, estimate_run as estimate_run, run_counts as run_counts
from ._run import (
    MODEL_NAMES as MODEL_NAMES,
    BPOResult as BPOResult,
    NaNReport as NaNReport,
    build_model as build_model,
    read_checkpoint as read_checkpoint,
    train as train,
)
from ._train import NAN_QUANTITIES as NAN_QUANTITIES, TrainState as TrainState

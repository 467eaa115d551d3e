"""A run on disk and on the host, shared by BPO and the baselines: the run directory, the one host loop,
the result every trainer returns, the run reader and the loggers."""

from ._loggers import (
    AbstractLogger as AbstractLogger,
    CloseStatus as CloseStatus,
    logger_from_name as logger_from_name,
    logger_names as logger_names,
    register_logger as register_logger,
)
from ._tensorboard import TensorBoardLogger as TensorBoardLogger
from ._wandb import WandbLogger as WandbLogger

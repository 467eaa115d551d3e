"""A run on disk and on the host, shared by BPO and the baselines: the run directory, the one host loop,
the result every trainer returns, the run reader, the learning curve and the loggers."""

from ._host import NonFiniteError as NonFiniteError
from ._loggers import (
    AbstractLogger as AbstractLogger,
    CloseStatus as CloseStatus,
    logger_from_name as logger_from_name,
    logger_names as logger_names,
    register_logger as register_logger,
)
from ._plot import plot_learning_curve as plot_learning_curve
from ._reader import (
    CONFIG_KEYS as CONFIG_KEYS,
    RESULT_KEYS as RESULT_KEYS,
    Run as Run,
    RunDirectoryError as RunDirectoryError,
    load_run as load_run,
    load_runs as load_runs,
)
from ._result import RunResult as RunResult
from ._rundir import (
    CheckpointError as CheckpointError,
    RunDir as RunDir,
    RunExistsError as RunExistsError,
    RunLockedError as RunLockedError,
    read_checkpoint_file as read_checkpoint_file,
)
from ._tensorboard import TensorBoardLogger as TensorBoardLogger
from ._wandb import WandbLogger as WandbLogger

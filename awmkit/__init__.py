"""awmkit: learning policies by backpropagating through world models (JAX, Equinox, Diffrax)."""

import importlib.metadata

from . import (
    baselines as baselines,
    bpo as bpo,
    diagnostics as diagnostics,
    envs as envs,
    evaluation as evaluation,
    models as models,
    nn as nn,
    policies as policies,
)

try:
    __version__ = importlib.metadata.version("awmkit")
except importlib.metadata.PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0+unknown"

"""awmkit: learning policies by backpropagating through world models (JAX, Equinox, Diffrax)."""

import importlib.metadata

from . import bpo as bpo, envs as envs, models as models, nn as nn, policies as policies
from . import diagnostics as diagnostics

try:
    __version__ = importlib.metadata.version("awmkit")
except importlib.metadata.PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0+unknown"

"""awmkit: learning policies by backpropagating through world models (JAX, Equinox, Diffrax)."""

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
from ._version import __version__ as __version__

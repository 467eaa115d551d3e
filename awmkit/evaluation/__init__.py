"""Evaluation: optimal and random reference returns, normalised returns, the IQM with stratified-bootstrap
confidence intervals (Agarwal et al., 2021), and result tables for run directories."""

from ..runs import (  # the run reader lives with the run directory; re-exported here
    CONFIG_KEYS as CONFIG_KEYS,
    RESULT_KEYS as RESULT_KEYS,
    Run as Run,
    RunDirectoryError as RunDirectoryError,
    load_run as load_run,
    load_runs as load_runs,
)
from ._odt import resolve_odt_config as resolve_odt_config
from ._references import (
    LONG_HORIZONS as LONG_HORIZONS,
    MYRIAD_ENVS as MYRIAD_ENVS,
    SHIPPED_HORIZONS as SHIPPED_HORIZONS,
    STANDARD_HORIZONS as STANDARD_HORIZONS,
    MissingReferenceError as MissingReferenceError,
    Reference as Reference,
    compute_reference as compute_reference,
    default_references_path as default_references_path,
    load_references as load_references,
    reference as reference,
    with_random_return as with_random_return,
    write_references as write_references,
)
from ._runs import results_summary as results_summary, results_table as results_table
from ._stats import (
    IntervalEstimate as IntervalEstimate,
    iqm as iqm,
    normalised_return as normalised_return,
    stratified_bootstrap_ci as stratified_bootstrap_ci,
)

"""The Online DT's return-to-go target, resolved from the shipped references by its callers (``awmkit
train``, the experiments): [`awmkit.baselines.train_odt`][] itself reads no reference."""

import dataclasses

from ..envs import Env
from ._references import MissingReferenceError, reference


def resolve_odt_config(config, env: Env):
    """``config`` (an [`awmkit.baselines.ODTConfig`][]) with `target_return` (the optimal return) and
    `random_return` filled in from [`awmkit.evaluation.reference`][] where they are ``None``.

    Raises a one-line ``ValueError`` saying how to generate the reference when none is shipped for
    ``env`` at its horizon and `target_return` is not set; values already set are kept."""
    try:
        ref = reference(env.name, env.horizon)
    except MissingReferenceError as e:
        if config.target_return is None:
            raise ValueError(
                f"the Online DT needs the optimal return of {env.name} at H = {env.horizon} as its expert "
                f"return-to-go: pass it as `target_return` (--target-return), or generate the reference: {e}"
            ) from None
        return config
    return dataclasses.replace(
        config,
        target_return=ref.optimal_return if config.target_return is None else config.target_return,
        random_return=ref.random_return if config.random_return is None else config.random_return,
    )

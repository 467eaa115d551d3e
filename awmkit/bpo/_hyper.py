"""The per-run hyper-parameters of BPO: the configuration fields that change no shape and no control
flow of the compiled program, carried as arrays in the train state (see ``awmkit.bpo.train_packed``)."""

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._config import BPOConfig

#: The ``BPOConfig`` fields that change no shape and no control flow of the compiled program: they are
#: per-run values (``Hyper``) carried in the train state, so one program trains runs that differ in them
#: (``awmkit.bpo.pack``), and runs that differ only in them share one compilation.
PER_RUN_FIELDS = ("entropy_coef", "dynamics_lr", "policy_lr", "policy_grad_clip")


class Hyper(eqx.Module):
    """The per-run hyper-parameters (``PER_RUN_FIELDS``) of one run, as scalar arrays in the run's float
    dtype: program inputs rather than constants, so that one compiled program trains runs with different
    values side by side (vmapped like seeds)."""

    entropy_coef: Float[Array, ""]
    dynamics_lr: Float[Array, ""]
    policy_lr: Float[Array, ""]
    policy_grad_clip: Float[Array, ""]

    @classmethod
    def of(cls, config: BPOConfig, dtype=None) -> "Hyper":
        """The values of ``config`` (dtype: float64 when ``config.float64``, else float32)."""
        dtype = dtype or (jnp.float64 if config.float64 else jnp.float32)
        return cls(**{name: jnp.asarray(getattr(config, name), dtype) for name in PER_RUN_FIELDS})


__all__ = ["PER_RUN_FIELDS", "Hyper"]

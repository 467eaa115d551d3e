"""The Markovian model's policy objective as the authors' ``svginf`` loss computes it: the gradient
through every predicted state damped by ``bp_discount`` (``BPOConfig(profile="authors")``)."""

import jax
from jaxtyping import Array, Float

from .._typing import Key, RealScalar
from ..envs import Trajectory
from ..models import MarkovianModel
from ..models._base import unroll
from ..models._common import checked_policy, dtype_of


def damp(x: Float[Array, "..."], discount: float) -> Float[Array, "..."]:
    """``x`` unchanged in value, its gradient multiplied by ``discount``: the authors'
    ``sg[x] + d x - d sg[x]``."""
    frozen = jax.lax.stop_gradient(x)
    return frozen + discount * (x - frozen)


def damped_policy_objective(
    model: MarkovianModel,
    policy,
    s0: Float[Array, " state_dim"],
    reward_fn,
    horizon: int,
    key: Key,
    discount: float,
) -> tuple[RealScalar, Trajectory]:
    r"""``J`` along the Markovian model's imagined rollout with every predicted state damped:
    $\hat s_{k+1} = \mathrm{damp}(\hat f(\hat s_k, a_k))$, so that the gradient of a reward ``j`` steps
    after an action through the chain of predicted states is multiplied by ``discount**j``; the policy
    sees ``sg[s_k]`` (the authors' ``policy(detach(obs))``)."""
    if not isinstance(model, MarkovianModel):
        raise TypeError(f"bp_discount applies to the Markovian model only, got {type(model).__name__}")
    dtype = dtype_of(model)

    def transition(state, action, k):
        return damp(model._transition(state, action, k), discount)

    policy = checked_policy(policy, model.action_dim, dtype)
    trajectory = unroll(transition, s0.astype(dtype), policy, horizon, key, reward_fn, True)
    return trajectory.total_return, trajectory

"""Gradients of the return with respect to every action against float64 central differences."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import finite_difference_grad

from awmkit.envs import make, rollout

SMOOTH = (
    "cancer_treatment",
    "bioreactor",
    "mould_fungicide",
    "bacteria",
    "harvest",
    "invasive_plant",
    "hiv_treatment",
    "timber_harvest",
    "double_pendulum",
)


def _actions(name, horizon, action_dim):
    # Away from the action bounds (where clipping makes the return kinked) and, for bacteria, small
    # enough that the state stays clear of its lower bound.
    k = np.arange(horizon)[:, None] + np.arange(action_dim)[None, :]
    a = 0.5 * np.sin(0.7 * k + 0.3) + 0.1
    if name == "bacteria":
        a = 0.2 * a - 0.7
    if name == "double_pendulum":
        a = a + 0.1  # keep the first action away from the reference -0.4 (|.| has a kink at the goal)
    return a


@pytest.mark.parametrize("name", SMOOTH)
def test_return_gradient_matches_finite_differences(name, x64):
    horizon = 12
    env = make(name, horizon)
    actions = _actions(name, horizon, env.action_dim)

    @eqx.filter_jit
    def ret(a):
        return rollout(env, a).total_return

    grad = np.asarray(jax.grad(ret)(jnp.asarray(actions)))
    fd = finite_difference_grad(ret, actions, eps=1e-6)
    scale = max(np.max(np.abs(fd)), 1e-8)
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-6 * scale)
    if name == "double_pendulum":
        # Only the first action (the initial angle) matters.
        assert np.all(grad[1:] == 0.0) and abs(grad[0, 0]) > 0
    else:
        # Every action influences the return.
        assert np.all(np.abs(grad) > 0)


@pytest.mark.slow  # compiling a gradient through diffeqsolve takes 10-20 s
@pytest.mark.parametrize("name", ["hiv_treatment", "bacteria"])
def test_gradient_through_diffeqsolve_path_agrees(name, x64):
    import diffrax

    from awmkit.envs import Integrator

    horizon = 10
    actions = jnp.asarray(_actions(name, horizon, 1))
    grads = []
    for use_diffeqsolve in (False, True):
        env = make(
            name, horizon, integrator=Integrator(solver=diffrax.Tsit5(), use_diffeqsolve=use_diffeqsolve)
        )
        grads.append(jax.grad(lambda a, env=env: rollout(env, a).total_return)(actions))
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-10, atol=1e-12)


def test_clipped_state_has_zero_gradient(x64):
    # Without fungicide the mould reaches its bound 5 and stays clipped: earlier actions then cannot
    # change the final state.
    env = make("mould_fungicide", 20)
    actions = jnp.full((20, 1), -1.0 + 1e-3)
    final = jax.jacrev(lambda a: rollout(env, a).states[-1, 0])(actions)
    assert float(rollout(env, actions).states[-1, 0]) == 5.0
    assert np.all(np.asarray(final) == 0.0)

"""jit/vmap behaviour, dtypes, bad input and the command line of awmkit.envs."""

import json
import subprocess
import sys

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import awmkit
from awmkit.cli import main
from awmkit.envs import Integrator, make, random_return, rollout

EXPECTED_DIMS = {
    "cancer_treatment": (1, 1),
    "bioreactor": (1, 1),
    "mould_fungicide": (1, 1),
    "bacteria": (1, 1),
    "harvest": (1, 1),
    "invasive_plant": (5, 5),
    "hiv_treatment": (3, 1),
    "timber_harvest": (1, 1),
    "double_pendulum": (4, 1),
    "one_bounce": (2, 1),
}

# --- jit and vmap ------------------------------------------------------------------------------------


def test_vmap_over_action_sequences_compiles_once(getkey):
    env = make("hiv_treatment", 20)

    @eqx.filter_jit
    @eqx.debug.assert_max_traces(max_traces=1)
    def batch(actions):
        return jax.vmap(lambda a: rollout(env, a))(actions)

    a1 = jax.random.uniform(getkey(), (8, 20, 1), minval=-1.0, maxval=1.0)
    a2 = jax.random.uniform(getkey(), (8, 20, 1), minval=-1.0, maxval=1.0)
    t1, t2 = batch(a1), batch(a2)
    assert t1.states.shape == (8, 21, 3) and t1.rewards.shape == (8, 20)
    assert not np.allclose(t1.total_return, t2.total_return)
    # Each batch element is the unbatched rollout.
    single = rollout(env, a1[3])
    np.testing.assert_allclose(t1.states[3], single.states, rtol=1e-6)


def test_rollout_with_stochastic_policy_vmapped_over_keys(getkey):
    env = make("cancer_treatment", 30)

    def policy(state, k, key):
        mean = jnp.tanh(2.0 * state[:1] - 1.0)
        return jnp.clip(mean + 0.3 * jax.random.normal(key, (1,)), -1.0, 1.0)

    @eqx.filter_jit
    @eqx.debug.assert_max_traces(max_traces=1)
    def run(keys):
        return jax.vmap(lambda key: rollout(env, policy, key))(keys)

    trajs = run(jax.random.split(getkey(), 4))
    run(jax.random.split(getkey(), 4))
    assert trajs.actions.shape == (4, 30, 1)
    assert len(np.unique(np.asarray(trajs.total_return))) == 4  # the keys give different episodes
    # The same key gives the same episode, and the policy's actions are recorded.
    key = getkey()
    t1, t2 = rollout(env, policy, key), rollout(env, policy, key)
    np.testing.assert_array_equal(t1.actions, t2.actions)
    replay = rollout(env, t1.actions)
    np.testing.assert_allclose(replay.states, t1.states, rtol=1e-6)


def test_vmap_over_policy_parameters(getkey):
    env = make("harvest", 25)
    linears = eqx.filter_vmap(lambda k: eqx.nn.Linear(2, 1, key=k))(jax.random.split(getkey(), 5))

    def ret(linear):
        def policy(state, k, key):
            return jnp.tanh(linear(jnp.concatenate([state, k[None].astype(state.dtype) / 25.0])))

        return rollout(env, policy).total_return

    returns = eqx.filter_jit(eqx.filter_vmap(ret))(linears)
    grads = eqx.filter_jit(eqx.filter_vmap(eqx.filter_grad(ret)))(linears)
    assert returns.shape == (5,) and grads.weight.shape == (5, 1, 2)
    assert np.all(np.isfinite(np.asarray(grads.weight))) and np.any(np.asarray(grads.weight) != 0)


def test_initial_state_distribution_vmapped_over_keys(getkey):
    def sample(key):
        return jnp.array([0.5 + 0.4 * jax.random.uniform(key)])

    env = make("cancer_treatment", 10, initial_state_fn=sample)
    trajs = jax.vmap(lambda key: rollout(env, jnp.zeros((10, 1)), key))(jax.random.split(getkey(), 3))
    s0 = np.asarray(trajs.states[:, 0, 0])
    assert len(np.unique(s0)) == 3 and np.all((s0 >= 0.5) & (s0 <= 0.9))
    with pytest.raises(ValueError, match="key"):
        env.reset()


def test_jit_of_env_argument_and_step_functions():
    env = make("bacteria", 10)
    action = jnp.array([-0.8])
    traj = jax.jit(rollout)(env, jnp.tile(action, (10, 1)))
    step = jax.jit(env.step)
    reward = jax.jit(env.reward)
    np.testing.assert_allclose(step(env.reset(), action, 0), traj.states[1], rtol=1e-6)
    assert float(reward(env.reset(), action, traj.states[1], 0)) == pytest.approx(float(traj.rewards[0]))
    # The terminal reward C x_H is added on the last step only.
    last = float(reward(traj.states[-2], action, traj.states[-1], 9))
    assert last == pytest.approx(float(traj.rewards[-1]), rel=1e-6)
    not_last = float(reward(traj.states[-2], action, traj.states[-1], 8))
    assert last - not_last == pytest.approx(float(traj.states[-1, 0]), rel=1e-6)


@pytest.mark.slow  # about 10 s: compiles a forward- and a reverse-mode Jacobian
def test_forward_mode_through_runge_kutta(x64):
    # Diffrax's checkpointed Runge-Kutta stage loop has no forward mode; the unrolled stages do.
    env = make("hiv_treatment", 5, integrator=Integrator(solver=diffrax.Tsit5(), unroll_stages=True))
    final = lambda a: rollout(env, a).states[-1]
    a = jnp.linspace(-0.5, 0.5, 5)[:, None]
    np.testing.assert_allclose(jax.jacfwd(final)(a), jax.jacrev(final)(a), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("solver, substeps", [(diffrax.Heun(), 1), (diffrax.Dopri8(), 5)])
def test_unrolled_stages_equal_solver_step(solver, substeps, x64):
    actions = jnp.linspace(-0.6, 0.6, 40)[:, None]
    states = [
        rollout(
            make(
                "hiv_treatment", 40, integrator=Integrator(solver=solver, substeps=substeps, unroll_stages=u)
            ),
            actions,
        ).states
        for u in (True, False)
    ]
    scale = jnp.max(jnp.abs(states[1]), axis=0, keepdims=True)
    np.testing.assert_allclose(states[0] / scale, states[1] / scale, rtol=0, atol=1e-13)


# --- dtypes ------------------------------------------------------------------------------------------


# Every system's rollout runs in tests/test_smoke.py; these cover an ODE and the discrete map.
@pytest.mark.parametrize("name", ["hiv_treatment", "invasive_plant"])
def test_float32_and_float64(name):
    env = make(name, 8)
    for enable, dtype in ((False, jnp.float32), (True, jnp.float64)):
        with jax.enable_x64(enable):
            traj = rollout(env, jnp.zeros((8, env.action_dim)))
            assert traj.states.dtype == dtype and traj.rewards.dtype == dtype
            assert traj.actions.dtype == dtype and traj.total_return.dtype == dtype
            assert env.reset().dtype == dtype
    with jax.enable_x64(True):
        t64 = rollout(env, jnp.zeros((8, env.action_dim), dtype=jnp.float32))
        assert t64.states.dtype == jnp.float64  # float32 actions are promoted to the state's dtype
    t32 = rollout(env, jnp.zeros((8, env.action_dim)))
    np.testing.assert_allclose(
        t32.states, t64.states, rtol=1e-4, atol=1e-4 * float(np.max(np.abs(np.asarray(t64.states))))
    )


# --- bad input ---------------------------------------------------------------------------------------


def test_unknown_name_lists_every_valid_name():
    with pytest.raises(ValueError, match="nope") as info:
        make("nope", 10)
    for name in EXPECTED_DIMS:
        assert name in str(info.value)
    with pytest.raises(ValueError, match="valid names"):
        awmkit.envs.describe("nope")


@pytest.mark.parametrize("horizon", [0, -3, 2.5, "10", True, None])
def test_bad_horizon(horizon):
    with pytest.raises((ValueError, TypeError), match="horizon"):
        make("harvest", horizon)


def test_numpy_integer_horizon_accepted():
    assert make("harvest", np.int64(7)).horizon == 7


def test_bad_actions():
    env = make("invasive_plant", 6)
    with pytest.raises((ValueError, TypeError), match="actions"):
        rollout(env, jnp.zeros((7, 5)))
    with pytest.raises((ValueError, TypeError), match="actions"):
        rollout(env, jnp.zeros((6, 4)))
    with pytest.raises((ValueError, TypeError), match="actions"):
        rollout(env, jnp.zeros((6,)))
    with pytest.raises(TypeError, match="actions"):
        rollout(env, jnp.zeros((6, 5), dtype=jnp.int32))
    with pytest.raises((ValueError, TypeError), match="policy"):
        rollout(env, lambda s, k, key: jnp.zeros(3))


def test_bad_state_and_action_to_step():
    env = make("hiv_treatment", 6)
    with pytest.raises((ValueError, TypeError), match="state"):
        env.step(jnp.zeros(2), jnp.zeros(1), 0)
    with pytest.raises((ValueError, TypeError), match="action"):
        env.step(jnp.zeros(3), jnp.zeros(2), 0)
    with pytest.raises(TypeError, match="action"):
        env.step(jnp.zeros(3), jnp.zeros(1, dtype=jnp.int32), 0)
    with pytest.raises((ValueError, TypeError), match="next_state"):
        env.reward(jnp.zeros(3), jnp.zeros(1), jnp.zeros(4), 0)
    with pytest.raises((ValueError, TypeError), match="state"):
        env.observation(jnp.zeros(5))


def test_bad_configuration():
    with pytest.raises(ValueError, match="substeps"):
        Integrator(substeps=0)
    with pytest.raises(TypeError, match="integrator"):
        make("harvest", 10, integrator="tsit5")
    with pytest.raises(ValueError, match="bogus.*parameters are: A, k, m"):
        make("harvest", 10, bogus=1.0)
    assert make("harvest", 10, m=0.3).problem.m == 0.3
    with pytest.raises(ValueError, match="episodes"):
        random_return(make("harvest", 10), jax.random.key(0), episodes=0)
    with pytest.raises(TypeError, match="env"):
        rollout("harvest", jnp.zeros((10, 1)))


# --- registry, random return, command line -----------------------------------------------------------


def test_random_return_is_below_known_good_controls(getkey):
    horizon = 50
    env = make("timber_harvest", horizon)
    t = np.arange(horizon) * env.dt
    good = {
        # Bang-bang: reinvest everything until one time unit is left, then harvest everything.
        "timber_harvest": np.where(t < 4.0, 1.0, -1.0)[:, None],
        "bacteria": np.full((horizon, 1), -0.8),  # a little nutrient
    }
    for name, actions in good.items():
        env = make(name, horizon)
        good_return = float(rollout(env, jnp.asarray(actions, dtype=float)).total_return)
        rand = float(random_return(env, getkey(), episodes=32))
        assert rand < good_return, (name, rand, good_return)


def test_cli_envs_json_lists_all_systems(capsys):
    assert main(["envs", "--json"]) == 0
    infos = json.loads(capsys.readouterr().out)
    assert {i["name"]: (i["state_dim"], i["action_dim"]) for i in infos} == EXPECTED_DIMS
    assert main(["envs"]) == 0
    table = capsys.readouterr().out
    assert all(name in table for name in EXPECTED_DIMS)


def test_cli_rollout(capsys):
    assert main(["rollout", "--env", "harvest", "--horizon", "20", "--episodes", "4", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["env"] == "harvest" and summary["episodes"] == 4
    assert summary["return_min"] <= summary["return_mean"] <= summary["return_max"]


def test_cli_rejects_bad_input(capsys):
    with pytest.raises(SystemExit) as info:
        main(["rollout", "--horizon", "0"])
    assert info.value.code != 0 and "--horizon" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["rollout", "--horizon", "2.5"])
    proc = subprocess.run(
        [sys.executable, "-m", "awmkit.cli", "rollout", "--env", "nope"], capture_output=True, text=True
    )
    assert proc.returncode != 0
    assert "nope" in proc.stderr and all(name in proc.stderr for name in EXPECTED_DIMS)

import jax.numpy as jnp
import pytest

import awmkit
from awmkit.cli import main


def test_every_registered_env_rolls_out():
    for name in awmkit.envs.registered():
        env = awmkit.envs.make(name, horizon=5)
        traj = awmkit.envs.rollout(env, jnp.zeros((5, env.action_dim)))
        assert traj.states.shape == (6, env.state_dim)
        assert bool(jnp.all(jnp.isfinite(traj.states)))


def test_cli_envs_lists_all(capsys):
    assert main(["envs", "--json"]) == 0
    out = capsys.readouterr().out
    for name in awmkit.envs.registered():
        assert f'"{name}"' in out


def test_unknown_env_lists_valid_names():
    with pytest.raises(ValueError, match="valid names are: cancer_treatment"):
        awmkit.envs.make("nope", horizon=10)

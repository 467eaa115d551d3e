import json

import jax
import numpy as np
import pytest

import awmkit
from awmkit.bpo import BPOConfig, _run as bpo_run, train
from awmkit.cli import main

# The same run as tests/test_bpo.py's SMALL reference, spelled as flags.
SMALL_FLAGS = [
    "--env", "cancer_treatment", "--model", "simulator", "--horizon", "20", "--seeds", "2", "--key", "7",
    "--steps", "240", "--warmup-steps", "20", "--dynamics-batch-size", "4", "--policy-batch-size", "4",
    "--dynamics-update-every", "10", "--policy-update-every", "10", "--policy-lr", "1e-3", "--eval-interval", "60",
    "--eval-episodes", "2", "--chunk-size", "3", "--no-progress",
]  # fmt: skip


@pytest.fixture
def no_compilation(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("compiled before validating the arguments")

    monkeypatch.setattr(bpo_run, "init_program", fail)
    monkeypatch.setattr(bpo_run, "run_chunk_on_devices", fail)


def _replace(flags, name, value):
    flags = list(flags)
    flags[flags.index(name) + 1] = value
    return flags


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("--env", "cartpole", "unknown environment 'cartpole'; valid names are: cancer_treatment"),
        ("--model", "transformer", "invalid choice: 'transformer'"),
        ("--steps", "0", "expected a positive integer, got 0"),
        ("--seeds", "-2", "expected a positive integer, got -2"),
        ("--horizon", "zero", "expected a positive integer"),
    ],
)
def test_bad_flags_are_refused(name, value, message, capsys, no_compilation):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", *_replace(SMALL_FLAGS, name, value)])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_bad_budget_and_occupied_out_dir(tmp_path, capsys, no_compilation):
    assert main(["train", *_replace(SMALL_FLAGS, "--steps", "30")]) == 2
    assert "no training episode" in capsys.readouterr().err
    assert main(["train", *_replace(SMALL_FLAGS, "--policy-lr", "-1")]) == 2
    assert "policy_lr" in capsys.readouterr().err
    (tmp_path / "config.json").write_text("{}")
    assert main(["train", *SMALL_FLAGS, "--out", str(tmp_path)]) == 2
    assert "already holds a run; pass --resume" in capsys.readouterr().err


def test_train_command_writes_the_run_directory(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *SMALL_FLAGS, "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["seeds"] == [0, 1] and summary["env_steps"] == 240
    assert len(summary["final_return"]) == 2
    assert summary["final_return_mean"] > summary["random_return"]
    # cancer_treatment at H = 20 has a shipped reference: the table is normalised with it.
    ref = awmkit.evaluation.reference("cancer_treatment", 20)
    assert summary["optimal_return"] == ref.optimal_return
    expected = (np.asarray(summary["final_return"]) - ref.random_return) / (
        ref.optimal_return - ref.random_return
    )
    np.testing.assert_allclose(summary["normalised_return"], expected, rtol=1e-6)
    for name in (
        "config.json",
        "metrics.jsonl",
        "result.json",
        "learning_curve.png",
        "checkpoints/checkpoint.eqx",
    ):
        assert (out / name).is_file(), name
    config = json.loads((out / "config.json").read_text())
    assert config["algo"] == "bpo" and config["model"] == "simulator" and config["steps"] == 240
    result = json.loads((out / "result.json").read_text())
    assert result["final_return"] == summary["final_return"]
    # The CLI runs exactly what the API runs.
    config = BPOConfig(
        steps=240,
        warmup_steps=20,
        dynamics_batch_size=4,
        policy_batch_size=4,
        dynamics_update_every=10,
        policy_update_every=10,
        policy_lr=1e-3,
        eval_interval=60,
        eval_episodes=2,
        chunk_size=3,
    )
    env = awmkit.envs.make("cancer_treatment", horizon=20)
    api = train(env, config, model="simulator", key=7, seeds=2, progress=False)
    np.testing.assert_array_equal(api.final_return, np.array(summary["final_return"]))

    # Resuming a finished run redoes nothing and prints the same table.
    assert main(["train", *SMALL_FLAGS, "--out", str(out), "--resume"]) == 0
    table = capsys.readouterr().out
    assert "mean ± 95% CI" in table and "random policy" in table
    assert f"{summary['final_return'][0]:.6g}" in table


@pytest.mark.slow
def test_transformer_awm_bpo_learns():
    env = awmkit.envs.make("cancer_treatment", horizon=50)
    config = BPOConfig(
        steps=2000, warmup_steps=500, eval_interval=500, chunk_size=10, policy_lr=1e-3, policy_update_every=6
    )
    result = train(env, config, model="awm-transformer", key=0, seeds=2, progress=False)
    random = float(awmkit.envs.random_return(env, jax.random.key(1)))
    assert not result.nan_reports
    # Measured: random -33.9, untrained -24.6, after 2 000 steps about -22.
    assert np.all(result.final_return > result.eval_returns[0] + 1.0)
    assert np.all(result.final_return - random > 0.3 * abs(random))

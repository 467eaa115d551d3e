"""The cost model of BPO runs: awmkit.bpo.estimate_run and ``awmkit estimate``."""

import json

import numpy as np
import pytest

import awmkit
from awmkit.bpo import BPOConfig, estimate_run, run_counts, train
from awmkit.cli import main

H = 20


def test_run_counts_follow_the_schedule():
    config = BPOConfig(steps=200_000, warmup_steps=1500, eval_interval=5000)
    counts = run_counts(config, 100)
    assert counts["model_updates"] == config.expected_dynamics_updates() == (200_000 - 1) // 2 - 750
    assert counts["policy_updates"] == config.expected_policy_updates() == (200_000 - 1) // 16 - 93
    assert counts["episodes"] == 2000  # 15 warm-up episodes and 1985 collected by the policy
    assert counts["evaluations"] == 1 + 1985 // 50 + 1
    assert run_counts(config, 100, learn_model=False)["model_updates"] == 0
    with pytest.raises(ValueError, match="no training episode"):
        run_counts(BPOConfig(steps=100, warmup_steps=100), 100)


@pytest.mark.slow  # tens of seconds on 2 cores; the default suite keeps a faster test of the same feature
def test_estimate_command_times_each_piece(capsys):
    code = main(
        ["estimate", "--env", "cancer_treatment", "--model", "markovian", "--horizon", str(H),
         "--steps", "1600", "--seeds", "4", "--repeats", "1", "--json"]
    )  # fmt: skip
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["seconds"] > 0 and report["compile_s"] > 0
    assert set(report["breakdown"]) == {"model_updates", "policy_updates", "episodes", "evaluations"}
    assert report["seconds"] == pytest.approx(sum(report["breakdown"].values()))
    config = BPOConfig(steps=1600)
    assert report["counts"] == run_counts(config, H)
    for name, seconds in report["unit_seconds"].items():
        assert seconds > 0
        assert report["breakdown"][name] == pytest.approx(seconds * report["counts"][name])
    # Four seeds in two groups of two (the CPU's default), run one after the other: one group is timed.
    assert (report["seeds"], report["group_size"], report["devices"], report["timed_seeds"]) == (4, 2, 1, 2)
    assert set(report["inner"]) == set(report["unit_seconds"]) and all(
        3 <= n <= 8 for n in report["inner"].values()
    )


def test_estimate_refuses_bad_input_before_compiling(capsys):
    base = ["estimate", "--env", "cancer_treatment", "--model", "markovian", "--horizon", str(H)]
    assert main([*base, "--steps", "10"]) == 2
    assert "no training episode" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*base[:-2], "--horizon", "0"])
    with pytest.raises(ValueError, match="unknown model 'gpt'"):
        estimate_run(awmkit.envs.make("cancer_treatment", horizon=H), "gpt")
    with pytest.raises(ValueError, match="seeds"):
        estimate_run(awmkit.envs.make("cancer_treatment", horizon=H), "markovian", seeds=0)


@pytest.mark.slow
def test_estimate_predicts_a_measured_run():
    """The prediction is within a factor 2.5 of a real run's wall time (the second of two equal runs,
    so without compilation); the counts are those the run reports."""
    env = awmkit.envs.make("cancer_treatment", horizon=H)
    config = BPOConfig(steps=60 * H, warmup_steps=2 * H, eval_interval=20 * H, chunk_size=20)
    estimate = estimate_run(env, "markovian", config, seeds=2)
    train(env, config, model="markovian", key=0, seeds=2, progress=False)
    measured = train(env, config, model="markovian", key=0, seeds=2, progress=False)
    assert measured.num_traces == 0
    counts = run_counts(config, H)
    assert np.all(np.asarray(measured.state.dynamics_updates) == counts["model_updates"])
    assert np.all(np.asarray(measured.state.policy_updates) == counts["policy_updates"])
    ratio = estimate.seconds / measured.wall_time_s
    assert 1 / 2.5 < ratio < 2.5, (estimate, measured.wall_time_s)


def test_estimate_times_one_group_and_scales_by_the_groups():
    """Four seeds in groups of two are timed as one group of two, each piece's time then multiplied by
    the two groups the run scans over; the breakdown is the counts times those unit times."""
    env = awmkit.envs.make("cancer_treatment", horizon=5)
    config = BPOConfig(steps=100, warmup_steps=10, eval_interval=50, eval_episodes=2, seed_group_size=2)
    estimate = estimate_run(env, "simulator", config, seeds=4, repeats=1)
    assert (estimate.seeds, estimate.group_size, estimate.devices, estimate.timed_seeds) == (4, 2, 1, 2)
    assert estimate.counts == run_counts(config, 5, learn_model=False)
    assert estimate.unit_seconds["model_updates"] == 0.0 and estimate.breakdown["model_updates"] == 0.0
    assert set(estimate.inner) == {"policy_updates", "episodes", "evaluations"}
    for name in ("policy_updates", "episodes", "evaluations"):
        assert estimate.unit_seconds[name] > 0
        assert estimate.breakdown[name] == pytest.approx(estimate.counts[name] * estimate.unit_seconds[name])
    assert estimate.seconds == pytest.approx(sum(estimate.breakdown.values()))

"""SAC resume, the Online Decision Transformer, and ``awmkit train --algo`` for all three algorithms."""

import json

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from awmkit.baselines._host import RunDir

import awmkit
from awmkit.baselines import DecisionTransformer, ODTConfig, SACConfig, _odt, _sac, train_odt, train_sac
from awmkit.bpo import CheckpointError
from awmkit.cli import main
from awmkit.evaluation import load_runs, normalised_return

TINY_SAC = SACConfig(
    steps=520,
    warmup_steps=100,
    eval_interval=96,
    batch_size=16,
    critic_width=16,
    policy_width=16,
    critic_lr=1e-3,
    policy_lr=1e-3,
)
TINY_ODT = ODTConfig(
    steps=200,
    warmup_steps=40,
    updates_per_iteration=3,
    batch_size=8,
    context_length=3,
    embed_width=8,
    depth=1,
    num_heads=2,
    mlp_width=16,
    lr_warmup_updates=5,
    eval_interval=40,
)


class _Killed(Exception):
    pass


def _kill_at_checkpoint(monkeypatch, n):
    """Makes the ``n``-th checkpoint write raise, after that chunk's metrics were appended (a kill
    between the two: the resumed run must drop those lines and redo the chunk)."""
    calls = {"n": 0}
    original = RunDir.save_state

    def save_state(self, header, state):
        calls["n"] += 1
        if calls["n"] == n:
            raise _Killed
        return original(self, header, state)

    monkeypatch.setattr(RunDir, "save_state", save_state)


@pytest.mark.slow
def test_sac_kill_and_resume_is_bit_identical(tmp_path, monkeypatch):
    env = awmkit.envs.make("cancer_treatment", 20)
    full = train_sac(env, config=TINY_SAC, seeds=2, key=3, run_dir=tmp_path / "full")
    with monkeypatch.context() as m:
        _kill_at_checkpoint(m, 3)
        with pytest.raises(_Killed):
            train_sac(env, config=TINY_SAC, seeds=2, key=3, run_dir=tmp_path / "killed")
    header_line = (tmp_path / "killed" / "checkpoints" / "checkpoint.eqx").read_bytes().split(b"\n", 1)[0]
    assert json.loads(header_line)["chunk"] == 1  # the checkpoint after the first chunk survived
    with pytest.raises(FileExistsError, match="pass resume=True"):
        train_sac(env, config=TINY_SAC, seeds=2, key=3, run_dir=tmp_path / "killed")
    other = SACConfig(**{**TINY_SAC.to_dict(), "critic_lr": 3e-4})
    with pytest.raises(CheckpointError, match="critic_lr: checkpoint has 0.001, this run has 0.0003"):
        train_sac(env, config=other, seeds=2, key=3, run_dir=tmp_path / "killed", resume=True)
    resumed = train_sac(env, config=TINY_SAC, seeds=2, key=3, run_dir=tmp_path / "killed", resume=True)
    np.testing.assert_array_equal(resumed.eval_returns, full.eval_returns)
    np.testing.assert_array_equal(resumed.env_steps, full.env_steps)
    assert bool(eqx.tree_equal(resumed.policies, full.policies))
    rows = lambda text: [json.loads(r) for r in text.splitlines()]
    assert rows((tmp_path / "killed" / "metrics.jsonl").read_text()) == rows(
        (tmp_path / "full" / "metrics.jsonl").read_text()
    )
    # The actor is awmkit's TanhGaussianPolicy, normaliser fitted after the warm-up.
    assert isinstance(full.policies, awmkit.policies.TanhGaussianPolicy)
    assert not bool(jnp.all(full.policies.state_std == 1.0))


def test_decision_transformer_is_causal_in_timesteps(getkey):
    model = DecisionTransformer(3, 2, 10, 4, 8, 1, 2, 16, 5.0, key=getkey())
    rtg, states = jax.random.normal(getkey(), (4,)), jax.random.normal(getkey(), (4, 3))
    actions = jax.random.uniform(getkey(), (4, 2), minval=-1, maxval=1)
    steps = jnp.arange(4)
    dist = eqx.filter_jit(lambda *args: model.distribution(*args))
    mu, log_std = dist(rtg, states, actions, steps)
    assert mu.shape == log_std.shape == (4, 2)
    assert bool(jnp.all((log_std >= -5.0) & (log_std <= 2.0)))
    # a_2 sees R_<=2, s_<=2, a_<2: changing a_2, R_3 or s_3 leaves rows 0..2 alone, changing s_2 does not.
    changed = dist(rtg.at[3].add(1.0), states.at[3].add(1.0), actions.at[2].set(0.3), steps)
    np.testing.assert_allclose(changed[0][:3], mu[:3], rtol=1e-5, atol=1e-6)
    moved = dist(rtg, states.at[2].add(1.0), actions, steps)[0]
    assert not np.allclose(moved[2], mu[2])
    np.testing.assert_allclose(moved[:2], mu[:2], rtol=1e-5, atol=1e-6)


def test_odt_episode_conditions_on_the_return_to_go(getkey):
    env = awmkit.envs.make("cancer_treatment", 8)
    model = DecisionTransformer(env.state_dim, env.action_dim, 8, 3, 8, 1, 2, 16, 5.0, key=getkey())
    key = getkey()
    states, actions, rewards = _odt.episode(model, env, -10.0, key, "mean")
    assert states.shape == (8, env.state_dim) and actions.shape == (8, env.action_dim)
    np.testing.assert_allclose(
        jnp.sum(rewards), awmkit.envs.rollout(env, lambda s, k, _: actions[k]).total_return, rtol=1e-5
    )
    other = _odt.episode(model, env, 30.0, key, "mean")[1]
    assert not np.allclose(other, actions)  # the target return-to-go changes the actions


def test_odt_targets_and_bad_input():
    env = awmkit.envs.make("cancer_treatment", 20)
    ref = awmkit.evaluation.reference("cancer_treatment", 20)
    assert TINY_ODT.resolve_target(env) == ref.optimal_return
    overshot = ODTConfig(rtg="overshot").resolve_target(env)
    assert overshot == pytest.approx(ref.random_return + 2 * (ref.optimal_return - ref.random_return))
    assert ODTConfig(target_return=-5.0).resolve_target(env) == -5.0
    with pytest.raises(ValueError, match="`rtg` must be 'expert' or 'overshot'"):
        ODTConfig(rtg="optimal")
    with pytest.raises(ValueError, match="multiple of `num_heads`"):
        ODTConfig(embed_width=10, num_heads=4)
    unshipped = awmkit.envs.make("cancer_treatment", 7)
    with pytest.raises(ValueError, match="pass it as `target_return`.*awmkit references"):
        ODTConfig().resolve_target(unshipped)


@pytest.mark.slow
def test_odt_improves_over_random_and_resumes(tmp_path, monkeypatch):
    # Measured (normalised; random 0, optimal 1): the untrained first evaluations 0.53 and -0.44, after
    # 1 000 steps 0.55 and 0.78 (seeds 2 and 3 of a 4-seed run: 0.39 -> 0.70, 0.42 -> 0.67).
    config = ODTConfig(
        steps=1000,
        warmup_steps=200,
        updates_per_iteration=20,
        batch_size=32,
        context_length=5,
        embed_width=32,
        depth=1,
        num_heads=2,
        mlp_width=64,
        lr=1e-3,
        lr_warmup_updates=50,
        eval_interval=400,
    )
    full = train_odt("cancer_treatment", 20, config, seeds=2, key=0, run_dir=tmp_path / "full")
    final = normalised_return(full.final_return, "cancer_treatment", 20)
    first = normalised_return(full.eval_returns[0], "cancer_treatment", 20)
    assert np.all(final > 0.3)
    assert final.mean() > first.mean() + 0.2
    with monkeypatch.context() as m:
        _kill_at_checkpoint(m, 2)
        with pytest.raises(_Killed):
            train_odt("cancer_treatment", 20, config, seeds=2, key=0, run_dir=tmp_path / "killed")
    resumed = train_odt(
        "cancer_treatment", 20, config, seeds=2, key=0, run_dir=tmp_path / "killed", resume=True
    )
    np.testing.assert_array_equal(resumed.eval_returns, full.eval_returns)
    assert bool(eqx.tree_equal(resumed.models, full.models))


# --- awmkit train --algo ----------------------------------------------------------------------------

COMMON = ["--env", "cancer_treatment", "--horizon", "20", "--seeds", "2", "--no-progress"]
SAC_FLAGS = [
    "--algo", "sac", "--steps", "360", "--warmup-steps", "100", "--eval-interval", "128", "--batch-size", "16",
    "--critic-width", "16", "--policy-width", "16", "--critic-lr", "1e-3", "--policy-lr", "1e-3",
    "--entropy-coefficient", "0.01",
]  # fmt: skip
ODT_FLAGS = [
    "--algo", "odt", "--rtg", "expert", "--steps", "120", "--warmup-steps", "40", "--updates-per-iteration", "2",
    "--batch-size", "8", "--context-length", "3", "--embed-width", "8", "--depth", "1", "--num-heads", "2",
    "--mlp-width", "16", "--eval-interval", "40",
]  # fmt: skip
BPO_FLAGS = [
    "--model", "simulator", "--steps", "120", "--warmup-steps", "20", "--dynamics-batch-size", "4",
    "--policy-batch-size", "4", "--policy-update-every", "10", "--eval-interval", "60", "--chunk-size", "3",
]  # fmt: skip


@pytest.fixture
def no_compilation(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("compiled before validating the arguments")

    for module, names in ((_sac, ("_init", "_train_chunk")), (_odt, ("_init", "_train_chunk"))):
        for name in names:
            monkeypatch.setattr(module, name, fail)


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--algo", "sac", "--model", "simulator"], "--model is not used by --algo sac"),
        (["--algo", "odt", "--model", "awm-transformer"], "--model is not used by --algo odt"),
        (["--algo", "sac", "--dynamics-lr", "1e-3"], "--dynamics-lr does not apply to --algo sac"),
        (["--algo", "bpo", "--critic-lr", "1e-3"], "--critic-lr does not apply to --algo bpo"),
        (["--algo", "bpo"], "--algo bpo needs --model"),
        (["--algo", "sac", "--critic-lr", "-1"], "`critic_lr` must be positive"),
        (
            ["--algo", "odt", "--rtg", "overshot", "--horizon", "7"],
            "pass it as `target_return` (--target-return)",
        ),
    ],
)
def test_bad_train_flags_fail_before_compilation(flags, message, capsys, no_compilation):
    argv = ["train", *COMMON, *flags]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    if "--target-return" in message:
        assert "awmkit references" in err  # says how to generate the missing reference


def test_rtg_choices_are_checked_by_the_parser(capsys):
    with pytest.raises(SystemExit):
        main(["train", *COMMON, "--algo", "odt", "--rtg", "optimal"])
    assert "invalid choice: 'optimal'" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_trains_all_three_algorithms_into_one_results_table(tmp_path, capsys):
    runs = {"bpo": BPO_FLAGS, "sac": SAC_FLAGS, "odt": ODT_FLAGS}
    for algo, flags in runs.items():
        out = tmp_path / algo
        assert main(["train", *COMMON, *flags, "--out", str(out), "--json"]) == 0, algo
        summary = json.loads(capsys.readouterr().out)
        assert summary["algo"] == algo and len(summary["final_return"]) == 2
        config = json.loads((out / "config.json").read_text())
        assert config["algo"] == algo and config["horizon"] == 20
        for name in ("metrics.jsonl", "result.json", "learning_curve.png", "checkpoints/checkpoint.eqx"):
            assert (out / name).is_file(), (algo, name)
    odt_config = json.loads((tmp_path / "odt" / "config.json").read_text())
    ref = awmkit.evaluation.reference("cancer_treatment", 20)
    assert odt_config["rtg"] == "expert" and odt_config["rtg_target"] == ref.optimal_return
    sac_config = json.loads((tmp_path / "sac" / "config.json").read_text())
    assert sac_config["model"] is None and sac_config["critic_lr"] == 1e-3 and sac_config["steps"] == 360
    assert sac_config["discount"] == SACConfig().discount  # unset flags keep Table 2's defaults
    assert sorted(run.algo for run in load_runs([tmp_path])) == ["bpo", "odt", "sac"]
    assert main(["results", str(tmp_path), "--resamples", "50", "--json"]) == 0
    table = json.loads(capsys.readouterr().out)
    assert sorted(row["algo"] for row in table["overall"]) == ["bpo", "odt", "sac"]
    # A finished run resumed from the command line trains nothing more and reports the same returns.
    assert main(["train", *COMMON, *SAC_FLAGS, "--out", str(tmp_path / "sac"), "--resume", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    result = json.loads((tmp_path / "sac" / "result.json").read_text())
    assert again["final_return"] == result["final_return"]


@pytest.mark.slow  # tens of seconds on 2 cores; the default suite keeps a faster test of the same feature
def test_cli_sac_run_is_tabulated_and_resumable(tmp_path, capsys):
    out = tmp_path / "sac"
    assert main(["train", *COMMON, *SAC_FLAGS, "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["algo"] == "sac" and summary["model"] is None and summary["seeds"] == [0, 1]
    config = json.loads((out / "config.json").read_text())
    assert config["algo"] == "sac" and config["entropy_coef"] == 0.01 and config["batch_size"] == 16
    assert config["polyak"] == SACConfig().polyak  # unset flags keep Table 2's defaults
    assert (out / "checkpoints" / "checkpoint.eqx").is_file() and (out / "learning_curve.png").is_file()
    assert main(["results", str(out), "--resamples", "50"]) == 0
    assert "| sac" in capsys.readouterr().out
    # Resuming the finished run trains nothing more and reports the same returns.
    assert main(["train", *COMMON, *SAC_FLAGS, "--out", str(out), "--resume", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["final_return"] == summary["final_return"]


def test_baseline_checkpoint_is_refused_when_truncated_corrupted_or_of_another_format(tmp_path):
    """A baseline's checkpoint goes through BPO's reader (`read_checkpoint_file`): its hash and format
    are checked before anything is deserialised."""
    out = RunDir(tmp_path / "run", "awmkit-sac-test-1")
    state = {"w": jnp.arange(3.0), "k": jax.random.key(0)}
    out.save_state({"format": "awmkit-sac-test-1", "run": {}, "structure": {}}, state)
    header, back = out.read_checkpoint({"run": {}, "structure": {}}, jax.eval_shape(lambda: state))
    np.testing.assert_array_equal(back["w"], state["w"])
    assert bool(jnp.all(jax.random.key_data(back["k"]) == jax.random.key_data(state["k"])))
    with pytest.raises(CheckpointError, match="is not an awmkit checkpoint"):
        RunDir(tmp_path / "run", "awmkit-odt-test-1").read_checkpoint({}, state)
    data = out.checkpoint.read_bytes()
    out.checkpoint.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(CheckpointError, match="is corrupted: its payload"):
        out.read_checkpoint({"run": {}, "structure": {}}, jax.eval_shape(lambda: state))

import dataclasses
import json

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jaxtyping import Array, Float
from state_compare import bit_identical, leaves  # noqa: E402

import awmkit
from awmkit.bpo import (
    BPOConfig,
    CheckpointError,
    EpisodeBuffer,
    NonFiniteError,
    _run as bpo_run,
    read_checkpoint,
    train,
)
from awmkit.envs import Trajectory
from awmkit.models import AbstractWorldModel, SimulatorModel
from awmkit.runs import RunDir

H = 20
# 11 training iterations in chunks of 3: four chunks, the last one padded.
SMALL = BPOConfig(
    steps=12 * H,
    warmup_steps=H,
    dynamics_batch_size=4,
    policy_batch_size=4,
    dynamics_update_every=10,  # two model updates per episode (one in the first)
    policy_update_every=10,
    policy_lr=1e-3,
    eval_interval=3 * H,
    eval_episodes=2,
    chunk_size=3,
)


@pytest.fixture(scope="module")
def env():
    return awmkit.envs.make("cancer_treatment", horizon=H)


# --- configuration -----------------------------------------------------------------------------


def test_config_defaults_are_the_papers():
    c = BPOConfig()
    assert (c.steps, c.dynamics_update_every, c.policy_update_every) == (200_000, 2, 16)
    assert (c.dynamics_batch_size, c.policy_batch_size) == (64, 16)
    assert (c.dynamics_lr, c.policy_lr, c.buffer_size, c.warmup_steps) == (1e-3, 1e-4, 1_000_000, 1500)
    assert (c.entropy_coef, c.policy_grad_clip, c.stop_gradient) == (0.1, 100.0, True)
    assert c.warmup_episodes(100) == 15 and c.iterations(100) == 1985
    assert c.buffer_episodes(100) == 2000
    assert BPOConfig.from_dict(c.to_dict()) == c


@pytest.mark.parametrize(
    "field, value",
    [
        ("steps", 0),
        ("steps", 1.5),
        ("policy_update_every", 0),
        ("dynamics_update_every", -1),
        ("dynamics_batch_size", True),
        ("policy_lr", 0.0),
        ("dynamics_lr", float("nan")),
        ("entropy_coef", -0.1),
        ("policy_grad_clip", float("inf")),
        ("stop_gradient", 1),
        ("chunk_size", 0),
        ("nan_policy", "ignore"),
    ],
)
def test_config_validation_names_the_field(field, value):
    # Under pytest the runtime type-checker may refuse a wrongly typed value first (a TypeError).
    with pytest.raises((ValueError, TypeError), match=field):
        BPOConfig(**{field: value})


def test_config_horizon_checks():
    with pytest.raises(ValueError, match="no training episode"):
        BPOConfig(steps=1500, warmup_steps=1500).check_horizon(100)
    with pytest.raises(ValueError, match="buffer_size"):
        BPOConfig(buffer_size=50).check_horizon(100)
    with pytest.raises(ValueError, match="unknown BPOConfig fields"):
        BPOConfig.from_dict({"stepz": 3})


# --- replay buffer -----------------------------------------------------------------------------


def _episode(value, horizon=4):
    return Trajectory(
        states=jnp.full((horizon + 1, 2), value),
        actions=jnp.full((horizon, 1), value),
        rewards=jnp.full((horizon,), value),
    )


def test_buffer_ring_and_sampling(getkey):
    buffer = EpisodeBuffer(3, 4, 2, 1)
    buffer = jax.jit(lambda b: b.add(_episode(1.0)).add(_episode(2.0)))(buffer)
    assert int(buffer.size) == 2
    sampled = buffer.sample(getkey(), 64)
    assert set(np.unique(sampled.states)) == {1.0, 2.0}  # never the empty third slot
    buffer = buffer.add_batch(jax.vmap(_episode)(jnp.array([3.0, 4.0])))
    assert int(buffer.size) == 3 and int(buffer.insert) == 1
    assert set(np.unique(buffer.sample_initial_states(getkey(), 64))) == {2.0, 3.0, 4.0}  # 1.0 overwritten
    windows, starts = buffer.sample_windows(getkey(), 8, 2)
    assert windows.states.shape == (8, 3, 2) and windows.actions.shape == (8, 2, 1)
    assert bool(jnp.all((starts >= 0) & (starts <= 2)))
    with pytest.raises(ValueError, match="length"):
        buffer.sample_windows(getkey(), 8, 5)
    with pytest.raises(ValueError, match="one episode"):
        buffer.add(_episode(1.0, horizon=5))


# --- training ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reference(env, tmp_path_factory):
    """An uninterrupted two-seed run with a run directory, shared by the tests below (one
    compilation for all of them)."""
    out = tmp_path_factory.mktemp("reference") / "run"
    return train(env, SMALL, model="simulator", key=7, seeds=2, out=out, progress=False)


@pytest.mark.xdist_group("bpo_reference")  # one worker builds `reference`
def test_simulator_bpo_learns_well_beyond_random(env, reference):
    random = float(awmkit.envs.random_return(env, jax.random.key(0)))
    initial = reference.eval_returns[0]
    assert reference.eval_steps[0] == H and reference.eval_steps[-1] == 12 * H
    assert list(reference.eval_steps) == [H, 4 * H, 7 * H, 10 * H, 12 * H]
    assert reference.final_return.shape == (2,)
    # Cancer treatment at H = 20: random actions score about -34, the untrained policy about -25.
    assert np.all(reference.final_return > initial + 2.0)
    assert np.all(reference.final_return - random > 0.3 * abs(random))
    # The four chunks (the last one padded) compiled once.
    assert reference.num_traces == 1


@pytest.mark.xdist_group("bpo_reference")  # one worker builds `reference`
def test_vmapped_seeds_equal_single_seed_runs(env, reference):
    alone = train(env, SMALL, model="simulator", key=7, seeds=[1], progress=False)
    seed1 = jax.tree.map(lambda x: x[1:], eqx.filter(reference.state, eqx.is_array))
    leaves_a = leaves(seed1)
    leaves_b = leaves(alone.state)
    assert len(leaves_a) == len(leaves_b)
    for a, b in zip(leaves_a, leaves_b):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(reference.eval_returns[:, 1], alone.eval_returns[:, 0], rtol=1e-5)


class _Killed(Exception):
    pass


def _kill_after(monkeypatch, saves: int):
    """Makes the run die while writing its ``saves + 1``-th checkpoint (after that chunk's metrics)."""
    original = RunDir.write_checkpoint
    calls = []

    def save(self, header, state):
        calls.append(header["chunk"])
        if len(calls) > saves:
            raise _Killed
        original(self, header, state)

    monkeypatch.setattr(RunDir, "write_checkpoint", save)


@pytest.mark.xdist_group("bpo_reference")  # one worker builds `reference`
def test_kill_and_resume_isbit_identical(env, reference, tmp_path, monkeypatch):
    with monkeypatch.context() as m:
        _kill_after(m, saves=3)  # the initial checkpoint and chunks 1, 2; killed after chunk 3's metrics
        with pytest.raises(_Killed):
            train(env, SMALL, model="simulator", key=7, seeds=2, out=tmp_path / "run", progress=False)
    header, _ = read_checkpoint(tmp_path / "run" / "checkpoints" / "checkpoint.eqx")
    assert header["chunk"] == 2
    resumed = train(
        env, SMALL, model="simulator", key=7, seeds=2, out=tmp_path / "run", resume=True, progress=False
    )
    assert bit_identical(reference.state, resumed.state)
    assert np.array_equal(reference.eval_returns, resumed.eval_returns)
    assert np.array_equal(reference.eval_steps, resumed.eval_steps)
    assert resumed.num_traces == 0  # same program and shapes as the reference: no recompilation
    ref_lines = (reference.out / "metrics.jsonl").read_text()
    assert (tmp_path / "run" / "metrics.jsonl").read_text() == ref_lines  # no chunk lost or repeated
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["final_return"] == [float(x) for x in reference.final_return]
    assert result["env_steps"] == 12 * H and result["seeds"] == 2 and result["algo"] == "bpo"
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["algo"] == "bpo" and config["env"] == "cancer_treatment" and config["key"] == 7
    assert config["policy_lr"] == SMALL.policy_lr and config["horizon"] == H
    assert config["model_config"]["class"] == "SimulatorModel"
    # Every evaluation of every seed is a metrics line.
    rows = [json.loads(line) for line in ref_lines.splitlines()]
    assert len(rows) == 2 * len(reference.eval_steps)
    assert {"env_steps", "seed", "eval_return", "policy_grad_norm", "entropy"} <= set(rows[-1])


def test_mismatched_or_corrupted_checkpoint_is_refused(env, tmp_path, monkeypatch):
    out = tmp_path / "run"
    with monkeypatch.context() as m:
        _kill_after(m, saves=2)
        with pytest.raises(_Killed):
            train(env, SMALL, model="simulator", key=1, seeds=1, out=out, progress=False)
    other = dataclasses.replace(SMALL, policy_lr=5e-4)
    with pytest.raises(CheckpointError, match="policy_lr: checkpoint has 0.001, this run has 0.0005"):
        train(env, other, model="simulator", key=1, seeds=1, out=out, resume=True, progress=False)
    with pytest.raises(CheckpointError, match="seeds"):
        train(env, SMALL, model="simulator", key=1, seeds=2, out=out, resume=True, progress=False)
    # The differing run fields come first, one line each with the flag that sets them.
    harvest = awmkit.envs.make("harvest", horizon=H)
    with pytest.raises(CheckpointError) as info:
        train(harvest, SMALL, model="simulator", key=1, seeds=1, out=out, resume=True, progress=False)
    lines = str(info.value).splitlines()
    assert lines[0].endswith("belongs to a different run; to resume it, set --env to the checkpoint's "
                             "values; or choose another run directory:")  # fmt: skip
    assert lines[1] == "  env: checkpoint has 'cancer_treatment', this run has 'harvest' (--env)"
    assert len(lines) == 3 and "more difference" in lines[2]
    # Environment parameters are part of the run too.
    tweaked = awmkit.envs.make("cancer_treatment", horizon=H, a_w=0.5)
    with pytest.raises(CheckpointError, match=r"env\.problem\.a_w: checkpoint has .*, this run has 0\.5"):
        train(tweaked, SMALL, model="simulator", key=1, seeds=1, out=out, resume=True, progress=False)
    with pytest.raises(CheckpointError, match="TanhGaussianPolicy|policy"):
        train(
            env,
            SMALL,
            model="simulator",
            key=1,
            seeds=1,
            out=out,
            resume=True,
            progress=False,
            policy=lambda k: awmkit.policies.DeterministicPolicy(1, 1, H, key=k),
        )
    with pytest.raises(ValueError, match="already holds a run"):
        train(env, SMALL, model="simulator", key=1, seeds=1, out=out, progress=False)

    path = out / "checkpoints" / "checkpoint.eqx"
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="corrupted"):
        train(env, SMALL, model="simulator", key=1, seeds=1, out=out, resume=True, progress=False)


class _NaNAfterModel(AbstractWorldModel):
    """The simulator with a dummy parameter ``t`` that Adam raises by ``lr`` per update; the loss
    turns NaN once ``t`` passes ``limit`` (here, at the 11th model update)."""

    sim: SimulatorModel
    t: Float[Array, ""]
    limit: float = eqx.field(static=True)

    @property
    def state_dim(self):
        return self.sim.state_dim

    @property
    def action_dim(self):
        return self.sim.action_dim

    @property
    def max_horizon(self):
        return self.sim.max_horizon

    def loss(self, trajectory):
        return jnp.where(self.t > self.limit, jnp.nan, -self.t)

    def predict(self, s0, states, actions):
        return self.sim.predict(s0, states, actions)

    def rollout_actions(self, s0, actions):
        return self.sim.rollout_actions(s0, actions)

    def imagine(self, s0, policy, horizon, key, *, reward_fn=None, stop_gradient=True):
        return self.sim.imagine(s0, policy, horizon, key, reward_fn=reward_fn, stop_gradient=stop_gradient)

    def policy_objective(self, policy, s0, reward_fn, horizon, key, *, stop_gradient=True):
        return self.sim.policy_objective(policy, s0, reward_fn, horizon, key, stop_gradient=stop_gradient)


def _nan_model(env, key):
    # Seeds whose bit is set start far below the limit and never fail within the budget.
    start = jnp.where(jax.random.bernoulli(key), -1000.0, 0.0)
    return _NaNAfterModel(SimulatorModel(env), start, 0.0095)


def test_nan_guard_stops_the_seed_and_keeps_checkpoints(env, tmp_path, capsys):
    out = tmp_path / "run"
    result = train(env, SMALL, model=lambda k: _nan_model(env, k), key=2, seeds=4, out=out, progress=False)
    stopped = {r.seed for r in result.nan_reports}
    assert 0 < len(stopped) < 4, "the key must give both kinds of seed"
    for report in result.nan_reports:
        assert report.quantity == "model loss"
        # One model update in the first iteration, then two per iteration: update 11 happens in
        # iteration 5, which ends at step H + 6 H.
        assert report.env_step == H + 6 * H
    assert "NaN guard stopped seed" in capsys.readouterr().err
    alive = np.asarray(result.state.alive)
    assert [not a for a in alive] == [s in stopped for s in result.seeds]
    # Stopped seeds froze at their last good state; the others trained to the end.
    steps = np.asarray(result.state.env_steps)
    assert all(steps[j] == (7 * H if s in stopped else 12 * H) for j, s in enumerate(result.seeds))
    assert all(np.all(np.isfinite(x)) for x in leaves(result.state) if np.issubdtype(x.dtype, np.floating))
    header, _ = read_checkpoint(out / "checkpoints" / "checkpoint.eqx")
    assert header["chunk"] == 4
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert sorted(r["seed"] for r in rows if "nan" in r) == sorted(stopped)
    # Resuming the finished run redoes nothing and reports the same.
    again = train(
        env, SMALL, model=lambda k: _nan_model(env, k), key=2, seeds=4, out=out, resume=True, progress=False
    )
    assert again.nan_reports == result.nan_reports and again.num_traces == 0
    assert np.array_equal(again.eval_returns, result.eval_returns)


@pytest.mark.slow  # tens of seconds on 2 cores; the default suite keeps a faster test of the same feature
def test_nan_guard_can_stop_the_run(env, tmp_path):
    out = tmp_path / "run"
    config = dataclasses.replace(SMALL, nan_policy="stop_run")
    with pytest.raises(NonFiniteError, match=r"seed \d: non-finite model loss at env step 140"):
        train(env, config, model=lambda k: _nan_model(env, k), key=2, seeds=4, out=out, progress=False)
    header, _ = read_checkpoint(out / "checkpoints" / "checkpoint.eqx")
    assert header["chunk"] == 1  # the chunk holding iteration 6 was not checkpointed
    # The last good checkpoint resumes (and stops again at the same place).
    with pytest.raises(NonFiniteError, match="env step 140"):
        train(
            env,
            config,
            model=lambda k: _nan_model(env, k),
            key=2,
            seeds=4,
            out=out,
            resume=True,
            progress=False,
        )


# --- bad input ---------------------------------------------------------------------------------


@pytest.fixture
def no_compilation(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("compiled before validating the arguments")

    monkeypatch.setattr(bpo_run, "init_program", fail)
    monkeypatch.setattr(bpo_run, "run_chunk_on_devices", fail)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(model="transformer"), "unknown model 'transformer'; valid names are: markovian"),
        (dict(seeds=0), "seeds"),
        (dict(seeds=[1, 1]), "seeds"),
        (dict(key="zero"), "key"),
        (dict(config=BPOConfig(steps=2 * H, warmup_steps=2 * H)), "no training episode"),
        (dict(config={"steps": 10}), "BPOConfig"),
        (dict(model=42), "model"),
    ],
)
def test_bad_input_is_refused_before_compilation(env, no_compilation, kwargs, match):
    args = dict(model="simulator", config=SMALL, key=0, seeds=1)
    args.update(kwargs)
    with pytest.raises((ValueError, TypeError), match=match):
        train(env, args.pop("config"), model=args.pop("model"), progress=False, **args)


def test_model_that_cannot_handle_the_horizon(env, no_compilation):
    short = SimulatorModel(awmkit.envs.make("cancer_treatment", horizon=10))
    with pytest.raises(ValueError, match="max_horizon=10"):
        train(env, SMALL, model=short, key=0, progress=False)


def test_out_directory_holding_another_run(env, tmp_path, no_compilation):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ValueError, match="already holds a run; pass --resume"):
        train(env, SMALL, model="simulator", key=0, out=tmp_path, progress=False)


@pytest.mark.slow
def test_float64_and_full_gradient_variants(env):
    result = train(
        env, dataclasses.replace(SMALL, float64=True), model="markovian", key=0, seeds=2, progress=False
    )
    floats = [x for x in leaves(result.state) if np.issubdtype(x.dtype, np.floating)]
    assert floats and all(x.dtype == np.float64 for x in floats)
    assert np.all(np.isfinite(result.eval_returns))
    full = train(
        env,
        dataclasses.replace(SMALL, stop_gradient=False),
        model="simulator",
        key=7,
        seeds=1,
        progress=False,
    )
    # Appendix F.1: the full gradient learns as well as the stop-gradient one.
    assert float(full.final_return[0]) > float(full.eval_returns[0, 0]) + 2.0

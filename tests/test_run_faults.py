"""Run directories that hold (issue 20): the trainers' one signature, the lock, torn metrics, hand
edits, a full disk, out of memory and the loggers' calls, on tiny in-process BPO runs (the same host loop
runs SAC and the Online DT). The runs share one compiled program, so each takes a fraction of a second
after the first; the tests of other processes are in test_resume_processes.py (two on one --out) and
test_run_processes.py (Ctrl-C, a stale lock)."""

import errno
import inspect
import json
import os
import pathlib
import shlex
import warnings

import jax
import numpy as np
import pytest

import awmkit
from awmkit import baselines, bpo
from awmkit.cli import main
from awmkit.runs import AbstractLogger, CheckpointError, RunDir, RunResult, read_checkpoint_file

H = 10
CONFIG = bpo.BPOConfig(
    steps=80,
    warmup_steps=20,
    dynamics_batch_size=4,
    policy_batch_size=4,
    policy_update_every=5,
    eval_interval=20,
    chunk_size=2,
)
FLAGS = [
    "train", "--env", "cancer_treatment", "--horizon", str(H), "--model", "simulator", "--seeds", "2",
    "--steps", "80", "--warmup-steps", "20", "--dynamics-batch-size", "4", "--policy-batch-size", "4",
    "--policy-update-every", "5", "--eval-interval", "20", "--chunk-size", "2", "--no-progress",
]  # fmt: skip


@pytest.fixture(scope="module")
def env():
    return awmkit.envs.make("cancer_treatment", H)


def _train(env, out, **kwargs):
    return bpo.train(env, CONFIG, model="simulator", seeds=2, key=0, out=out, **kwargs)


@pytest.fixture(scope="module")
def reference(env, tmp_path_factory) -> pathlib.Path:
    out = tmp_path_factory.mktemp("reference") / "run"
    assert main([*FLAGS, "--out", str(out)]) == 0
    return out


def _same_run(out: pathlib.Path, reference: pathlib.Path) -> None:
    assert (out / "metrics.jsonl").read_bytes() == (reference / "metrics.jsonl").read_bytes()
    ours, theirs = (json.loads((d / "result.json").read_text()) for d in (out, reference))
    assert ours["final_return"] == theirs["final_return"] and ours["env_steps"] == theirs["env_steps"]
    header = lambda d: read_checkpoint_file(d / "checkpoints" / "checkpoint.eqx", bpo._run.CHECKPOINT_FORMAT)
    assert header(out)[1] == header(reference)[1]  # the final states, byte for byte


# --- one trainer signature ------------------------------------------------------------------------


def test_the_three_trainers_have_one_signature():
    sigs = [inspect.signature(f) for f in (bpo.train, baselines.train_sac, baselines.train_odt)]
    described = [
        [
            (p.name, p.kind, p.default, None if p.name == "config" else p.annotation)
            for p in s.parameters.values()
        ]
        for s in sigs
    ]
    assert described[0] == described[1] == described[2]
    assert [p[0] for p in described[0]] == [
        "env", "config", "model", "policy", "horizon", "seeds", "key", "out", "resume", "progress", "loggers",
    ]  # fmt: skip
    for s in sigs:
        assert issubclass(s.return_annotation, RunResult)


MISTAKES = {
    "seeds=0": dict(seeds=0),
    "key='x'": dict(key="x"),
    "resume without out": dict(resume=True),
    "out is a file": dict(out="FILE"),
    "env of another type": dict(env=42),
    "a horizon that differs": dict(horizon=H + 1),
    "loggers not loggers": dict(loggers=[object()]),
}


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_the_same_mistake_raises_the_same_exception_in_every_trainer(mistake, env, tmp_path):
    (tmp_path / "file").write_text("")
    kinds = []
    for trainer, config, extra in (
        (bpo.train, CONFIG, {"model": "simulator"}),
        (baselines.train_sac, baselines.SACConfig(steps=40, warmup_steps=20), {}),
        (baselines.train_odt, baselines.ODTConfig(steps=40, warmup_steps=20, target_return=0.0), {}),
    ):
        kwargs = {"env": env, "config": config, **extra, **MISTAKES[mistake]}
        if kwargs.get("out") == "FILE":
            kwargs["out"] = tmp_path / "file"
        with pytest.raises(Exception) as info:
            trainer(**kwargs)
        kinds.append(type(info.value))
    assert kinds[0] is kinds[1] is kinds[2], kinds
    assert issubclass(kinds[0], (ValueError, TypeError))


def test_baselines_refuse_a_world_model(env):
    for trainer in (baselines.train_sac, baselines.train_odt):
        with pytest.raises(ValueError, match="`model` must be None.*only BPO"):
            trainer(env, model="simulator")
    with pytest.raises(ValueError, match="`model` is required"):
        bpo.train(env, CONFIG)


# --- the checkpoint and the metrics ---------------------------------------------------------------


def test_every_byte_of_the_checkpoint_is_covered_by_its_hash(tmp_path):
    out = RunDir(tmp_path)
    out.write_checkpoint({"format": "f", "run": {"steps": 2000}, "chunk": 3}, {"w": np.arange(4.0)})
    data = out.checkpoint.read_bytes()
    header_end = data.index(b"\n")
    assert read_checkpoint_file(out.checkpoint, "f")[0]["chunk"] == 3
    for i in list(range(header_end)) + [header_end + 1, len(data) - 1]:
        edited = bytearray(data)
        edited[i] = ord("7") if data[i] != ord("7") else ord("8")  # e.g. a digit of "steps": 2000
        out.checkpoint.write_bytes(bytes(edited))
        with pytest.raises(CheckpointError, match=f"checkpoint {out.checkpoint}|{out.checkpoint} is not"):
            read_checkpoint_file(out.checkpoint, "f")


@pytest.mark.xdist_group("run_faults_reference")  # one worker builds `reference`
def test_metrics_without_their_checkpoint_are_refused(env, tmp_path, reference):
    out = tmp_path / "run"
    out.mkdir()
    for name in ("config.json", "metrics.jsonl"):
        (out / name).write_bytes((reference / name).read_bytes())
    with pytest.raises(
        CheckpointError, match=r"metrics.jsonl holds \d+ rows but .*checkpoint.eqx is missing"
    ):
        _train(env, out, resume=True)
    assert main([*FLAGS, "--out", str(out), "--resume"]) == 2  # one line, nothing changed
    assert (out / "metrics.jsonl").read_bytes() == (reference / "metrics.jsonl").read_bytes()


@pytest.mark.xdist_group("run_faults_reference")  # one worker builds `reference`
def test_warm_up_rows_without_a_checkpoint_are_redone(env, tmp_path, reference):
    """A run killed between its warm-up rows and its first checkpoint starts over."""
    out = tmp_path / "run"
    out.mkdir()
    warm = [line for line in (reference / "metrics.jsonl").read_text().splitlines() if '"chunk": -1' in line]
    (out / "metrics.jsonl").write_text("\n".join(warm) + "\n")
    assert main([*FLAGS, "--out", str(out), "--resume"]) == 0
    _same_run(out, reference)


class _Killed(BaseException):
    pass


def _die_at_checkpoint(monkeypatch, chunk: int):
    original = RunDir.write_checkpoint

    def write(self, header, state):
        if header["chunk"] == chunk:
            raise _Killed
        original(self, header, state)

    monkeypatch.setattr(RunDir, "write_checkpoint", write)


@pytest.mark.xdist_group("run_faults_reference")  # one worker builds `reference`
def test_a_torn_last_metrics_line_is_dropped_and_the_resumed_run_is_identical(tmp_path, reference, capsys):
    out = tmp_path / "run"
    with pytest.MonkeyPatch.context() as m:
        _die_at_checkpoint(m, 2)
        with pytest.raises(_Killed):
            main([*FLAGS, "--out", str(out)])
    line = (reference / "metrics.jsonl").read_text().splitlines()[-1]
    with open(out / "metrics.jsonl", "a") as f:
        f.write(line[: len(line) // 2])  # a write cut short by a full disk or a kill
    capsys.readouterr()
    assert main([*FLAGS, "--out", str(out), "--resume"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "warning:" in err[0] and "dropped a torn last line" in err[0], err
    _same_run(out, reference)
    # `awmkit results` reads a run whose last line is being written (it is not a row yet).
    with open(out / "metrics.jsonl", "a") as f:
        f.write('{"chunk": 9, "env_st')
    assert len(awmkit.runs.load_run(out).metrics) == len(
        (reference / "metrics.jsonl").read_text().splitlines()
    )


# --- faults: one line, and how to resume ----------------------------------------------------------


def _fsyncs(monkeypatch, fail_at: int | None) -> list:
    """Counts the run directory's durable writes (each ends in an fsync) and fails the ``fail_at``-th
    with ENOSPC, as a full disk would."""
    calls = []
    real = os.fsync

    def fsync(fd):
        calls.append(os.readlink(f"/proc/self/fd/{fd}"))
        if len(calls) == fail_at:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(fd)

    monkeypatch.setattr(awmkit.runs._rundir.os, "fsync", fsync)
    return calls


@pytest.mark.xdist_group("run_faults_reference")  # one worker builds `reference`
def test_a_full_disk_at_every_write_ends_in_one_line_and_resumes_identically(tmp_path, reference, capsys):
    with pytest.MonkeyPatch.context() as m:
        sites = _fsyncs(m, None)
        assert main([*FLAGS, "--out", str(tmp_path / "count")]) == 0
    names = {pathlib.Path(p).name for p in sites}
    assert {"config.json.tmp", "metrics.jsonl", "checkpoint.eqx.tmp", "result.json.tmp"} <= names
    capsys.readouterr()
    for n in range(1, len(sites) + 1):
        out = tmp_path / f"full-{n}"
        with pytest.MonkeyPatch.context() as m:
            _fsyncs(m, n)
            assert main([*FLAGS, "--out", str(out)]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1, err
        assert "No space left on device" in err[0] and f"{out}" in err[0], err
        assert err[0].endswith(f"--out {out} --resume"), err
        if (out / "checkpoints" / "checkpoint.eqx").exists():  # the last good one is readable
            read_checkpoint_file(out / "checkpoints" / "checkpoint.eqx", bpo._run.CHECKPOINT_FORMAT)
        assert main([*FLAGS, "--out", str(out), "--resume"]) == 0, capsys.readouterr().err
        _same_run(out, reference)
        capsys.readouterr()


@pytest.mark.xdist_group("run_faults_reference")  # one worker builds `reference`
def test_ctrl_c_exits_130_with_the_resume_command_and_resumes_identically(tmp_path, reference, capsys):
    out = tmp_path / "run"
    with pytest.MonkeyPatch.context() as m:
        original = RunDir.write_checkpoint

        def write(self, header, state):
            if header["chunk"] == 2:
                raise KeyboardInterrupt  # Ctrl-C with chunk 1's metrics ahead of the last checkpoint
            original(self, header, state)

        m.setattr(RunDir, "write_checkpoint", write)
        assert main([*FLAGS, "--out", str(out)]) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"awmkit train: interrupted; resume with: awmkit {shlex.join(FLAGS)} --out {out} --resume"]
    assert not (out / "run.lock").exists()
    assert main([*shlex.split(err[0].split("resume with: awmkit ")[1])]) == 0
    _same_run(out, reference)


def test_out_of_memory_ends_in_one_line_with_the_resume_command(tmp_path, monkeypatch, capsys):
    def exhausted(*args, **kwargs):
        raise jax.errors.JaxRuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 1.2TiB.")

    monkeypatch.setattr(bpo._run, "run_chunk_on_devices", exhausted)
    out = tmp_path / "run"
    assert main([*FLAGS, "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "out of memory" in err[0] and err[0].endswith(f"--out {out} --resume"), err


def test_command_line_mistakes(tmp_path, capsys):
    assert main([*FLAGS, "--resume"]) == 2
    assert "--resume needs --out" in capsys.readouterr().err
    assert main([*FLAGS, "--policy-lr", "-1e-3"]) == 2  # a negative number is a value, not a flag
    assert "policy_lr must be a positive finite number, got -0.001" in capsys.readouterr().err
    (tmp_path / "file").write_text("")
    with pytest.raises(SystemExit):
        main([*FLAGS, "--out", str(tmp_path / "file")])
    assert "is not a directory" in capsys.readouterr().err


def test_rollout_names_non_finite_actions():
    env = awmkit.envs.make("cancer_treatment", 5)
    with pytest.raises(ValueError, match="non-finite values .* the first at step 3"):
        awmkit.envs.rollout(env, lambda s, k, key: jax.numpy.where(k >= 3, jax.numpy.nan, 0.0)[None])
    with pytest.raises(ValueError, match=r"actions\) hold non-finite values"):
        awmkit.envs.rollout(env, np.full((5, 1), np.nan))


# --- the loggers ----------------------------------------------------------------------------------


class _Recording(AbstractLogger):
    def __init__(self, fail_in=None):
        self.calls, self.fail_in = [], fail_in

    def open(self, run_dir, config, *, resumed):
        self.calls.append(("open", run_dir, config, resumed))

    def log(self, rows):
        self.calls.append(("log", rows))
        if self.fail_in == "log":
            raise RuntimeError("the dashboard is down")

    def close(self, status):
        self.calls.append(("close", status))


def test_the_host_loop_calls_the_loggers_as_their_contract_says(env, tmp_path):
    out = tmp_path / "run"
    good, broken = _Recording(), _Recording(fail_in="log")
    with pytest.warns(RuntimeWarning, match="logger _Recording dropped .*the dashboard is down"):
        _train(env, out, loggers=[good, broken])
    opened, *logged, closed = good.calls
    assert opened == ("open", out, json.loads((out / "config.json").read_text()), False)
    assert [c[0] for c in logged] == ["log"] * (CONFIG.num_chunks(H) + 1)  # the warm-up, then each chunk
    rows = [row for _, chunk_rows in logged for row in chunk_rows]
    assert rows == [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert closed == ("close", "finished")
    assert [c[0] for c in broken.calls] == ["open", "log", "close"]  # dropped after its first failure
    # Resumed after a failure: close says so, and the resumed run's open says resumed.
    other = tmp_path / "other"
    failed = _Recording()
    with pytest.MonkeyPatch.context() as m, warnings.catch_warnings():
        _die_at_checkpoint(m, 2)
        with pytest.raises(_Killed):
            _train(env, other, loggers=[failed])
    assert failed.calls[-1] == ("close", "failed")
    resumed = _Recording()
    _train(env, other, resume=True, loggers=[resumed])
    assert resumed.calls[0][3] is True and resumed.calls[-1] == ("close", "finished")

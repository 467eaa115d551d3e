"""Run directories between processes (issue 20): two ``awmkit train`` on one ``--out`` (one finishes
intact, the other is refused in one line naming it), a lock left by a SIGKILLed process, and Ctrl-C
(exit 130, one line with the exact resume command, resumed bit-identically). Every run is a fresh
``python -m awmkit`` process sharing one persistent compilation cache."""

import json
import os
import pathlib
import shlex
import signal
import subprocess
import sys
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
ARGS = [
    "train", "--env", "cancer_treatment", "--horizon", "10", "--model", "simulator", "--seeds", "2",
    "--key", "3", "--steps", "80", "--warmup-steps", "20", "--dynamics-batch-size", "4",
    "--policy-batch-size", "4", "--policy-update-every", "5", "--eval-interval", "20", "--chunk-size", "2",
    "--no-progress",
]  # fmt: skip

# ``awmkit`` whose checkpoint of chunk 2 waits (the lock held, chunk 1's metrics ahead of the last
# checkpoint): it writes argv[1] when it got there and goes on once the file argv[2] exists.
_HELD = """
import pathlib, sys, time
from awmkit.runs import RunDir

original = RunDir.write_checkpoint

def write(self, header, state):
    if header["chunk"] == 2:
        pathlib.Path(sys.argv[1]).write_text("held")
        while not pathlib.Path(sys.argv[2]).exists():
            time.sleep(0.02)
    original(self, header, state)

RunDir.write_checkpoint = write
from awmkit.cli import main
sys.exit(main(sys.argv[3:]))
"""


@pytest.fixture(scope="module")
def child_env(tmp_path_factory) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env["JAX_COMPILATION_CACHE_DIR"] = str(tmp_path_factory.mktemp("jax-cache"))
    env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    env["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"
    return env


def _awmkit(env: dict, *argv: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "awmkit", *argv]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)


@pytest.fixture(scope="module")
def reference(child_env, tmp_path_factory) -> pathlib.Path:
    out = tmp_path_factory.mktemp("reference") / "run"
    done = _awmkit(child_env, *ARGS, "--out", str(out))
    assert done.returncode == 0, done.stderr
    return out


def _held(env: dict, out: pathlib.Path, tmp: pathlib.Path, *extra: str):
    flag, release = tmp / "held", tmp / "release"
    argv = [sys.executable, "-c", _HELD, str(flag), str(release), *ARGS, "--out", str(out), *extra]
    child = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 600
    while not flag.exists():
        if child.poll() is not None:
            raise AssertionError(f"the run ended before its second checkpoint:\n{child.stderr.read()}")
        assert time.monotonic() < deadline, "the run never reached its second checkpoint"
        time.sleep(0.02)
    return child, release


def _same_run(out: pathlib.Path, reference: pathlib.Path) -> None:
    assert (out / "metrics.jsonl").read_bytes() == (reference / "metrics.jsonl").read_bytes()
    ours, theirs = (json.loads((d / "result.json").read_text()) for d in (out, reference))
    assert ours["final_return"] == theirs["final_return"]


@pytest.mark.xdist_group("run_processes")
def test_two_processes_on_one_out_one_finishes_the_other_is_refused(child_env, reference, tmp_path):
    out = tmp_path / "run"
    first, release = _held(child_env, out, tmp_path)
    try:
        for key in ("3", "4"):  # the same command, and another run into the same directory
            argv = list(ARGS)
            argv[argv.index("--key") + 1] = key
            second = _awmkit(child_env, *argv, "--out", str(out))
            lines = second.stderr.strip().splitlines()
            assert second.returncode == 1 and len(lines) == 1, second.stderr
            assert f"{out} is in use by another awmkit process (pid {first.pid} on " in lines[0]
            assert "--key 3" in lines[0] and lines[0].endswith("or choose another directory")
            resumed = _awmkit(child_env, *argv, "--out", str(out), "--resume")
            assert resumed.returncode == 1 and "in use by another awmkit process" in resumed.stderr
        release.write_text("")
        assert first.wait(timeout=600) == 0, first.stderr.read()
    finally:
        first.kill()
        first.wait()
    _same_run(out, reference)
    assert not (out / "run.lock").exists()  # released


@pytest.mark.slow  # the default suite interrupts an in-process run (test_run_faults.py)
@pytest.mark.xdist_group("run_processes")
def test_sigint_exits_130_with_the_resume_command_and_resumes_identically(child_env, reference, tmp_path):
    out = tmp_path / "run"
    child, _ = _held(child_env, out, tmp_path)
    try:
        child.send_signal(signal.SIGINT)
        assert child.wait(timeout=120) == 130
    finally:
        child.kill()
        child.wait()
    lines = child.stderr.read().strip().splitlines()
    assert lines[-1].startswith("awmkit train: interrupted; resume with: awmkit train "), lines
    command = shlex.split(lines[-1].split("resume with: ", 1)[1])
    assert (
        command[0] == "awmkit" and command[-1] == "--resume" and command[1:-1] == [*ARGS, "--out", str(out)]
    )
    assert not (out / "run.lock").exists() and not (out / "result.json").exists()
    resumed = _awmkit(child_env, *command[1:])
    assert resumed.returncode == 0, resumed.stderr
    _same_run(out, reference)


@pytest.mark.slow  # the default suite's test_resume_processes.py resumes a SIGKILLed run too
@pytest.mark.xdist_group("run_processes")
def test_a_lock_left_by_a_sigkilled_process_does_not_block_its_resume(child_env, reference, tmp_path):
    out = tmp_path / "run"
    child, _ = _held(child_env, out, tmp_path)
    child.kill()  # SIGKILL: nothing runs on the way out
    child.wait()
    holder = (out / "run.lock").read_text()
    assert holder.startswith(f"pid {child.pid} on ")  # the stale file is still there
    resumed = _awmkit(child_env, *ARGS, "--out", str(out), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    _same_run(out, reference)

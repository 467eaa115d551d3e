"""Run directories between processes (issue 20): a lock left by a SIGKILLed process, and Ctrl-C (exit
130, one line with the exact resume command, resumed bit-identically). Two processes on one ``--out``
(the second refused in one line naming the first) are tested in the default suite by
test_resume_processes.py, while its killed run holds the directory. Every run is a fresh
``python -m awmkit`` process sharing one persistent compilation cache; the runs are
test_resume_processes.py's tiny BPO run, whose uninterrupted reference the two modules share
(tests/train_children.py)."""

import json
import pathlib
import shlex
import signal
import subprocess
import sys
import time

import pytest
import train_children
from train_children import COMMON, FLAGS

ARGS = ["train", *COMMON, *FLAGS["bpo"], "--no-progress"]

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
def child_env() -> dict:
    return train_children.child_env()


def _awmkit(env: dict, *argv: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "awmkit", *argv]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> pathlib.Path:
    """The uninterrupted run of ``ARGS`` (made once, shared with test_resume_processes.py)."""
    return train_children.reference("bpo", tmp_path_factory)[1]


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


@pytest.mark.slow  # the default suite interrupts an in-process run (test_run_faults.py)
@pytest.mark.xdist_group(train_children.GROUP)
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
@pytest.mark.xdist_group(train_children.GROUP)
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

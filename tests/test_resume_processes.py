"""``awmkit train`` killed with SIGKILL and resumed in a new process, for BPO, SAC and the Online DT;
while the killed run still held its directory, a second process was refused in one line naming it.

Every run here is a fresh ``python -m awmkit`` process, as a user's would be: a run's fingerprint must
be the same in every process (it once held memory addresses, so ``--resume`` refused every checkpoint
written by another process). The runs are tiny (a few hundred steps, small networks) so each takes
seconds; one uninterrupted reference run per algorithm is shared by the tests (and with
test_run_processes.py: tests/train_children.py).
"""

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest
import train_children
from train_children import COMMON, FLAGS

from awmkit.cli import main

# Runs ``awmkit`` with every checkpoint write after the first chunk's held back: the child announces
# (in the file argv[1]) that it reached the second chunk's checkpoint, with that chunk's metrics
# already appended, and waits there to be killed; the first chunk's checkpoint is on disk. So the
# parent's SIGKILL lands at a known point mid-run, the hardest one (metrics ahead of the checkpoint).
_HELD = """
import pathlib, sys, time
from awmkit.runs import RunDir

def hold(original):
    def save(self, header, state):
        if header["chunk"] >= 2:
            pathlib.Path(sys.argv[1]).write_text(str(header["chunk"]))
            time.sleep(600)
        return original(self, header, state)
    return save

RunDir.write_checkpoint = hold(RunDir.write_checkpoint)
from awmkit.cli import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.fixture(scope="module")
def child_env() -> dict:
    return train_children.child_env()


def _snapshot(root: pathlib.Path) -> dict:
    """Every file under ``root`` with its bytes and modification time."""
    return {
        str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _checkpoint_chunk(out: pathlib.Path) -> int:
    return json.loads((out / "checkpoints" / "checkpoint.eqx").read_bytes().split(b"\n", 1)[0])["chunk"]


@pytest.fixture(scope="module")
def references(tmp_path_factory):
    """One uninterrupted run per algorithm, made on first use (and shared with test_run_processes.py):
    ``algo -> (algo, run directory, its --json summary)``."""
    return lambda algo: train_children.reference(algo, tmp_path_factory)


# BPO in the default suite; SAC and the Online DT (the same host loop) in the slow one.
ALGOS = ["bpo", pytest.param("sac", marks=pytest.mark.slow), pytest.param("odt", marks=pytest.mark.slow)]


@pytest.mark.xdist_group(train_children.GROUP)
@pytest.mark.parametrize("algo", ALGOS)
def test_sigkill_then_resume_in_a_new_process_is_bit_identical(algo, references, child_env, tmp_path, capsys):
    algo, full, summary = references(algo)
    out, flag = tmp_path / "run", tmp_path / "held"
    argv = [sys.executable, "-c", _HELD, str(flag), "train", *COMMON, *FLAGS[algo], "--out", str(out)]
    child = subprocess.Popen(
        argv, env=child_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 600
        while not flag.exists():
            assert child.poll() is None, f"the run ended before it was killed:\n{child.stderr.read()}"
            assert time.monotonic() < deadline, "the run never reached its second checkpoint"
            time.sleep(0.02)
        # While it holds the run (its lock taken, mid-run), another process (this one) is refused in one
        # line naming the holder: the same command, resumed or not, and another run into the directory.
        for key, extra in (("3", []), ("3", ["--resume"]), ("4", []), ("4", ["--resume"])):
            argv = ["train", *COMMON, *FLAGS[algo], "--out", str(out), "--no-progress", *extra]
            argv[argv.index("--key") + 1] = key
            assert main(argv) == 1, key
            lines = capsys.readouterr().err.strip().splitlines()
            assert len(lines) == 1, lines
            assert f"{out} is in use by another awmkit process (pid {child.pid} on " in lines[0]
            assert "--key 3" in lines[0] and lines[0].endswith("or choose another directory")
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    assert child.returncode == -signal.SIGKILL
    # Progress from the first second: the stages, then the first chunk (its speed is not measured).
    shown = child.stderr.read()
    for text in ("compiling", "warm-up", "training", "measuring speed"):
        assert f"{text}" in shown, shown
    assert _checkpoint_chunk(out) == 1 and not (out / "result.json").exists()
    metrics = (out / "metrics.jsonl").read_text().splitlines()
    assert any(json.loads(line)["chunk"] == 1 for line in metrics)  # lines ahead of the checkpoint

    resumed = train_children.train(child_env, algo, out, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "warm-up" not in resumed.stderr and "steps/s  ETA" in resumed.stderr, resumed.stderr
    again = json.loads(resumed.stdout)
    assert again["final_return"] == summary["final_return"]
    assert again["env_steps"] == summary["env_steps"]
    # No line missing or repeated: the whole log equals the uninterrupted run's, byte for byte.
    assert (out / "metrics.jsonl").read_text() == (full / "metrics.jsonl").read_text()
    result, reference_result = (json.loads((d / "result.json").read_text()) for d in (out, full))
    assert result["final_return"] == reference_result["final_return"]
    assert not (out / "run.lock").exists()  # released by the run that finished


@pytest.mark.xdist_group(train_children.GROUP)
@pytest.mark.parametrize("algo", ALGOS)
def test_resuming_a_finished_run_reports_it_and_changes_nothing(algo, references, capsys):
    algo, full, summary = references(algo)
    before = _snapshot(full)
    assert {"config.json", "metrics.jsonl", "result.json", "checkpoints/checkpoint.eqx"} <= set(before)
    if algo == "bpo":  # the world model's hyper-parameters are in config.json, for the reader
        model_config = json.loads((full / "config.json").read_text())["model_config"]
        assert model_config["class"] == "MarkovianModel" and model_config["state_dim"] == 1
    argv = ["train", *COMMON, *FLAGS[algo], "--out", str(full), "--resume", "--no-progress"]
    assert main([*argv, "--json"]) == 0  # in this process: the run was written by another one
    again = json.loads(capsys.readouterr().out)
    assert again["final_return"] == summary["final_return"]
    assert again["learning_curve"] == str(full / "learning_curve.png")
    assert main(argv) == 0
    table = capsys.readouterr().out
    assert f"run directory: {full}\nlearning curve: {full / 'learning_curve.png'}\n" in table
    after = _snapshot(full)
    assert sorted(after) == sorted(before)
    for name in before:
        assert after[name] == before[name], f"{name} changed"


@pytest.mark.xdist_group(train_children.GROUP)
@pytest.mark.parametrize("algo", ALGOS)
def test_resume_mismatch_names_the_differing_flags_first(algo, references, capsys):
    algo, full, _ = references(algo)
    argv = ["train", *COMMON, *FLAGS[algo], "--out", str(full), "--resume", "--no-progress"]
    argv[argv.index("--seeds") + 1] = "3"
    argv[argv.index("--key") + 1] = "4"
    assert main(argv) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == (
        f"awmkit train: error: checkpoint {full / 'checkpoints' / 'checkpoint.eqx'} belongs to a different "
        "run; to resume it, set --seeds, --key to the checkpoint's values; or choose another run directory:"
    )
    assert lines[1] == "  seeds: checkpoint has 2, this run has 3 (--seeds)"
    assert "  key: checkpoint has 3, this run has 4 (--key)" in lines[2:]

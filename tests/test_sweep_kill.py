"""``awmkit sweep`` SIGKILLed while its cells run, then resumed by a new process, ends with exactly the
results of an uninterrupted sweep: no cell missing or duplicated, every metrics.jsonl line for line."""

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

from awmkit.cli import main

ROOT = pathlib.Path(__file__).resolve().parent.parent

SPEC = """
seeds = 2

[grid]
env = "cancer_treatment"
horizon = 10

[config.bpo]
steps = 200
warmup_steps = 10
dynamics_batch_size = 4
policy_batch_size = 4
eval_interval = 50
eval_episodes = 1
chunk_size = 2

[[methods]]
kind = "bpo"
model = "simulator"
method = "k0"
key = 0

[[methods]]
kind = "bpo"
model = "simulator"
method = "k1"
key = 1

[[methods]]
kind = "bpo"
model = "simulator"
method = "k2"
key = 2
"""
NAMES = [f"cancer_treatment-H10-k{k}" for k in range(3)]


def _sweep(spec: pathlib.Path, out: pathlib.Path, env: dict, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "awmkit",
            "sweep",
            str(spec),
            "--out",
            str(out),
            "--json",
            "--no-progress",
            *extra,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(proc: subprocess.Popen) -> dict:
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr[-3000:]
    return json.loads(stdout)


def _chunk(checkpoint: pathlib.Path) -> int:
    try:
        with open(checkpoint, "rb") as f:
            return json.loads(f.readline())["chunk"]
    except (OSError, ValueError, KeyError):
        return -1


def test_a_killed_sweep_resumes_to_the_uninterrupted_results(tmp_path, capsys):
    spec = tmp_path / "grid.toml"
    spec.write_text(SPEC)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        # The killed and the resumed sweep, and the uninterrupted one in this process, compile the same
        # programs: share them through the session's persistent cache (JAX_COMPILATION_CACHE_DIR, set by
        # conftest.py), however small.
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
    }
    out = tmp_path / "killed"
    proc = _sweep(spec, out, env)
    first, second = (out / "cells" / n for n in NAMES[:2])
    deadline = time.monotonic() + 600
    # Kill once the first cell is done and the second is past its first chunks.
    while not ((first / "result.json").exists() and _chunk(second / "checkpoints" / "checkpoint.eqx") >= 2):
        assert proc.poll() is None, "the sweep ended before it could be killed: " + proc.stderr.read()[-2000:]
        assert time.monotonic() < deadline
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    unfinished = [n for n in NAMES if not (out / "cells" / n / "result.json").exists()]
    assert NAMES[2] in unfinished  # killed while cells ran, not after the sweep

    resumed = _finish(_sweep(spec, out, env, "--resume"))
    # The uninterrupted sweep, here: a third process, reading the cache the other two wrote.
    assert main(["sweep", str(spec), "--out", str(tmp_path / "whole"), "--json", "--no-progress"]) == 0
    whole = json.loads(capsys.readouterr().out)
    assert [c["name"] for c in resumed["cells"]] == NAMES == [c["name"] for c in whole["cells"]]
    for a, b in zip(whole["cells"], resumed["cells"]):
        assert a["status"] == b["status"] == "done"
        assert a["final_return"] == b["final_return"]
        lines = (out / "cells" / a["name"] / "metrics.jsonl").read_text().splitlines()
        assert lines == (tmp_path / "whole" / "cells" / a["name"] / "metrics.jsonl").read_text().splitlines()
        assert len(lines) == len(set(lines))
    # The cells are ordinary run directories: the results reader takes the sweep as it is.
    from awmkit.runs import load_runs

    runs = load_runs([out])
    assert sorted(r.path.name for r in runs) == NAMES
    attempts = {c["name"]: c["attempts"] for c in resumed["cells"]}
    assert attempts[NAMES[0]] == 0 and all(attempts[n] == 1 for n in unfinished)
    assert whole["cells"][0]["final_return"] != whole["cells"][1]["final_return"]

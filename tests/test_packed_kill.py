"""A packed sweep (``awmkit sweep``: an entropy sweep of two cells trained as one program, one run
directory per cell) SIGKILLed in a subprocess after its first checkpoints and resumed by a new process
ends with exactly the run directories of an uninterrupted packed sweep: the same metrics line for line,
the same results and bit-identical checkpoints, read back by this (another) process with
``awmkit.runs.load_runs``.

The child holds every checkpoint write from chunk 2 on in the cells it is told to (and announces it),
so the kill lands at a known point: "together", both cells held, leaves both at chunk 1 with metrics
ahead of the checkpoint (the packed program resumes them together); "split", one cell held, leaves
one cell at chunk 2 and the other at chunk 1 (a partial checkpoint set across the settings: the
resumed sweep runs them one by one, each from its own checkpoint)."""

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
H = 10
SPEC = f"""
seeds = 2
key = 3

[grid]
env = "cancer_treatment"
horizon = {H}

[config.bpo]
steps = 400
warmup_steps = {H}
dynamics_batch_size = 4
policy_batch_size = 4
policy_lr = 1e-3
eval_interval = 50
eval_episodes = 1
chunk_size = 2

[[methods]]
kind = "bpo"
model = "simulator"
method = "ent0.1"
config = {{ entropy_coef = 0.1 }}

[[methods]]
kind = "bpo"
model = "simulator"
method = "ent0.001"
config = {{ entropy_coef = 0.001, policy_lr = 3e-4 }}
"""
NAMES = [f"cancer_treatment-H{H}-ent0.1", f"cancer_treatment-H{H}-ent0.001"]

# ``awmkit sweep`` (argv[3:]) with the checkpoint writes of chunk >= 2 held in the cells named in
# argv[2] (comma-separated): the child announces each held cell in the folder argv[1] and sleeps.
# It also records every train_packed call (how many settings) in argv[1]/packed.
_HELD = """
import pathlib, sys, time
import awmkit.bpo
from awmkit.runs import RunDir

signals, held = pathlib.Path(sys.argv[1]), set(sys.argv[2].split(","))
original = RunDir.write_checkpoint

def save(self, header, state):
    if header["chunk"] >= 2 and self.root.name in held:
        (signals / self.root.name).write_text(str(header["chunk"]))
        time.sleep(600)
    return original(self, header, state)

RunDir.write_checkpoint = save
packed = awmkit.bpo.train_packed

def spy(env, configs, **kwargs):
    with open(signals / "packed", "a") as f:
        f.write(f"{len(configs)}\\n")
    return packed(env, configs, **kwargs)

awmkit.bpo.train_packed = spy
from awmkit.cli import main
sys.exit(main(sys.argv[3:]))
"""


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """The spec, the children's environment (this tree, one persistent compilation cache) and the
    uninterrupted packed sweep."""
    tmp = tmp_path_factory.mktemp("packed-kill")
    spec = tmp / "grid.toml"
    spec.write_text(SPEC)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env["JAX_COMPILATION_CACHE_DIR"] = str(tmp / "jax-cache")
    env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    env["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"
    signals = tmp / "whole-signals"
    signals.mkdir()
    whole = _finish(_sweep(spec, tmp / "whole", env, signals, ""))
    assert _packed_calls(signals) == [2]  # the uninterrupted sweep really packs
    return spec, env, tmp, whole


def _sweep(spec, out, env, signals, held: str, *extra: str) -> subprocess.Popen:
    argv = ["sweep", str(spec), "--out", str(out), "--json", "--no-progress", *extra]
    return subprocess.Popen(
        [sys.executable, "-c", _HELD, str(signals), held, *argv],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(proc: subprocess.Popen) -> dict:
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr[-3000:]
    return json.loads(stdout)


def _packed_calls(signals: pathlib.Path) -> list[int]:
    path = signals / "packed"
    return [int(x) for x in path.read_text().split()] if path.exists() else []


def _checkpoint(run_dir: pathlib.Path) -> tuple[int, bytes]:
    """The chunk and payload of a run directory's checkpoint ((-1, b"") while there is none)."""
    from awmkit.bpo._run import CHECKPOINT_FORMAT
    from awmkit.runs import RunDir

    rd = RunDir(run_dir)
    if not rd.checkpoint.exists():
        return -1, b""
    header, payload = rd.read_checkpoint(CHECKPOINT_FORMAT)
    return int(header["chunk"]), payload


def _kill_and_resume(setup, held: list[str], free_reach: int):
    """Kills the sweep once every held cell is held and every other cell's checkpoint reached chunk
    `free_reach`; returns the killed directory's chunks and the resumed sweep's report."""
    spec, env, tmp, _ = setup
    name = "-".join(str(NAMES.index(n)) for n in held)
    out, signals = tmp / f"killed-{name}", tmp / f"signals-{name}"
    signals.mkdir()
    proc = _sweep(spec, out, env, signals, ",".join(held))
    free = [n for n in NAMES if n not in held]
    deadline = time.monotonic() + 600
    while not (
        all((signals / n).exists() for n in held)
        and all(_checkpoint(out / "cells" / n)[0] >= free_reach for n in free)
    ):
        assert proc.poll() is None, "the sweep ended before it could be killed: " + proc.stderr.read()[-2000:]
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    chunks = {n: _checkpoint(out / "cells" / n)[0] for n in NAMES}
    assert not any((out / "cells" / n / "result.json").exists() for n in NAMES)  # killed mid-training
    assert _packed_calls(signals) == [2]
    (signals / "packed").unlink()
    resumed = _finish(_sweep(spec, out, env, signals, "", "--resume"))
    return out, signals, chunks, resumed


def _same_as_uninterrupted(setup, out: pathlib.Path, resumed: dict) -> None:
    _, _, tmp, whole = setup
    assert [c["name"] for c in resumed["cells"]] == NAMES == [c["name"] for c in whole["cells"]]
    for a, b in zip(whole["cells"], resumed["cells"]):
        assert a["status"] == b["status"] == "done" and b["attempts"] == 1
        assert a["final_return"] == b["final_return"]
        here, there = out / "cells" / a["name"], tmp / "whole" / "cells" / a["name"]
        lines = (here / "metrics.jsonl").read_text().splitlines()
        assert lines == (there / "metrics.jsonl").read_text().splitlines()
        assert len(lines) == len(set(lines))
        assert _checkpoint(here) == _checkpoint(there)  # bit-identical final states
        config = json.loads((here / "config.json").read_text())
        assert config["entropy_coef"] == float(a["name"].rsplit("-ent", 1)[1])
        assert not (here / "run.lock").exists()
    assert whole["cells"][0]["final_return"] != whole["cells"][1]["final_return"]
    # Another process than the writers reads the directories as ordinary runs.
    from awmkit.runs import load_runs

    runs = {r.path.name: r for r in load_runs([out])}
    assert sorted(runs) == sorted(NAMES)
    for c in whole["cells"]:
        assert runs[c["name"]].final_returns().tolist() == c["final_return"]


@pytest.mark.slow  # three sweep processes (~40 s of CPU); the default suite keeps the train_packed test below
def test_a_killed_packed_sweep_resumes_packed_to_the_uninterrupted_directories(setup):
    """Both cells held at chunk 2: both directories keep chunk 1 and the resumed sweep packs them again."""
    out, signals, chunks, resumed = _kill_and_resume(setup, NAMES, free_reach=0)
    assert chunks == {NAMES[0]: 1, NAMES[1]: 1}
    assert _packed_calls(signals) == [2]  # resumed as one program
    _same_as_uninterrupted(setup, out, resumed)


@pytest.mark.slow  # two more sweep processes (~25 s of CPU)
def test_a_packed_sweep_killed_between_its_cells_checkpoints_resumes_cell_by_cell(setup):
    """One cell held at chunk 2, the other past it: a partial checkpoint set across the settings. The
    resumed sweep cannot pack them (different chunks) and runs each from its own checkpoint."""
    out, signals, chunks, resumed = _kill_and_resume(setup, NAMES[1:], free_reach=2)
    assert chunks == {NAMES[0]: 2, NAMES[1]: 1}
    assert _packed_calls(signals) == []  # resumed one by one
    _same_as_uninterrupted(setup, out, resumed)


# The default suite's variant, without the sweep and the CLI: ``train_packed`` into two run directories
# in a child held at chunk 2 in both and killed, then a second child that resumes them and trains the
# same runs uninterrupted into two other directories (one compilation for both, from the first child's
# persistent cache).
_TRAIN = """
import dataclasses, pathlib, sys, time
import awmkit
from awmkit.bpo import BPOConfig, train_packed
from awmkit.runs import RunDir

root, mode = pathlib.Path(sys.argv[1]), sys.argv[2]
if mode == "held":
    original = RunDir.write_checkpoint

    def save(self, header, state):
        if header["chunk"] >= 2:
            (root / f"held-{self.root.name}").write_text(str(header["chunk"]))
            time.sleep(600)
        return original(self, header, state)

    RunDir.write_checkpoint = save
env = awmkit.envs.make("cancer_treatment", horizon=5)
base = BPOConfig(steps=100, warmup_steps=5, dynamics_batch_size=2, policy_batch_size=2, policy_lr=1e-3,
                 eval_interval=10, eval_episodes=1, chunk_size=2)
configs = [dataclasses.replace(base, entropy_coef=0.1), dataclasses.replace(base, entropy_coef=0.001, policy_lr=3e-4)]

def run(folder, resume):
    outs = [root / folder / "a", root / folder / "b"]
    train_packed(env, configs, model="simulator", seeds=2, key=3, outs=outs, resume=resume)

if mode == "held":
    run("killed", False)
else:
    run("killed", True)
    run("whole", False)
"""


@pytest.mark.slow  # two children compiling a BPO program: ~30 s of CPU; the test below stays in the default suite
def test_train_packed_killed_after_its_first_checkpoints_resumes_to_the_uninterrupted_directories(tmp_path):
    from awmkit.runs import load_runs

    env = dict(os.environ)  # the session's persistent compilation cache (conftest) is inherited
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])

    def child(mode):
        return subprocess.Popen(
            [sys.executable, "-c", _TRAIN, str(tmp_path), mode], env=env, stderr=subprocess.PIPE, text=True
        )

    proc = child("held")
    deadline = time.monotonic() + 600
    while not all((tmp_path / f"held-{n}").exists() for n in "ab"):
        assert proc.poll() is None, "the run ended before it could be killed: " + proc.stderr.read()[-2000:]
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    assert [_checkpoint(killed / n)[0] for n in "ab"] == [1, 1]
    assert not any((killed / n / "result.json").exists() for n in "ab")
    proc = child("resume")
    _, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr[-3000:]
    for n in "ab":
        lines = (killed / n / "metrics.jsonl").read_text().splitlines()
        assert lines == (whole / n / "metrics.jsonl").read_text().splitlines() and len(lines) == len(
            set(lines)
        )
        assert _checkpoint(killed / n) == _checkpoint(whole / n)  # bit-identical final states
        assert not (killed / n / "run.lock").exists()
    # This process, not the writers, reads the four directories as ordinary runs.
    finals = {
        (r.path.parent.name, r.path.name): r.final_returns().tolist() for r in load_runs([killed, whole])
    }
    assert len(finals) == 4
    assert (
        finals[("killed", "a")] == finals[("whole", "a")] != finals[("killed", "b")] == finals[("whole", "b")]
    )


def test_packed_directories_left_at_different_chunks_are_not_resumed_together(tmp_path, monkeypatch):
    """What a kill between the settings' checkpoint writes leaves (the slow tests above make it for
    real): ``train_packed`` refuses to resume the set, naming the chunks, and the sweep leaves such a
    group, or one with an unreadable checkpoint, to run cell by cell; a consistent set is packed."""
    import jax.numpy as jnp

    import awmkit
    from awmkit.bpo import BPOConfig, train_packed
    from awmkit.bpo._packed import checkpoint_chunk
    from awmkit.bpo._run import CHECKPOINT_FORMAT
    from awmkit.experiments import Cell, _cell, _sweep
    from awmkit.runs import RunDir

    def checkpoint(path, chunk):
        RunDir(path).write_checkpoint({"format": CHECKPOINT_FORMAT, "chunk": chunk}, {"x": jnp.zeros(2)})

    config = {"steps": 100, "warmup_steps": 5, "eval_interval": 10, "chunk_size": 2}
    cells = [
        Cell(
            name=f"e{a}",
            kind="bpo",
            env="cancer_treatment",
            horizon=5,
            seeds=1,
            model="simulator",
            config={**config, "entropy_coef": a},
        )  # fmt: skip
        for a in (0.1, 0.01)
    ]
    dirs = [tmp_path / "cells" / c.name for c in cells]
    checkpoint(dirs[0], 2)
    checkpoint(dirs[1], 1)
    assert [checkpoint_chunk(d) for d in dirs] == [2, 1]
    env = awmkit.envs.make("cancer_treatment", horizon=5)
    configs = [BPOConfig(**c.config) for c in cells]
    with pytest.raises(ValueError, match=r"reached different chunks \[2, 1\].*resume each"):
        train_packed(env, configs, model="simulator", outs=dirs, resume=True)

    packed = []
    monkeypatch.setattr(
        _cell, "run_packed_cells", lambda group, ds: packed.append(len(group)) or [{}] * len(ds)
    )
    assert _sweep._run_packed(cells, tmp_path, lambda outcome: None) == cells and packed == []
    (dirs[1] / "checkpoints" / "checkpoint.eqx").write_bytes(b"not a checkpoint")
    checkpoint(dirs[0], 1)
    assert checkpoint_chunk(dirs[1]) is None
    assert _sweep._run_packed(cells, tmp_path, lambda outcome: None) == cells and packed == []
    checkpoint(dirs[1], 1)
    assert _sweep._run_packed(cells, tmp_path, lambda outcome: None) == [] and packed == [2]

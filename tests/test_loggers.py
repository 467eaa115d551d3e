"""The TensorBoard and W&B loggers: what they write is read back by other processes, TensorBoard's
with its own ``EventAccumulator``, W&B's offline run files with W&B's own reader of its transaction
log (``wandb leet inspect --json``)."""

import json
import math
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest
import sweep_kinds  # noqa: F401  (registers the test kinds, "boom" among them)

pytest.importorskip("tensorboard")
pytest.importorskip("wandb")

from awmkit.runs import (  # noqa: E402
    AbstractLogger,
    TensorBoardLogger,
    WandbLogger,
    logger_from_name,
    logger_names,
)
from awmkit.runs._scalars import flat_hparams, points  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
CONFIG = {"algo": "bpo", "env": "cancer_treatment", "steps": 80, "seeds": 2, "policy": {"width": 64}}


def _env() -> dict:
    env = dict(os.environ, WANDB_MODE="offline", WANDB_SILENT="true")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    return env


def _rows(chunk: int, steps: int, shift: float = 0.0) -> list[dict]:
    """A chunk's metrics.jsonl rows as BPO writes them: two seeds, a window without model updates."""
    return [
        {
            "chunk": chunk,
            "iteration": chunk,
            "env_steps": steps,
            "seed": s,
            "eval_return": steps + 10.0 * s + shift,
            "alive": True,
            "model_loss": None,
        }
        for s in range(2)
    ]


def test_points_one_per_evaluation_with_seed_means():
    rows = [*_rows(0, 20), *_rows(1, 40)]
    rows[3]["eval_return"] = float("nan")  # seed 1 at step 40: left out of the mean
    rows.append({"chunk": 0, "seed": 1, "nan": {"seed": 1, "env_step": 35, "quantity": "policy loss"}})
    got = points(rows)
    assert [p.step for p in got] == [20, 40]
    assert got[0].scalars == {
        "eval_return/seed_0": 20.0,
        "eval_return/seed_1": 30.0,
        "eval_return/mean": 25.0,
        "alive/seed_0": 1.0,
        "alive/seed_1": 1.0,
        "alive/mean": 1.0,
    }
    assert got[1].scalars["eval_return/mean"] == 40.0 and math.isnan(got[1].scalars["eval_return/seed_1"])
    # The baselines' rows (no iteration): one evaluation per chunk, grouped by env steps.
    base = [
        {"chunk": 3, "env_steps": 90, "seed": s, "eval_return": float(s), "q_loss": 2.0} for s in range(3)
    ]
    (only,) = points(base)
    assert (
        only.step == 90 and only.scalars["eval_return/mean"] == 1.0 and only.scalars["q_loss/seed_2"] == 2.0
    )


def test_flat_hparams():
    flat = flat_hparams({"a": 1, "b": {"c": [64, 64], "d": None, "e": {"f": True}}, "g": "x"})
    assert flat == {"a": 1, "b.c": "[64, 64]", "b.d": "null", "b.e.f": True, "g": "x"}


def test_registry_and_bad_arguments(tmp_path, monkeypatch, capsys):
    assert {"tensorboard", "wandb"} <= set(logger_names())
    assert isinstance(logger_from_name("tensorboard"), TensorBoardLogger)
    assert isinstance(logger_from_name("wandb"), WandbLogger)
    with pytest.raises(ValueError, match="logger must be one of: .*tensorboard.*wandb.*; got 'csv'"):
        logger_from_name("csv")
    with pytest.raises(
        ValueError, match=r"no directory \(out=None\); pass TensorBoardLogger\(logdir=\.\.\.\)"
    ):
        TensorBoardLogger().open(None, CONFIG, resumed=False)
    with pytest.raises(ValueError, match=r"no directory \(out=None\); pass WandbLogger\(dir=\.\.\.\)"):
        WandbLogger().open(None, CONFIG, resumed=False)
    with pytest.raises(ValueError, match="mode must be 'offline', 'online' or 'disabled', got 'cloud'"):
        WandbLogger(mode="cloud")
    monkeypatch.setitem(sys.modules, "tensorboard.summary.writer.event_file_writer", None)
    monkeypatch.setitem(sys.modules, "wandb", None)
    with pytest.raises(
        ImportError, match=r"needs the `tensorboard` extra: pip install 'awmkit\[tensorboard\]'"
    ):
        TensorBoardLogger()
    with pytest.raises(ImportError, match=r"needs the `wandb` extra: pip install 'awmkit\[wandb\]'"):
        WandbLogger()
    # On the command line: one line, before anything is compiled; a sweep refuses it before any cell.
    from test_bpo_cli import SMALL_FLAGS

    from awmkit.cli import main
    from awmkit.experiments import Cell, run_sweep

    assert main(["train", *SMALL_FLAGS, "--logger", "wandb"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "awmkit train: error: the wandb logger needs the `wandb` extra" in err
    cell = Cell(name="c", kind="bpo", env="harvest", horizon=5, seeds=1, model="simulator")
    with pytest.raises(ValueError, match="the tensorboard logger needs the `tensorboard` extra"):
        run_sweep([cell], tmp_path / "sweep", loggers=["tensorboard"], progress=False)
    assert not (tmp_path / "sweep").exists()


# A run killed with SIGKILL after three evaluations (20, 40, 60 environment steps).
_KILLED = """
import json, os, signal, sys, pathlib
from awmkit.runs import TensorBoardLogger, WandbLogger
loggers = [TensorBoardLogger(), WandbLogger()]
for logger in loggers:
    logger.open(pathlib.Path(sys.argv[1]), json.loads(sys.argv[2]), resumed=False)
for chunk_rows in json.loads(sys.argv[3]):
    for logger in loggers:
        logger.log(chunk_rows)
os.kill(os.getpid(), signal.SIGKILL)
"""

# Reads TensorBoard's event files back as JSON with TensorBoard's own reader.
_READ_TENSORBOARD = """
import json, sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2
acc = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0, "tensors": 0})
acc.Reload()
def plugin(tag):
    data = plugin_data_pb2.HParamsPluginData()
    data.ParseFromString(acc.SummaryMetadata(tag).plugin_data.content)
    return data
start = plugin("_hparams_/session_start_info").session_start_info
print(json.dumps({
    "scalars": {t: [[e.step, e.value] for e in acc.Scalars(t)] for t in acc.Tags()["scalars"]},
    "hparams": {k: getattr(v, v.WhichOneof("kind")) for k, v in start.hparams.items()},
    "status": plugin("_hparams_/session_end_info").session_end_info.status,
    "config_text": acc.Tensors("config")[0].tensor_proto.string_val[0].decode(),
}))
"""


def _read_tensorboard(logdir: pathlib.Path) -> dict:
    read = subprocess.run(
        [sys.executable, "-c", _READ_TENSORBOARD, str(logdir)], env=_env(), capture_output=True, text=True
    )
    assert read.returncode == 0, read.stderr
    return json.loads(read.stdout)


def _read_wandb(session: pathlib.Path) -> tuple[dict, dict[int, dict]]:
    """W&B's summary of an offline run folder and its history by step, from ``wandb leet inspect``."""
    wandb = [sys.executable, "-m", "wandb", "leet", "inspect", "--json"]
    summary = subprocess.run([*wandb, "--summary", str(session)], env=_env(), capture_output=True, text=True)
    assert summary.returncode == 0, summary.stderr
    records = subprocess.run([*wandb, str(session)], env=_env(), capture_output=True, text=True)
    assert records.returncode == 0, records.stderr
    history = {}
    for line in records.stdout.splitlines():
        record = json.loads(line)
        if record["type"] == "history":
            history[int(record["history"]["step"]["num"])] = record["history"]["item"]
    return json.loads(summary.stdout), history


def test_killed_and_resumed_run_reads_back(tmp_path, monkeypatch):
    run = tmp_path / "run"
    chunks = json.dumps([_rows(chunk, steps) for chunk, steps in enumerate([20, 40, 60])])
    killed = subprocess.run(
        [sys.executable, "-c", _KILLED, str(run), json.dumps(CONFIG), chunks],
        env=_env(),
        capture_output=True,
        text=True,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    run_id = json.loads((run / "wandb" / "awmkit_run.json").read_text())["id"]
    # W&B names a session's folder by its start second: a resume within the killed session's second
    # would reuse its folder (no real resume comes that fast).
    (killed_session,) = (run / "wandb").glob("offline-run-*")
    while time.strftime("%Y%m%d_%H%M%S") <= killed_session.name.split("-")[2]:
        time.sleep(0.05)

    # The resumed run: metrics.jsonl holds the rows up to its checkpoint (20 and 40 env steps); the
    # chunk at 60 is redone (with other values here, to see which ones TensorBoard keeps), then 80.
    (run / "metrics.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for c in (0, 1) for r in _rows(c, 20 * c + 20))
    )
    monkeypatch.setenv("WANDB_SILENT", "true")
    loggers = [TensorBoardLogger(), WandbLogger(mode="offline")]
    for logger in loggers:
        logger.open(run, CONFIG, resumed=True)
    for chunk, steps in ((2, 60), (3, 80)):
        for logger in loggers:
            logger.log(_rows(chunk, steps, shift=0.5))
    for logger in loggers:
        logger.close("finished")

    tb = _read_tensorboard(run / "tensorboard")
    # The killed process's 60 is replaced by the redone one; one point per step.
    assert tb["scalars"]["eval_return/seed_1"] == [[20, 30.0], [40, 50.0], [60, 70.5], [80, 90.5]]
    assert tb["scalars"]["eval_return/mean"] == [[20, 25.0], [40, 45.0], [60, 65.5], [80, 85.5]]
    assert "model_loss/mean" not in tb["scalars"]  # None: no value, no point
    assert tb["hparams"]["algo"] == "bpo" and tb["hparams"]["policy.width"] == 64.0
    assert tb["status"] == 1  # STATUS_SUCCESS
    assert json.loads(tb["config_text"].strip("`").removeprefix("json")) == CONFIG

    # One W&B run id for both sessions; the newest holds the whole history and the end of the run.
    sessions = sorted((run / "wandb").glob("offline-run-*"))
    assert len(sessions) == 2 and all(session.name.endswith(run_id) for session in sessions)
    summary, history = _read_wandb(sessions[-1])
    assert summary["run_id"] == run_id and summary["state"] == "finished" and summary["exit_code"] == 0
    assert {k: summary["config"][k] for k in CONFIG} == CONFIG
    assert summary["summary"]["awmkit_status"] == "finished"
    assert sorted(history) == [20, 40, 60, 80]
    assert [history[s]["eval_return/mean"] for s in (20, 40, 60, 80)] == [25.0, 45.0, 65.5, 85.5]
    assert history[80]["eval_return/seed_0"] == 80.5


def _metrics(run: pathlib.Path) -> dict[int, dict[int, float]]:
    """``metrics.jsonl``'s evaluation returns by env steps and seed."""
    out: dict[int, dict[int, float]] = {}
    for line in (run / "metrics.jsonl").read_text().splitlines():
        row = json.loads(line)
        if "eval_return" in row:
            out.setdefault(row["env_steps"], {})[row["seed"]] = row["eval_return"]
    return out


def test_awmkit_train_with_both_loggers_reads_back(tmp_path, monkeypatch):
    from test_bpo_cli import SMALL_FLAGS  # the CLI tests' run: its programs are in the compilation cache

    from awmkit.cli import main

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    run = tmp_path / "run"
    argv = ["train", *SMALL_FLAGS, "--out", str(run), "--logger", "tensorboard", "--logger", "wandb"]
    assert main(argv) == 0
    expected = _metrics(run)
    steps = sorted(expected)
    assert len(steps) >= 3
    config = json.loads((run / "config.json").read_text())

    tb = _read_tensorboard(run / "tensorboard")
    for seed in (0, 1):
        got = tb["scalars"][f"eval_return/seed_{seed}"]
        assert [s for s, _ in got] == steps
        assert [v for _, v in got] == pytest.approx([expected[s][seed] for s in steps], rel=1e-6)
    means = [sum(expected[s].values()) / 2 for s in steps]
    assert [v for _, v in tb["scalars"]["eval_return/mean"]] == pytest.approx(means, rel=1e-6)
    assert {"model_loss/mean", "policy_grad_norm/seed_1"} & set(tb["scalars"])
    assert tb["hparams"]["model"] == "simulator" and tb["hparams"]["steps"] == config["steps"]
    assert tb["hparams"]["policy.width_size"] == config["policy"]["width_size"]
    assert tb["status"] == 1

    (session,) = (run / "wandb").glob("offline-run-*")
    summary, history = _read_wandb(session)
    assert summary["state"] == "finished" and summary["name"] == "run"
    assert {k: summary["config"][k] for k in ("algo", "model", "steps", "seed_indices")} == {
        k: config[k] for k in ("algo", "model", "steps", "seed_indices")
    }
    assert sorted(history) == steps
    for s in steps:
        assert [history[s][f"eval_return/seed_{i}"] for i in (0, 1)] == [expected[s][0], expected[s][1]]


class _Recording(AbstractLogger):
    """Remembers every call, in the class-level list ``calls`` (one instance per cell expected)."""

    calls: list = []

    def open(self, run_dir, config, *, resumed):
        self.calls.append((id(self), "open", run_dir.name, config["key"], resumed))

    def log(self, rows):
        self.calls.append((id(self), "log", len(rows)))

    def close(self, status):
        self.calls.append((id(self), "close", status))


def _logged_fake(cell, run_dir, resume, *, loggers=()):
    """A cell kind that feeds its loggers like the host loop (no JAX): config, one chunk, close."""
    run_dir.mkdir(parents=True, exist_ok=True)
    config = {"algo": "logged_fake", "env": cell.env, "key": cell.key}
    rows = [
        {"chunk": 0, "env_steps": cell.horizon, "seed": s, "eval_return": float(cell.key + s)} for s in (0, 1)
    ]
    for logger in loggers:
        logger.open(run_dir, config, resumed=False)
        logger.log(rows)
        logger.close("finished")
    result = {"final_return": [float(cell.key), float(cell.key + 1)], "env_steps": cell.horizon}
    (run_dir / "result.json").write_text(json.dumps(result))
    return result


def test_a_sweep_gives_each_cell_its_own_loggers(tmp_path):
    from awmkit.experiments import Cell, register_cell_kind, run_sweep

    register_cell_kind("logged_fake", _logged_fake, overwrite=True)
    cells = [Cell(name=f"k{k}", kind="logged_fake", env="harvest", horizon=5, seeds=2, key=k) for k in (3, 4)]
    _Recording.calls.clear()
    result = run_sweep(cells, tmp_path / "sweep", loggers=["tensorboard", _Recording], progress=False)
    assert [o.status for o in result.outcomes] == ["done", "done"]
    # One fresh logger per cell, opened with that cell's configuration.
    opened = [c for c in _Recording.calls if c[1] == "open"]
    assert [c[2:] for c in opened] == [("k3", 3, False), ("k4", 4, False)] and opened[0][0] != opened[1][0]
    for k in (3, 4):
        tb = _read_tensorboard(tmp_path / "sweep" / "cells" / f"k{k}" / "tensorboard")
        assert tb["scalars"]["eval_return/mean"] == [[5, k + 0.5]] and tb["hparams"]["key"] == k

    # Refused before anything runs: an unknown name, a kind whose runner takes no loggers.
    with pytest.raises(ValueError, match="unknown logger 'csv'; valid names are: tensorboard, wandb"):
        run_sweep(cells, tmp_path / "other", loggers=["csv"], progress=False)
    plain = Cell(name="p", kind="boom", env="harvest", horizon=5, seeds=2)
    with pytest.raises(ValueError, match="cells of kind 'boom' take no loggers: its runner has no `loggers`"):
        run_sweep([plain], tmp_path / "other", loggers=["tensorboard"], progress=False)
    assert not (tmp_path / "other").exists()

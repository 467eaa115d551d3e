"""Cells, the sweep runner's bookkeeping (local backend) and TOML sweep specs: checked before anything
runs, every cell exactly once, finished cells skipped on resume, failures recorded and the others run."""

import json
import pathlib
import subprocess
import sys

import pytest
from sweep_kinds import TINY_BPO  # noqa: F401  (registers the test kinds)

from awmkit.experiments import (
    Cell,
    cell_kinds,
    expand_sweep_spec,
    load_sweep_spec,
    register_cell_kind,
    run_cell,
    run_sweep,
)

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _cell(**kw) -> Cell:
    base = dict(name="c", kind="bpo", env="cancer_treatment", horizon=10, seeds=2, model="simulator")
    return Cell(**{**base, **kw})


def _fake(name: str, key: int = 0, **config) -> Cell:
    return Cell(name=name, kind="fake", env="harvest", horizon=5, seeds=2, key=key, config=config)


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(env="nope"), r"unknown env 'nope'; valid names are: cancer_treatment, .*one_bounce"),
        (dict(kind="ppo"), r"unknown kind 'ppo'; valid kinds are: bpo, sac, odt"),
        (dict(model="gpt"), r"unknown model 'gpt' for kind 'bpo'; valid models are: markovian, .*simulator"),
        (dict(model=None), r"unknown model None for kind 'bpo'"),
        (dict(kind="sac"), r"model must be None for kind 'sac'"),
        (
            dict(config={"stepz": 5}),
            r"unknown config field 'stepz' for kind 'bpo' \(BPOConfig\); valid fields are: steps, ",
        ),
        (dict(kind="sac", model=None, config={"policy_width": 0}), r"cell 'c': .*policy_width"),
        (dict(config={"steps": 5}), r"cell 'c': BPOConfig.steps=5 leaves no training episode at horizon 10"),
        (dict(name="../up"), r"Cell.name must be a path-safe id"),
        (dict(horizon=0), r"horizon must be a positive integer, got 0"),
        (dict(num_gpus=-0.5), r"num_gpus must be a non-negative number, got -0.5"),
        (dict(config={"steps": float("nan")}), r"config must hold JSON values only"),
    ],
)
def test_a_bad_cell_is_one_line_naming_the_field(change, message):
    with pytest.raises(ValueError, match=message) as info:
        _cell(**change)
    assert "\n" not in str(info.value)


def test_cell_round_trips_and_defaults_its_method():
    c = _cell(config={"steps": 200, "warmup_steps": 10}, num_gpus=0.25)
    assert c.method == "simulator" and _cell(kind="sac", model=None).method == "sac"
    assert Cell.from_dict(json.loads(json.dumps(c.to_dict()))) == c
    assert hash(Cell.from_dict(c.to_dict())) == hash(c)
    with pytest.raises(ValueError, match="unknown Cell fields \\['modle'\\]; valid fields are: name, kind"):
        Cell.from_dict({**c.to_dict(), "modle": "x"})
    assert {"bpo", "sac", "odt", "fake"} <= set(cell_kinds())
    with pytest.raises(ValueError, match="already registered"):
        register_cell_kind("bpo", lambda cell, run_dir, resume: {})


def test_a_sweep_runs_every_cell_once_records_failures_and_resumes(tmp_path):
    cells = [_fake("a", key=1), _fake("bad", fail=True), _fake("b", key=2)]
    first = run_sweep(cells, tmp_path, progress=False)
    assert [o.cell.name for o in first.outcomes] == ["a", "bad", "b"]
    assert [o.status for o in first.outcomes] == ["done", "failed", "done"]
    assert first["b"].result["final_return"] == [2.0, 3.0] and first["a"].attempts == 1
    bad = first["bad"]
    assert bad.error == "ValueError: fake cell bad was told to fail"
    recorded = json.loads((tmp_path / "cells" / "bad" / "error.json").read_text())
    assert recorded["error"] == bad.error and "Traceback" in recorded["traceback"]
    saved = json.loads((tmp_path / "sweep.json").read_text())
    assert [Cell.from_dict(c) for c in saved["cells"]] == cells

    with pytest.raises(ValueError, match="already holds a sweep; pass resume=True"):
        run_sweep(cells, tmp_path, progress=False)
    # Resumed: the finished cells are skipped, the failed one is tried again (and fails again).
    again = run_sweep(cells, tmp_path, resume=True, progress=False)
    assert [o.attempts for o in again.outcomes] == [0, 1, 0]
    assert again["a"].result == first["a"].result and again["bad"].status == "failed"
    attempts = (tmp_path / "cells" / "bad" / "sweep_attempts.jsonl").read_text().splitlines()
    assert len(attempts) == 2


def test_a_resumed_sweep_with_another_grid_is_refused_with_what_differs(tmp_path):
    cells = [_fake("a"), _fake("b")]
    run_sweep(cells, tmp_path, progress=False)
    other = [_fake("a", key=7), _fake("c")]
    with pytest.raises(
        ValueError, match=r"different grid.*cells not in it: c; cells missing here: b; cell a: key 0 -> 7"
    ):
        run_sweep(other, tmp_path, resume=True, progress=False)
    assert run_sweep(cells[::-1], tmp_path, resume=True, progress=False).outcomes[0].cell.name == "b"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(cells=[]), "`cells` is empty"),
        (
            dict(cells=[_fake("a"), _fake("a", key=1)]),
            "cell names must be unique within a sweep; repeated: a",
        ),
        (dict(backend="dask"), "unknown backend 'dask'; valid backends are: local, ray"),
        (dict(address="127.0.0.1:6379"), "`address` joins a Ray cluster: it needs backend='ray'"),
        (dict(max_retries=-1), "`max_retries` must be a non-negative integer"),
    ],
)
def test_bad_sweep_arguments_are_refused_before_anything_is_written(tmp_path, kwargs, message):
    kwargs = {"cells": [_fake("a")], **kwargs}
    with pytest.raises(ValueError, match=message):
        run_sweep(out=tmp_path / "out", progress=False, **kwargs)
    assert not (tmp_path / "out").exists()


def test_run_cell_writes_a_run_directory_that_results_reads(tmp_path):
    # A real (tiny) BPO cell through the true dynamics, resumed when finished: the same result.
    cell = _cell(config={**TINY_BPO, "steps": 40})
    result = run_cell(cell, tmp_path / "run", resume=False)
    assert result["algo"] == "bpo" and len(result["final_return"]) == 2
    assert run_cell(cell, tmp_path / "run", resume=True)["final_return"] == result["final_return"]
    from awmkit.evaluation import load_runs

    (run,) = load_runs([tmp_path])
    assert run.horizon == 10 and run.seeds == 2


SPEC = """
seeds = 3
key = 4

[grid]
env = ["cancer_treatment", "harvest"]
horizon = [10, 20]

[config.bpo]
steps = 200
warmup_steps = 10

[[methods]]
kind = "bpo"
model = "simulator"

[[methods]]
kind = "bpo"
model = "markovian"
method = "mlp"
config = { steps = 300, policy_lr = 0.001 }
seeds = 1

[[methods]]
kind = "sac"
num_cpus = 2
"""


def test_a_toml_spec_expands_into_named_cells(tmp_path):
    path = tmp_path / "grid.toml"
    path.write_text(SPEC)
    cells = load_sweep_spec(path)
    assert len(cells) == 12 and len({c.name for c in cells}) == 12
    by_name = {c.name: c for c in cells}
    sim = by_name["harvest-H20-simulator"]
    assert (sim.env, sim.horizon, sim.seeds, sim.key) == ("harvest", 20, 3, 4)
    assert sim.config == {"steps": 200, "warmup_steps": 10}
    mlp = by_name["cancer_treatment-H10-mlp"]
    assert (
        mlp.model == "markovian"
        and mlp.seeds == 1
        and mlp.config == {"steps": 300, "warmup_steps": 10, "policy_lr": 0.001}
    )
    sac = by_name["cancer_treatment-H10-sac"]
    assert sac.config == {} and sac.num_cpus == 2 and sac.method == "sac"
    for shipped in sorted((ROOT / "examples" / "sweeps").glob("*.toml")):
        assert load_sweep_spec(shipped)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda s: s.replace("[grid]", "[grids]"), "unknown key 'grids'; valid keys are: grid, methods"),
        (
            lambda s: s.replace('model = "simulator"', 'modle = "simulator"'),
            r"\[\[methods\]\] entry 1: unknown key 'modle'",
        ),
        (
            lambda s: s.replace('"harvest"', '"harvset"'),
            r"entry 1: cell 'harvset-H10-simulator': unknown env 'harvset'",
        ),
        (
            lambda s: s.replace('method = "mlp"', 'method = "simulator"'),
            r"entry 2: its label 'simulator' repeats entry 1's",
        ),
        (lambda s: s.replace("policy_lr", "policy_rl"), r"entry 2: .*unknown config field 'policy_rl'"),
        (lambda s: s.replace("horizon = [10, 20]", "horizon = []"), r"\[grid\]: horizon is empty"),
        (lambda s: s + "\n[[methods]]\nmodel = 'x'\n", r"entry 4: missing kind"),
        (lambda s: s.replace("seeds = 3", "seeds = 3 3"), r"is not valid TOML"),
    ],
)
def test_a_bad_spec_names_where(tmp_path, edit, message):
    path = tmp_path / "grid.toml"
    path.write_text(edit(SPEC))
    with pytest.raises(ValueError, match=message):
        load_sweep_spec(path)
    with pytest.raises(ValueError, match="missing \\[grid\\]"):
        expand_sweep_spec({"methods": [{"kind": "sac"}]})


def test_cli_reports_a_bad_spec_in_one_line(tmp_path):
    path = tmp_path / "grid.toml"
    path.write_text(SPEC.replace('"harvest"', '"harvset"'))
    run = subprocess.run(
        [sys.executable, "-m", "awmkit", "sweep", str(path), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2 and run.stderr.startswith("awmkit sweep: error: ")
    assert "unknown env 'harvset'" in run.stderr and len(run.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()

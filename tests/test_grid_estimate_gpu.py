"""benchmarks/grid_estimate_gpu.py: the GPU time of a grid from the committed GPU measurements (per-step
cost of measured cells, a power law in H, the CPU's model ratios with the markovian floor), and its JSON
read back by this process."""

import json
import math
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import grid_estimate_gpu as gpu  # noqa: E402

# per-step seconds: awm-transformer 1 ms at H = 100, 8 ms at H = 400 (exponent 1.5); markovian 0.5 ms at 100
CELLS = {
    "awm-transformer": {
        100: {"per_step_s": 1e-3, "compile_s": 60.0},
        400: {"per_step_s": 8e-3, "compile_s": 90.0},
    },
    "markovian": {100: {"per_step_s": 5e-4, "compile_s": 10.0}},
}
CPU = {("awm-transformer", 200): 10.0, ("hwm-transformer", 200): 8.0, ("awm-rnn", 200): 0.1}


def test_per_step_rules():
    at = lambda m, h: gpu.per_step(m, h, CELLS, CPU)  # noqa: E731
    assert (
        at("awm-transformer", 100)["per_step_s"] == 1e-3 and at("awm-transformer", 100)["rule"] == "measured"
    )
    assert math.isclose(at("awm-transformer", 200)["per_step_s"], 1e-3 * 2**1.5)  # on the power law
    assert math.isclose(at("awm-transformer", 1600)["per_step_s"], 8e-3 * 4**1.5)  # beyond: last segment
    low = at("awm-transformer", 20)
    assert low["per_step_s"] == 1e-3 and "errs high" in low["rule"]  # held below the smallest horizon
    one = at("markovian", 400)  # one measured horizon: the awm-transformer's exponent
    assert math.isclose(one["per_step_s"], 5e-4 * 4**1.5) and "exponent 1.5" in one["rule"]
    hwm = at("hwm-transformer", 200)  # unmeasured: the anchor x the CPU ratio (0.8) ...
    assert math.isclose(hwm["per_step_s"], 1e-3 * 2**1.5 * 0.8) and "CPU ratio 0.8" in hwm["rule"]
    rnn = at("awm-rnn", 200)  # ... but never below the markovian's cost there
    assert math.isclose(rnn["per_step_s"], 5e-4 * 2**1.5) and "markovian floor" in rnn["rule"]
    assert at("simulator", 200)["rule"] == "the markovian floor"
    assert at("hwm-transformer", 200)["compile_s"] == 60.0  # the anchor's nearest measured horizon
    with pytest.raises(SystemExit, match="two horizons"):
        gpu.per_step("markovian", 100, {"markovian": CELLS["markovian"]}, CPU)


@pytest.mark.slow  # a subprocess importing awmkit: ~20 s on a loaded 2-core CPU
def test_script_writes_the_grid_estimate(tmp_path):
    measurements = tmp_path / "m"
    measurements.mkdir()
    rows = [
        {"model": m, "horizon": h, "seeds": 10, "steps": 1000, "first_wall_s": 2 * v["per_step_s"] * 1000 + 5,
         "second_wall_s": v["per_step_s"] * 1000}
        for m, hs in CELLS.items() for h, v in hs.items()
    ]  # fmt: skip
    (measurements / "paper_cell.json").write_text(json.dumps({"cells": rows}))
    out = tmp_path / "est.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "grid_estimate_gpu.py"), "--figure", "figure2", "--budget",
         "small", "--measurements", str(measurements), "--out", str(out)],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.read_text())
    cells = {c["name"]: c for c in report["cells"]}
    awm = cells["double_pendulum-H50-awm-transformer-lr0.001"]  # 3 000 steps, held at H = 100: 1 ms a step
    assert awm["steps"] == 3000 and math.isclose(awm["seconds"], 3.0)
    assert math.isclose(report["summary"]["hours"] * 3600, sum(c["seconds"] for c in report["cells"]))
    assert report["summary"]["bpo_cells"] == 8 and "figure2 at small on h200" in done.stderr
    assert sum(r["grid_cells"] for r in report["results"]) == 8  # one row per model and horizon
    assert {(r["model"], r["horizon"]) for r in report["results"]} == {
        (c["model"], c["horizon"]) for c in cells.values()
    }

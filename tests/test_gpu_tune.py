"""benchmarks/gpu_tune.py --quick: the whole staged search end to end on the CPU (tiny sizes), its
JSON read back by this process."""

import json
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_gpu_tune_quick_runs_end_to_end(tmp_path):
    out = tmp_path / "gpu_tune.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_tune.py"), "--quick", "--out", str(out)],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "chosen:" in done.stdout and "stage" in done.stdout  # the decision table
    report = json.loads(out.read_text())
    stages = {row["stage"] for row in report["rows"]}
    assert stages == {"runs", "attention", "precision", "unroll", "xla_flags", "cell"}
    measured = [r for r in report["rows"] if "ms_per_run" in r]
    assert measured and all(r["ms_per_run"] > 0 for r in measured)
    # Each measured stage chose exactly one candidate; the XLA GPU flags are skipped on a CPU.
    for stage in ("runs", "precision", "unroll"):
        assert sum(bool(r.get("chosen")) for r in report["rows"] if r["stage"] == stage) == 1, stage
    assert all("not a GPU" in r["skipped"] for r in report["rows"] if r["stage"] == "xla_flags")
    cell = next(r for r in report["rows"] if r["stage"] == "cell")
    assert cell.get("s_per_episode", 0) > 0 or cell.get("skipped") == "out of time"
    assert report["machine"]["backend"] == "cpu" and set(report["chosen"]) >= {"runs", "precision", "unroll"}

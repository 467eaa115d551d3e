"""The Ray backend of the sweep runner on a local cluster (started once for the module): the same
results as the local backend, bit for bit; a worker killed inside a cell is retried and the cell resumes
from its checkpoint with no metrics line repeated; a cell that fails for good is reported while the
others finish."""

import json
import os

import pytest

ray = pytest.importorskip("ray")

from sweep_kinds import killed_marker, tiny_cell  # noqa: E402

from awmkit.experiments import run_sweep  # noqa: E402
from awmkit.experiments._ray import ray_cluster  # noqa: E402

# One worker runs this module, so the module's Ray cluster is started once (pytest-xdist --dist loadgroup).
pytestmark = pytest.mark.xdist_group("sweep_ray")


@pytest.fixture(scope="module")
def cluster():
    # Workers share compiled programs through the session's persistent cache (JAX_COMPILATION_CACHE_DIR,
    # set by conftest.py and inherited from this environment), every program however small: a retried
    # cell does not compile again, nor does this process's local sweep. It changes no result: the cache
    # holds the same programs.
    names = ("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS",)
    saved = {k: os.environ.get(k) for k in names}
    os.environ.update(JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0")
    try:
        with ray_cluster([tiny_cell("a"), tiny_cell("b")], None) as session:
            yield session
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    assert not ray.is_initialized()  # the module's cluster is shut down


def _metrics(outcome) -> list[str]:
    return (outcome.run_dir / "metrics.jsonl").read_text().splitlines()


def test_ray_matches_local_retries_a_killed_worker_and_reports_failures(cluster, tmp_path):
    grid = [tiny_cell("k0", key=0), tiny_cell("k1", key=1), tiny_cell("boom", kind="boom")]
    killed = tiny_cell("k0-killed", key=0, kind="bpo_killed_once")
    on_ray = run_sweep([*grid, killed], tmp_path / "ray", backend="ray", progress=False)
    assert ray.is_initialized()  # a session opened by the caller stays open

    # Every cell exactly once, in the given order; the failing one reported, the others done.
    assert [o.cell.name for o in on_ray.outcomes] == ["k0", "k1", "boom", "k0-killed"]
    boom = on_ray["boom"]
    assert boom.status == "failed" and boom.error.startswith("RuntimeError: boom")
    error = json.loads((boom.run_dir / "error.json").read_text())
    assert error["cell"] == "boom" and "fails for good" in error["error"]
    assert [o.status for o in on_ray.done] == ["done"] * 3

    # The killed worker: its marker says the kill happened, Ray retried the cell once, and the retry
    # resumed from the checkpoint to the uninterrupted cell's exact metrics and result.
    retried = on_ray["k0-killed"]
    assert killed_marker(retried.run_dir).exists() and retried.attempts == 2
    assert on_ray["k0"].attempts == 1
    assert _metrics(retried) == _metrics(on_ray["k0"])
    lines = _metrics(retried)
    assert len(lines) == len(set(lines))
    assert retried.result["final_return"] == on_ray["k0"].result["final_return"]

    # The local backend gives the same numbers, bit for bit.
    local = run_sweep(grid, tmp_path / "local", backend="local", progress=False)
    assert [o.status for o in local.outcomes] == ["done", "done", "failed"]
    for name in ("k0", "k1"):
        assert local[name].result["final_return"] == on_ray[name].result["final_return"]
        assert _metrics(local[name]) == _metrics(on_ray[name])
    assert on_ray["k0"].result["final_return"] != on_ray["k1"].result["final_return"]


def test_a_request_the_cluster_cannot_meet_is_refused_before_anything_runs(cluster, tmp_path):
    import dataclasses

    greedy = dataclasses.replace(tiny_cell("gpu"), num_gpus=0.5)
    with pytest.raises(ValueError, match="requests num_gpus=0.5 but the Ray cluster has 0 GPUs"):
        run_sweep([greedy], tmp_path / "out", backend="ray", progress=False)
    assert not (tmp_path / "out" / "sweep.json").exists()


_HEAD = """
import sys
from awmkit.experiments._ray import ray_cluster
from awmkit.experiments import Cell
cells = [Cell(name="c", kind="sac", env="harvest", horizon=5, seeds=1), Cell(name="d", kind="sac", env="harvest", horizon=5, seeds=1)]
with ray_cluster(cells, None) as ray:
    print(ray.get_runtime_context().gcs_address, flush=True)
    sys.stdin.read()  # until the test closes it
"""

_DRIVER = """
import json, sys
import sweep_kinds
from awmkit.experiments import Cell, run_sweep
cells = [Cell(name=f"f{k}", kind="fake", env="harvest", horizon=5, seeds=2, key=k) for k in range(3)]
result = run_sweep(cells, sys.argv[1], backend="ray", address=sys.argv[2], progress=False)
print(json.dumps([[o.status, o.result["final_return"], o.attempts] for o in result.outcomes]))
"""


@pytest.mark.slow
def test_a_sweep_joins_an_existing_cluster_by_address(tmp_path):
    import pathlib
    import subprocess
    import sys

    root = pathlib.Path(__file__).resolve().parent.parent
    # The cluster's own processes know only awmkit; the driver also imports sweep_kinds from tests/,
    # which its workers get through the runtime environment's PYTHONPATH.
    head = subprocess.Popen(
        [sys.executable, "-c", _HEAD],
        # A loopback test cluster without Ray's token authentication, so the driver needs no token.
        env={**os.environ, "PYTHONPATH": str(root), "RAY_AUTH_MODE": "disabled"},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        address = head.stdout.readline().strip()
        assert address.startswith("127.0.0.1:")
        driver = subprocess.run(
            [sys.executable, "-c", _DRIVER, str(tmp_path / "out"), address],
            env={**os.environ, "PYTHONPATH": os.pathsep.join([str(root), str(root / "tests")])},
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=600,
        )
        assert driver.returncode == 0, driver.stderr[-3000:]
        outcomes = json.loads(driver.stdout.strip().splitlines()[-1])
        assert outcomes == [["done", [float(k), k + 1.0], 1] for k in range(3)]
    finally:
        head.stdin.close()
        assert head.wait(timeout=120) == 0  # the cluster outlives the sweep; its owner shuts it down

"""The library's GPU defaults come from the committed table ``awmkit/data/gpu_defaults.json``
(written from a ``benchmarks/gpu_tune.py`` result by ``benchmarks/gpu_defaults.py``): read on a GPU
backend only, the CPU's defaults untouched. The GPU is faked by replacing ``jax.default_backend``."""

import json
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import pytest

import awmkit
from awmkit import _gpu_defaults
from awmkit.bpo._devices import default_seed_group_size
from awmkit.models._scan import _unroll
from awmkit.nn import attention_implementation, current_matmul_precision
from awmkit.nn._precision import einsum

ROOT = pathlib.Path(__file__).resolve().parent.parent
# What the library used on each backend before the table existed (measured 2026-12-04).
AS_OF_2026_12_04 = {
    "attention": "xla",
    "matmul_precision": None,
    "generation_unroll": 1,
    "seed_group_size": None,
}


def _fake_tune(backend="gpu", precision="float32", runs=(10, 30, 60, 120), best=60) -> dict:
    return {
        "benchmark": "gpu_tune",
        "machine": {"backend": backend, "device": "NVIDIA H200", "jax": "0.11.2"},
        "config": {"runs": list(runs)},
        "chosen": {
            "runs": {"100": 120, "500": best},
            "attention": "pallas",
            "precision": precision,
            "unroll": 4,
        },
    }


def _cpu_defaults() -> dict:
    return {
        "attention": attention_implementation(),
        "matmul_precision": current_matmul_precision(),
        "generation_unroll": _unroll(),
        "seed_group_size": default_seed_group_size(),
    }


@pytest.fixture
def table(monkeypatch, tmp_path):
    """Replaces the committed table by a file of the test's (the cache is cleared before and after)."""
    path = tmp_path / "gpu_defaults.json"
    monkeypatch.setattr(_gpu_defaults, "table_path", lambda: path)
    _gpu_defaults.gpu_table.cache_clear()
    yield path
    _gpu_defaults.gpu_table.cache_clear()


def test_the_committed_table_matches_its_source():
    """Either no GPU result is committed yet and the table holds the 2026-12-04 defaults, or it is what
    ``benchmarks/gpu_defaults.py`` writes from the committed result it names."""
    table = json.loads(_gpu_defaults.table_path().read_text())
    if table["source"] is None:
        assert table["measured"].startswith("none yet")
        assert table["defaults"] == AS_OF_2026_12_04
    else:
        report = json.loads((ROOT / table["source"]).read_text())
        assert table["defaults"] == _gpu_defaults.defaults_from_tune(report, table["source"])["defaults"]


def test_the_cpu_defaults_ignore_the_gpu_table(table):
    assert jax.default_backend() == "cpu"
    before = _cpu_defaults()
    assert before == {
        "attention": "blocked",
        "matmul_precision": None,
        "generation_unroll": 1,
        "seed_group_size": 2,
    }
    table.write_text(json.dumps(_gpu_defaults.defaults_from_tune(_fake_tune(), "fake.json")))
    assert _cpu_defaults() == before


def test_a_committed_gpu_result_sets_the_gpu_defaults(table, monkeypatch):
    """A fake gpu_tune result, written into the table by the script (a second process), is what a GPU
    backend then uses; a choice the user sets still wins."""
    result = table.parent / "gpu_tune_fake.json"
    result.write_text(json.dumps(_fake_tune()))
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_defaults.py"), str(result), "--out", str(table)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    assert _cpu_defaults() == {
        "attention": "pallas",
        "matmul_precision": "float32",
        "generation_unroll": 4,
        "seed_group_size": 60,
    }
    # The table's precision reaches the traced matmuls of the world models' layers.
    text = jax.jit(lambda a, b: einsum("ij,jk->ik", a, b)).lower(jnp.ones((2, 3)), jnp.ones((3, 2))).as_text()
    assert "HIGHEST" in text
    with awmkit.nn.matmul_precision(None):
        assert current_matmul_precision() is None
        text = (
            jax.jit(lambda a, b: einsum("ij,jk->ik", a, b))
            .lower(jnp.ones((2, 3)), jnp.ones((3, 2)))
            .as_text()
        )
        assert "HIGHEST" not in text
    assert current_matmul_precision() == "float32"
    monkeypatch.setattr(jax, "default_backend", lambda: "cpu")
    assert _cpu_defaults()["attention"] == "blocked"


def test_a_tune_result_becomes_a_table_with_its_provenance():
    table = _gpu_defaults.defaults_from_tune(_fake_tune(best=120, precision="bf16"), "r.json")
    assert table["source"] == "r.json" and "NVIDIA H200" in table["measured"]
    # The largest R tried won: all runs of a device in one program; bf16 is never adopted.
    assert table["defaults"] == {"attention": "pallas", "matmul_precision": None, "generation_unroll": 4,
                                 "seed_group_size": None}  # fmt: skip
    with pytest.raises(ValueError, match="measured on backend 'cpu', not a GPU"):
        _gpu_defaults.defaults_from_tune(_fake_tune(backend="cpu"), "cpu.json")

"""A sweep packs the BPO cells that can share one program (an entropy sweep) and still writes one
ordinary run directory per cell: the same results, metrics and resume behaviour as cell by cell."""

import json

import numpy as np
import pytest

import awmkit
from awmkit.experiments import Cell, run_sweep

H = 20
BASE = {"steps": 6 * H, "warmup_steps": H, "dynamics_batch_size": 4, "policy_batch_size": 4,
        "policy_lr": 1e-3, "eval_interval": 2 * H, "eval_episodes": 2, "chunk_size": 2}  # fmt: skip


def _evals(run_dir):
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [(r["seed"], r["env_steps"], r["eval_return"]) for r in rows if "eval_return" in r]


@pytest.mark.slow  # two sweeps of two cells (~40 s of CPU); tests/test_bpo_packed.py keeps the packing itself in the default suite
def test_sweep_packs_an_entropy_sweep_with_one_run_directory_per_cell(tmp_path, monkeypatch):
    cells = [
        Cell(
            name=f"ent{a}",
            kind="bpo",
            env="cancer_treatment",
            horizon=H,
            seeds=2,
            model="simulator",
            config={**BASE, "entropy_coef": a},
        )  # fmt: skip
        for a in (0.1, 0.001)
    ]
    calls = []
    original = awmkit.bpo.train_packed

    def spy(*args, **kwargs):
        calls.append(len(args[1]))
        return original(*args, **kwargs)

    monkeypatch.setattr(awmkit.bpo, "train_packed", spy)
    packed = run_sweep(cells, tmp_path / "packed", progress=False)
    assert calls == [2]  # one program for both cells
    alone = run_sweep(cells, tmp_path / "alone", progress=False, pack=False)
    assert calls == [2]
    for cell in cells:
        a, b = packed[cell.name], alone[cell.name]
        assert a.status == b.status == "done" and a.attempts == 1
        assert a.result["final_return"] == b.result["final_return"]
        assert _evals(a.run_dir) == _evals(b.run_dir)
        config = json.loads((a.run_dir / "config.json").read_text())
        assert config["entropy_coef"] == cell.config["entropy_coef"]
    assert not np.array_equal(
        packed["ent0.1"].result["final_return"], packed["ent0.001"].result["final_return"]
    )
    # Resuming the finished sweep trains nothing and keeps every result.
    again = run_sweep(cells, tmp_path / "packed", progress=False, resume=True)
    assert calls == [2] and [o.result for o in again.outcomes] == [o.result for o in packed.outcomes]

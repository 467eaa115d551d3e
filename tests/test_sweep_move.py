"""A sweep directory moved (or copied to another machine) resumes at its new path to exactly the
results of an uninterrupted sweep: nothing in it depends on where it was written."""

import json
import shutil

import pytest
from sweep_kinds import tiny_cell

from awmkit.experiments import run_sweep
from awmkit.runs import RunDir


@pytest.mark.slow  # three sweeps of two tiny BPO cells: ~25 s idle, over a minute on a loaded machine
def test_a_moved_sweep_directory_resumes_there_to_the_same_result(tmp_path, monkeypatch):
    cells = [tiny_cell("first", key=0), tiny_cell("second", key=1)]
    whole = run_sweep(cells, tmp_path / "whole", progress=False)

    original = RunDir.write_checkpoint

    def interrupted(self, header, state):  # stop each cell after its first chunk's checkpoint
        if header["chunk"] >= 2:
            raise RuntimeError("interrupted")
        original(self, header, state)

    monkeypatch.setattr(RunDir, "write_checkpoint", interrupted)
    cut = run_sweep(cells, tmp_path / "here", progress=False)
    assert [o.status for o in cut.outcomes] == ["failed", "failed"]
    monkeypatch.setattr(RunDir, "write_checkpoint", original)

    moved = tmp_path / "elsewhere" / "sweep"
    moved.parent.mkdir()
    shutil.move(tmp_path / "here", moved)
    resumed = run_sweep(cells, moved, resume=True, progress=False)
    assert not (tmp_path / "here").exists()
    for a, b in zip(whole.outcomes, resumed.outcomes):
        assert a.status == b.status == "done"
        assert a.result["final_return"] == b.result["final_return"]
        name = a.cell.name
        mine = (moved / "cells" / name / "metrics.jsonl").read_text().splitlines()
        assert mine == (tmp_path / "whole" / "cells" / name / "metrics.jsonl").read_text().splitlines()
        assert (
            json.loads((moved / "cells" / name / "result.json").read_text())["final_return"]
            == a.result["final_return"]
        )

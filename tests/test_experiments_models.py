"""More trained models per offline cell: the `seeds` override of a figure's grid, the claims that
aggregate over the models (intervals over models and starts), and the report that records how many."""

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest

from awmkit.experiments import CellRecord, figures, write_report
from awmkit.experiments._figures._evidence import clustered_mean


def test_seeds_override_changes_the_number_of_models_and_nothing_else():
    spec = figures()["figure3c"]
    base, three = spec.cells("paper"), spec.cells("paper", seeds=3)
    assert [c.seeds for c in base] == [1, 1, 1] and [c.seeds for c in three] == [3, 3, 3]
    assert [dataclasses.replace(c, seeds=1) for c in three] == base  # the budget's meaning is kept
    for bad in (0, -2, True):
        with pytest.raises(ValueError, match="`seeds` must be a positive integer or None, got"):
            spec.cells("paper", seeds=bad)


def test_clustered_mean_carries_the_spread_between_models():
    rng = np.random.default_rng(0)
    one = clustered_mean([rng.normal(0.5, 0.1, 64)], n_resamples=500)
    assert one["models"] == 1 and one["low"] < one["mean"] < one["high"]
    assert one["high"] - one["low"] < 0.06  # the bootstrap over 64 starts: about 4 standard errors wide
    # three models that disagree: the pooled mean is the same kind of number, the interval much wider
    groups = [rng.normal(m, 0.1, 64) for m in (0.3, 0.6, 0.9)]
    many = clustered_mean(groups, n_resamples=500)
    assert many["per_model"] == pytest.approx([0.3, 0.6, 0.9], abs=0.04)
    assert many["mean"] == pytest.approx(0.6, abs=0.03)
    assert many["high"] - many["low"] > 0.3
    with pytest.raises(ValueError, match="`groups` must hold at least one non-empty group"):
        clustered_mean([])


def _bounce_records(spec, awm_reached: list[float], truth=None) -> list[CellRecord]:
    """Figure 3c's cells with one trained model per entry of ``awm_reached`` (each ascent of that AWM
    ends at that fraction of the true range, or at the given fractions per start); the other models end
    at the true minimum."""
    grid = np.linspace(-1, 1, 11)
    truth = -np.abs(grid - 0.5) if truth is None else truth
    lo, hi = truth.min(), truth.max()
    records = []
    for cell in spec.cells("paper", seeds=len(awm_reached)):
        ends = awm_reached if cell.method == "awm-transformer" else [0.0] * len(awm_reached)
        landscape = truth if cell.method == "awm-transformer" else np.zeros_like(grid)
        result = {
            "final_return": [],
            "grid": grid.tolist(),
            "simulator": truth.tolist(),
            "landscapes": [landscape.tolist()] * len(awm_reached),
            "ascent": [
                {
                    "optimiser": "adam",
                    "learning_rate": 0.01,
                    "steps": 200,
                    "starts": np.linspace(-1, 1, 8).tolist(),
                    "true_return": (lo + np.broadcast_to(f, (8,)) * (hi - lo)).tolist(),
                }
                for f in ends
            ],
        }
        records.append(CellRecord(cell, "done", result))
    return records


def test_navigability_is_decided_over_models():
    spec = figures()["figure3c"]
    claim = next(c for c in spec.claims if c.id == "awm-optimisable")
    agree = claim.evaluate(spec.data(_bounce_records(spec, [0.95, 0.96, 0.97]), n_resamples=300))
    assert agree.holds is True and "3 trained model(s)" in agree.why and "decided" in agree.why
    assert agree.ours["reached"]["awm-transformer"]["per_model_mean"] == pytest.approx([0.95, 0.96, 0.97])
    # two good models and a poor one: the mean is below the bar, and the models' spread leaves it open
    split = claim.evaluate(spec.data(_bounce_records(spec, [0.95, 0.95, 0.5]), n_resamples=300))
    gap = split.ours["reached_minus_ceiling"]["awm-transformer"]
    assert split.holds is False and gap["low"] < -0.1 < gap["high"] and "undecided" in split.why


def test_bounce_bar_is_relative_to_ascent_on_the_truth():
    """A true landscape with a local maximum at a = -1 (the one-bounce task's shape): ascent on the truth
    from the starts left of -0.5 ends there, at half the range; a model that does as well passes though
    its mean is far below 0.9 of the range, and one that ends at the minimum from those starts fails."""
    spec = figures()["figure3c"]
    claim = next(c for c in spec.claims if c.id == "awm-optimisable")
    grid, starts = np.linspace(-1, 1, 11), np.linspace(-1, 1, 8)
    truth = np.where(grid < -0.5, -1 - 2 * (grid + 1), np.where(grid < 0.5, 2 * grid - 1, -2 * (grid - 0.5)))
    ceiling = np.where(starts < -0.5, 0.5, 1.0)
    as_truth = claim.evaluate(spec.data(_bounce_records(spec, [ceiling] * 2, truth), n_resamples=300))
    assert as_truth.ours["ceiling_mean"] == pytest.approx(ceiling.mean()) and ceiling.mean() < 0.9
    assert as_truth.holds is True
    stuck = np.where(starts < -0.5, 0.0, 1.0)
    worse = claim.evaluate(spec.data(_bounce_records(spec, [stuck] * 2, truth), n_resamples=300))
    assert worse.holds is False


def test_report_records_the_models_per_cell(tmp_path):
    spec = figures()["figure3c"]
    write_report(spec, "paper", _bounce_records(spec, [0.95, 0.9, 0.97]), tmp_path, seeds_override=3)
    script = (
        "import json, sys, pathlib; d = pathlib.Path(sys.argv[1]); r = json.loads((d / 'report.json').read_text()); "
        "print(json.dumps(r['seeds'])); print((d / 'report.md').read_text())"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, check=True
    )
    first, md = out.stdout.split("\n", 1)
    assert json.loads(first) == {"per_cell": [3], "override": 3}
    assert "trained models) per cell: 3, set with `seeds=3` in place of the budget's" in md

"""Results at a glance: ``awmkit reproduce --list --results DIR`` and the docs share one tally of the
committed reports; a claim's reason is shown as prose, never as a Python literal."""

import json
import pathlib
import shutil

import pytest

from awmkit.cli import main
from awmkit.experiments._glance import collect_reports, plain_text, tally

RESULTS = pathlib.Path(__file__).resolve().parent.parent / "docs" / "results"


def test_cli_tallies_the_committed_reports(capsys):
    summaries = collect_reports(RESULTS)
    totals = tally(summaries)["small"]
    assert main(["reproduce", "--list", "--results", str(RESULTS)]) == 0
    out = capsys.readouterr().out
    assert (
        f"small: {totals['PASS']} PASS / {totals['FAIL']} FAIL / {totals['N/A']} N/A over 11 figures" in out
    )
    for s in summaries:
        assert s.figure in out
    assert main(["reproduce", "--list", "--results", str(RESULTS), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["tally"]["small"] == totals and len(data["reports"]) == len(summaries)
    assert len({s.figure for s in summaries}) == 11
    per_claim = sum(len(json.loads(p.read_text())["claims"]) for p in RESULTS.glob("*/small/report.json"))
    assert totals["PASS"] + totals["FAIL"] + totals["N/A"] == per_claim


def test_one_figures_out_directory_and_errors(tmp_path, capsys):
    shutil.copytree(RESULTS / "figure2" / "small", tmp_path / "fig2")
    (s,) = collect_reports(tmp_path / "fig2")
    assert (s.figure, s.budget, s.passed + s.failed) == ("figure2", "small", 2)
    assert main(["reproduce", "--list", "--results", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err
    assert "does not exist or is not a directory" in err and len(err.strip().splitlines()) == 1
    assert main(["reproduce", "--results", str(RESULTS)]) == 2
    assert "it goes with --list" in capsys.readouterr().err
    (tmp_path / "bad" / "figure2").mkdir(parents=True)
    (tmp_path / "bad" / "figure2" / "report.json").write_text("{}")
    with pytest.raises(ValueError, match="not a readable awmkit report"):
        collect_reports(tmp_path / "bad")


@pytest.mark.parametrize(
    "text, prose",
    [
        ("all but ['cancer_treatment']", "all but cancer_treatment"),
        ("against ['markovian', 'awm-rnn']", "against markovian, awm-rnn"),
        ("at every H in [20, 50]", "at every H in 20, 50"),
        ("IQM 0.959 [0.944, 0.971]", "IQM 0.959 [0.944, 0.971]"),
        ("{'a': 1, 'b': 'x'}", "a: 1, b: x"),
        ("[not a literal", "[not a literal"),
    ],
)
def test_plain_text(text, prose):
    assert plain_text(text) == prose

"""`awmkit reproduce`: the list of figures, bad input, one figure's smoke budget end to end through the
command line with its report read back, a resumed run, and (slow) every figure's smoke budget."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from awmkit.cli import main
from awmkit.experiments import BUDGETS, REPORT_KEYS, figures, reproduce

FIGURES = [
    "figure2",
    "figure3c",
    "figure4b",
    "figure4c",
    "figure5a",
    "figure5b",
    "figure6",
    "figure7",
    "figure8",
    "figure9",
    "figure10",
]
CLAIM_KEYS = {"id", "claim", "paper", "ours", "holds", "why"}


def _cli(*args, timeout=900):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-m", "awmkit", "reproduce", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def test_list_names_the_eleven_figures(capsys):
    assert main(["reproduce", "--list", "--json"]) == 0
    items = json.loads(capsys.readouterr().out)
    assert [i["name"] for i in items] == FIGURES
    for item in items:
        assert set(item["cells"]) == set(BUDGETS) and item["claims"]
        assert item["cells"]["smoke"] <= item["cells"]["small"] <= item["cells"]["paper"]
    assert main(["reproduce", "--list"]) == 0
    text = capsys.readouterr().out
    assert all(name in text for name in FIGURES)


@pytest.mark.parametrize(
    "args,message",
    [
        (["figure99", "--out", "x"], "unknown figure 'figure99'; valid figures are: figure2"),
        (["figure2", "--budget", "huge", "--out", "x"], "--budget must be one of smoke, small, medium, paper"),
        (["figure2"], "--out DIR is required"),
        ([], "NAME is required"),
        (["figure2", "--out", "x", "--address", "1.2.3.4:6379"], "--address joins a Ray cluster"),
        (["figure2", "--out", "x", "--backend", "slurm"], "--backend must be local or ray"),
        (["figure3c", "--budget", "paper", "--seeds", "0", "--out", "x"], "--seeds must be a positive integer"),
    ],
)
def test_bad_input_is_one_line_before_any_work(tmp_path, capsys, args, message):
    os.chdir(tmp_path)
    assert main(["reproduce", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("awmkit reproduce: error:") and message in err and "\n" not in err
    assert not (tmp_path / "x").exists()


def test_paper_budgets_are_the_papers():
    specs = figures()
    fig5a = specs["figure5a"].cells("paper")
    assert {c.env for c in fig5a} == {
        "cancer_treatment",
        "bioreactor",
        "mould_fungicide",
        "bacteria",
        "harvest",
        "invasive_plant",
        "hiv_treatment",
        "timber_harvest",
    }
    assert {c.horizon for c in fig5a} == {20, 50, 100, 200, 500}
    assert {c.seeds for c in fig5a} == {10} and {c.config["steps"] for c in fig5a} == {200_000}
    assert {c.config["entropy_coef"] for c in fig5a} == {0.1, 0.01, 0.001}
    fig2 = specs["figure2"].cells("paper")
    assert {c.horizon for c in fig2} == {5, 10, 20, 50, 100} and {c.config["steps"] for c in fig2} == {
        100_000
    }
    assert {c.config["policy_lr"] for c in fig2} == {1e-2, 1e-3, 1e-4, 1e-5}
    sac = [c for c in specs["figure7"].cells("paper") if c.kind == "sac"]
    assert len({(c.config["critic_lr"], c.config["entropy_coef"]) for c in sac}) == 9
    fig4b = specs["figure4b"].cells("paper")
    assert {c.config["transitions"] for c in fig4b} == {100_000} and {c.config["samples"] for c in fig4b} == {
        50
    }


def test_figures_that_share_runs_have_equal_cells():
    specs = figures()
    for spec in specs.values():
        for other in spec.shares:
            for budget in BUDGETS:
                mine = {c.name: c for c in spec.cells(budget)}
                theirs = {c.name: c for c in specs[other].cells(budget)}
                shared = set(mine) & set(theirs)
                assert shared, (spec.name, other, budget)
                assert all(mine[n] == theirs[n] for n in shared), (spec.name, other, budget)


def _check_report(out, figure, budget):
    report = json.loads((out / "report.json").read_text())
    assert set(REPORT_KEYS) <= set(report)
    assert report["figure"] == figure and report["budget"] == budget
    assert len(report["claims"]) == len(figures()[figure].claims)
    for claim in report["claims"]:
        assert set(claim) == CLAIM_KEYS and {"quote", "section"} <= set(claim["paper"]) <= {
            "quote",
            "section",
            "review",
        }
        assert claim["holds"] in (True, False, None)
    assert (out / "report.md").read_text().startswith(f"# {figure}:")
    for png in report["figures"]:
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    return report


def test_smoke_run_through_the_cli_writes_a_report_and_resumes(tmp_path, capsys):
    # figure3c's smoke budget is the cheapest grid: three tiny offline models on the one-bounce task.
    # The first run is a separate process; this one reads what it wrote and resumes it.
    out = tmp_path / "fig3c"
    done = _cli("figure3c", "--budget", "smoke", "--out", str(out))
    assert done.returncode == 0, done.stderr
    first = _check_report(out, "figure3c", "smoke")
    assert first["cells"] == {"total": 3, "done": 3, "failed": 0, "reused": 0}
    assert "PASS" in done.stdout or "FAIL" in done.stdout
    # Lose one cell (as if the run had been cut before it), resume: only that cell runs again.
    shutil.rmtree(out / "cells" / "one_bounce-H5-markovian")
    assert main(["reproduce", "figure3c", "--budget", "smoke", "--out", str(out), "--resume", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    second = _check_report(out, "figure3c", "smoke")
    assert printed == second
    assert second["cells"] == {"total": 3, "done": 3, "failed": 0, "reused": 2}
    assert [c["ours"] for c in second["claims"]] == [c["ours"] for c in first["claims"]]
    # Without --resume an existing sweep is refused.
    assert main(["reproduce", "figure3c", "--budget", "smoke", "--out", str(out)]) == 2
    assert "resume" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("figure", FIGURES)
def test_every_smoke_budget_runs(tmp_path, figure):
    report = reproduce(figure, budget="smoke", out=tmp_path, progress=False)
    data = _check_report(tmp_path, figure, "smoke")
    assert data["cells"]["failed"] == 0, data["failed_cells"]
    assert data["figures"], data.get("plot_error")
    assert report.data == data


def _gen_reproducing():
    import importlib
    import pathlib

    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "docs"))
    return importlib.import_module("gen_reproducing")


def test_docs_page_shows_the_committed_reports(tmp_path):
    gen = _gen_reproducing()
    empty = gen.render(tmp_path)
    assert "No committed `small` report yet" in empty and "figure10" in empty
    for path in sorted(gen.RESULTS.glob("*/small/report.json")):
        report = json.loads(path.read_text())
        section = gen.figure_sections().split(f"### {report['figure']}\n")[1].split("\n### ")[0]
        for claim in report["claims"]:
            status = {True: "PASS", False: "FAIL", None: "N/A"}[claim["holds"]]
            assert f"| {gen.badge(status)} | {claim['claim']}" in section.replace("\\|", "|")
        for png in report["figures"]:
            assert (path.parent / png).exists()
        nav = (path.parents[4] / "mkdocs.yml").read_text()
        assert f"results/{report['figure']}/small/report.md" in nav


@pytest.mark.slow
def test_reproduce_estimate_predicts_every_bpo_cell_and_runs_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["reproduce", "figure8", "--budget", "smoke", "--estimate", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["figure"] == "figure8" and data["not_estimated"] == []
    assert len(data["cells"]) >= 2 and all(c["seconds"] > 0 for c in data["cells"])
    assert data["seconds"] == pytest.approx(sum(c["seconds"] for c in data["cells"]))
    assert not any(tmp_path.iterdir())


def test_grid_estimate_times_each_costly_cell_once(monkeypatch):
    """A sweep over cost-neutral fields (entropy coefficient) and the same cell on another system reuse
    one timed estimate; a change of horizon or of a cost-relevant field (batch size) is timed apart;
    other kinds are listed as not estimated. `estimate_run` is replaced by a recorder, so nothing compiles."""
    import awmkit.bpo
    from awmkit.experiments import Cell
    from awmkit.experiments._estimate import estimate_grid

    calls = []

    class Fake:
        def __init__(self, seconds):
            self.seconds, self.compile_s = seconds, 1.0

    def fake(env, model, config, *, seeds, key, repeats, settings=1):
        calls.append((env.name if hasattr(env, "name") else env.horizon, env.horizon, config, settings))
        return Fake(settings * (10.0 * env.horizon + config.policy_batch_size))

    monkeypatch.setattr(awmkit.bpo, "estimate_run", fake)

    def bpo(name, env, h, **config):
        base = {"steps": 400, "warmup_steps": 40, "eval_interval": 100}
        return Cell(
            name=name, kind="bpo", env=env, horizon=h, seeds=2, model="markovian", config={**base, **config}
        )

    cells = [
        bpo("a", "cancer_treatment", 20, entropy_coef=0.1),
        bpo("b", "cancer_treatment", 20, entropy_coef=0.01, policy_lr=1e-3),
        bpo("c", "hiv_treatment", 20, entropy_coef=0.1),
        bpo("d", "cancer_treatment", 40),
        bpo("e", "cancer_treatment", 20, policy_batch_size=8),
        Cell(
            name="f",
            kind="sac",
            env="cancer_treatment",
            horizon=20,
            seeds=1,
            config={"steps": 400, "warmup_steps": 40},
        ),
    ]
    grid = estimate_grid(cells, repeats=1, pack=False)
    assert len(calls) == grid.timed == 3
    by = {c["name"]: c for c in grid.cells}
    assert by["a"]["seconds"] == by["b"]["seconds"] == by["c"]["seconds"] == 216.0
    assert by["b"]["estimated_from"] == by["c"]["estimated_from"] == "a"
    assert by["d"]["seconds"] == 416.0 and by["e"]["seconds"] == 208.0
    assert by["f"]["seconds"] is None and grid.not_estimated == ("f",)
    assert grid.seconds == pytest.approx(3 * 216 + 416 + 208) and grid.compile_s == pytest.approx(5.0)

    # Packed (the default): a and b (one system, horizon and model; only per-run fields differ) are one
    # program of 2 settings, timed as such, each cell a half share; c (another system) runs alone.
    calls.clear()
    grid = estimate_grid(cells, repeats=1)
    assert grid.programs == 4 and grid.timed == 4 and sorted(c[3] for c in calls) == [1, 1, 1, 2]
    by = {c["name"]: c for c in grid.cells}
    assert by["a"]["program"] == by["b"]["program"] == "a" and by["a"]["packed"] == 2
    assert by["a"]["seconds"] == by["b"]["seconds"] == 216.0 and by["c"]["packed"] == 1
    assert grid.seconds == pytest.approx(2 * 216 + 216 + 416 + 208) and grid.compile_s == pytest.approx(4.0)


def test_reproduce_figure5a_paper_estimate_packs_the_entropy_sweep(capsys, monkeypatch):
    """``awmkit reproduce figure5a --budget paper --estimate`` costs each entropy sweep (3 cells, one
    system, model and horizon) as one packed program and says so; `estimate_run` is a recorder here."""
    import awmkit.bpo

    seen = []

    class Fake:
        seconds, compile_s = 600.0, 1.0

    def fake(env, model, config, *, seeds, key, repeats, settings=1):
        seen.append(settings)
        return Fake()

    monkeypatch.setattr(awmkit.bpo, "estimate_run", fake)
    assert main(["reproduce", "figure5a", "--budget", "paper", "--estimate"]) == 0
    out = capsys.readouterr().out
    assert seen and set(seen) == {3}  # every timed program is an entropy sweep of 3 settings
    assert "480 BPO cells packed into 160 programs" in out
    assert "cancer_treatment-H20-awm-transformer-ent0.1 x 3" in out

"""The "Reproducing the paper" page's results section, from the committed reports
``docs/results/<figure>/<budget>/report.json`` (written by ``awmkit reproduce``).

``docs/hooks.py`` replaces the marker ``<!-- awmkit:glance -->`` with :func:`glance` (the tally per
budget, a thumbnail per figure linking to its report, PASS / FAIL / N/A badges, the times) and
``<!-- awmkit:reproducing -->`` with :func:`render` (the claims and figures in full) at ``mkdocs build`` time, so the page always shows the committed results and nothing is typed by hand. Run
``python docs/gen_reproducing.py`` to print the generated Markdown.
"""

import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
RESULTS = ROOT / "docs" / "results"
_STATUS = {True: "PASS", False: "FAIL", None: "N/A"}


_BADGE = {"PASS": "awm-pass", "FAIL": "awm-fail", "N/A": "awm-na"}


def badge(status: str) -> str:
    """A coloured PASS / FAIL / N/A badge (styled by ``docs/stylesheets/awmkit.css``)."""
    return f'<span class="awm-badge {_BADGE[status]}">{status}</span>'


def _esc(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def plain_text(text: str) -> str:
    from awmkit.experiments._glance import plain_text

    return plain_text(text)


def _figures():
    sys.path.insert(0, str(ROOT))
    from awmkit.experiments import BUDGETS, figures

    return BUDGETS, figures()


def budgets_table() -> str:
    """Cells and seed-runs of every figure at every budget, from the specs."""
    budgets, specs = _figures()
    lines = [
        "| figure | paper | " + " | ".join(f"{b} cells (runs)" for b in budgets) + " |",
        "|---|---|" + "---|" * len(budgets),
    ]
    for spec in specs.values():
        counts = []
        for b in budgets:
            cells = spec.cells(b)
            counts.append(f"{len(cells)} ({sum(c.seeds for c in cells)})")
        lines.append(f"| {spec.name} | {_esc(spec.paper)} | " + " | ".join(counts) + " |")
    return "\n".join(lines)


def _load(results: pathlib.Path, name: str, budget: str):
    path = results / name / budget / "report.json"
    return json.loads(path.read_text()) if path.exists() else None


def summary_table(results: pathlib.Path = RESULTS, budget: str = "small") -> str:
    """One row per claim of every figure: PASS / FAIL / N/A as the committed report has it."""
    _, specs = _figures()
    lines = [
        "| figure | claim | result | run time | load average |",
        "|---|---|---|---|---|",
    ]
    for spec in specs.values():
        report = _load(results, spec.name, budget)
        if report is None:
            lines.append(f"| [{spec.name}](#{spec.name}) | (no committed report) | - | - | - |")
            continue
        loads = report.get("load_average") or {}
        load = loads.get("start") or loads.get("at_report")
        wall = report.get("wall_time_s")
        reused = report["cells"].get("reused", 0)
        own = f"cells' own {report['cells_wall_time_s'] / 60:.1f} min" + (
            f" ({reused} reused)" if reused else ""
        )
        time_text = own if wall is None else f"wall {wall / 60:.1f} min; {own}"
        for c in report["claims"]:
            lines.append(
                f"| [{spec.name}](#{spec.name}) | {_esc(c['claim'])} | {badge(_STATUS[c['holds']])} | "
                f"{time_text} | {'-' if not load else f'{load[0]:.1f}'} |"
            )
    return "\n".join(lines)


def figure_sections(results: pathlib.Path = RESULTS, budget: str = "small") -> str:
    """Per figure: the paper's caption, our figure, and every claim beside the paper's sentence."""
    _, specs = _figures()
    parts = []
    for spec in specs.values():
        report = _load(results, spec.name, budget)
        parts += [
            f"### {spec.name}",
            "",
            f"**{_esc(spec.title)}** ({spec.paper}).",
            "",
            f"> {spec.caption}",
            "",
        ]
        if report is None:
            parts += [
                f"*No committed `{budget}` report yet: run `awmkit reproduce {spec.name} --budget {budget} "
                f"--out DIR`.*",
                "",
            ]
            continue
        parts += [f"**What `{budget}` cuts.** {report['budget_note']}", ""]
        for png in report["figures"]:
            parts += [f"![{spec.name}](results/{spec.name}/{budget}/{png})", ""]
        parts += ["| result | our claim | the paper | ours |", "|---|---|---|---|"]
        for c in report["claims"]:
            paper = f'"{c["paper"]["quote"]}" ({c["paper"]["section"]})'
            parts.append(
                f"| {badge(_STATUS[c['holds']])} | {_esc(c['claim'])} | {_esc(paper)} | {_esc(plain_text(c['why']))} |"
            )
        cells = report["cells"]
        loads = report.get("load_average") or {}
        load = loads.get("start") or loads.get("at_report")
        parts += [
            "",
            f"{cells['done']} of {cells['total']} cells finished"
            + (
                f" ({cells['reused']} reused from figures sharing the same runs)"
                if cells.get("reused")
                else ""
            )
            + f", {cells['failed']} failed"
            + (
                f"; wall time {report['wall_time_s'] / 60:.1f} min"
                if report.get("wall_time_s") is not None
                else ""
            )
            + f", the cells' own run times {report['cells_wall_time_s'] / 60:.1f} min"
            + (f", load average {load[0]:.1f} at the start on {report['cpu_count']} CPUs" if load else "")
            + f". [Full report](results/{spec.name}/{budget}/report.md).",
            "",
        ]
        for f in report["failed_cells"]:
            parts.append(f"- failed cell `{f['name']}`: {_esc(f['error'])}")
        if report["failed_cells"]:
            parts.append("")
    return "\n".join(parts)


def glance(results: pathlib.Path = RESULTS) -> str:
    """The first screen of the page: the tally per budget, then one card per figure (thumbnail linking to
    the report, its badges, cells and times), from the same code as ``awmkit reproduce --list --results``."""
    from awmkit.experiments import BUDGETS
    from awmkit.experiments._glance import collect_reports, fmt_minutes, tally

    summaries = collect_reports(results)
    totals = tally(summaries)
    lines = ['<div class="awm-tally" markdown>', ""]
    for b in BUDGETS:
        t = totals.get(b)
        if t is None:
            why = (
                "needs a cluster (`--backend ray`)"
                if b == "paper"
                else "not committed (minutes; run it yourself)"
            )
            lines.append(f"- **`{b}`**: {why}")
            continue
        lines.append(
            f"- **`{b}`**: {badge('PASS')} **{t['PASS']}** &nbsp; {badge('FAIL')} **{t['FAIL']}** &nbsp; "
            f"{badge('N/A')} **{t['N/A']}** claims over {t['figures']} figures"
        )
    lines += ["", "</div>", "", '<div class="awm-cards" markdown>', ""]
    for s in summaries:
        rel = f"results/{s.figure}/{s.budget}"
        thumb = (
            f"[![{s.figure}]({rel}/{s.figures[0]}){{ .off-glb loading=lazy }}]({rel}/report.md)"
            if s.figures
            else ""
        )
        badges = " ".join(badge(st) for st, _ in s.claims)
        wall = "" if s.wall_time_s is None else f"wall {fmt_minutes(s.wall_time_s)}, "
        lines += [
            '<div class="awm-card" markdown>',
            "",
            thumb,
            "",
            f"[**{s.figure}**]({rel}/report.md) `{s.budget}` {badges}",
            f"<br><small>{s.cells_done}/{s.cells_total} cells, {wall}cells' time {fmt_minutes(s.cells_time_s)}"
            "</small>",
            "",
            "</div>",
            "",
        ]
    lines += ["</div>", ""]
    return "\n".join(lines)


def render(results: pathlib.Path = RESULTS) -> str:
    return "\n\n".join(
        [
            "## Cells per budget",
            budgets_table(),
            "## Claims at the small budget",
            summary_table(results),
            "## Figures",
            figure_sections(results),
        ]
    )


if __name__ == "__main__":
    print(render())

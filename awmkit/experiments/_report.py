"""`reproduce`: one figure of the paper from its spec, through the sweep runner, to ``report.md``,
``report.json`` and the figure's PNGs."""

import dataclasses
import datetime
import json
import os
import pathlib
import time
from collections.abc import Sequence
from typing import Any

from .._version import __version__
from ._aggregate import CellRecord, FigureData, NotEvaluable
from ._cell import LoggerSpec
from ._claims import ClaimResult
from ._figures import BUDGETS, FigureSpec, get_figure
from ._glance import plain_text
from ._sweep import run_sweep

#: The format version of ``report.json``.
REPORT_FORMAT = "awmkit-report-v1"
#: Keys every ``report.json`` holds.
REPORT_KEYS = (
    "format",
    "figure",
    "title",
    "paper",
    "caption",
    "budget",
    "budget_note",
    "profile",
    "awmkit_version",
    "created",
    "cells",
    "failed_cells",
    "claims",
    "summary",
    "aggregates",
    "figures",
    "wall_time_s",
    "cells_wall_time_s",
    "load_average",
    "cpu_count",
)


@dataclasses.dataclass(frozen=True)
class Report:
    """What [`awmkit.experiments.reproduce`][] wrote.

    **Fields:** `figure`, `budget`, `out` (the directory), `claims` (the
    [`awmkit.experiments.ClaimResult`][]s), `data` (the ``report.json`` dict), `paths` (the files
    written: ``report.md``, ``report.json``, the PNGs)."""

    figure: str
    budget: str
    out: pathlib.Path
    claims: tuple[ClaimResult, ...]
    data: dict[str, Any]
    paths: tuple[pathlib.Path, ...]


def reproduce(
    name: str,
    *,
    budget: str = "small",
    out: str | os.PathLike,
    backend: str = "local",
    address: str | None = None,
    resume: bool = False,
    max_retries: int = 2,
    progress: bool = True,
    profile: str = "awmkit",
    loggers: Sequence[LoggerSpec] = (),
    seeds: int | None = None,
) -> Report:
    """Runs the grid of figure ``name`` at ``budget`` through [`awmkit.experiments.run_sweep`][] into
    ``out/cells/<cell>/`` and writes ``out/report.md``, ``out/report.json`` and the figure's PNGs.

    Cells that fail (a NaN guard, a bad config) are listed in the report with their error and do not
    stop the others; a claim that needs them is reported as not evaluable (``holds: null``).

    **Arguments:**

    - `name`: a figure ([`awmkit.experiments.figures`][]), e.g. ``"figure5a"``.
    - `budget`: ``"smoke"``, ``"small"`` or ``"paper"``.
    - `out`: the output directory.
    - `backend`, `address`, `resume`, `max_retries`, `progress`: as for ``run_sweep``; with `resume`
      the finished cells are kept and the rest continue from their checkpoints.
    - `profile`: ``"awmkit"`` (default) or ``"authors"`` (see [`awmkit.experiments.FigureSpec.cells`][]);
      the report says which.
    - `loggers`: as for ``run_sweep``: one logger run per cell (``"tensorboard"``, ``"wandb"``).
    - `seeds`: replaces every cell's number of seeds (e.g. more trained models per offline cell at the
      ``paper`` budget, whose other settings keep their meaning); the report records it.

    **Returns:** a [`awmkit.experiments.Report`][].
    """
    spec = get_figure(name)
    if budget not in BUDGETS:
        raise ValueError(f"unknown budget {budget!r}; valid budgets are: {', '.join(BUDGETS)}")
    cells = spec.cells(budget, profile, seeds)
    load_start = os.getloadavg()
    t0 = time.perf_counter()
    sweep = run_sweep(
        cells,
        out,
        backend=backend,
        address=address,
        resume=resume,
        max_retries=max_retries,
        progress=progress,
        loggers=loggers,
    )
    records = [CellRecord.from_outcome(o) for o in sweep.outcomes]
    reused = sum(1 for o in sweep.outcomes if o.status == "done" and o.attempts == 0)
    return write_report(
        spec,
        budget,
        records,
        out,
        wall_time_s=time.perf_counter() - t0,
        load_average={"start": list(load_start), "end": list(os.getloadavg())},
        reused_cells=reused,
        profile=profile,
        seeds_override=seeds,
    )


def write_report(
    spec: FigureSpec,
    budget: str,
    records: Sequence[CellRecord],
    out: str | os.PathLike,
    *,
    wall_time_s: float | None = None,
    load_average: dict | None = None,
    reused_cells: int = 0,
    profile: str = "awmkit",
    seeds_override: int | None = None,
) -> Report:
    """Evaluates the claims of ``spec`` on ``records``, draws its figure and writes ``report.md`` and
    ``report.json`` into ``out`` (used by [`awmkit.experiments.reproduce`][]; call it directly to
    report on cells run some other way). ``seeds_override``: the seeds every cell was given in place of the
    budget's (``reproduce(seeds=...)``), recorded beside the seeds the finished cells ran."""
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data = spec.data(records)
    claims = tuple(claim.evaluate(data) for claim in spec.claims)
    pngs, plot_error = [], None
    try:
        pngs = [pathlib.Path(p) for p in spec.plot(data, out)]
    except ImportError as e:  # matplotlib is an optional extra
        plot_error = str(e)
    report = {
        "format": REPORT_FORMAT,
        "figure": spec.name,
        "title": spec.title,
        "paper": spec.paper,
        "caption": spec.caption,
        "budget": budget,
        "budget_note": spec.budget_notes.get(budget, ""),
        "profile": profile,
        "awmkit_version": __version__,
        "created": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "cells": {
            "total": len(data.records),
            "done": len(data.done),
            "failed": len(data.failed),
            "reused": reused_cells,
        },
        "seeds": {
            "per_cell": sorted({r.cell.seeds for r in data.records}),
            "override": seeds_override,
        },
        "failed_cells": [{"name": r.cell.name, "error": r.error} for r in data.failed],
        "claims": [c.to_dict() for c in claims],
        "summary": {
            "holds": sum(c.holds is True for c in claims),
            "fails": sum(c.holds is False for c in claims),
            "not_evaluable": sum(c.holds is None for c in claims),
        },
        "aggregates": aggregates(data),
        "figures": [p.name for p in pngs],
        "plot_error": plot_error,
        "wall_time_s": None if wall_time_s is None else round(wall_time_s, 2),
        "cells_wall_time_s": round(sum(float(r.result.get("wall_time_s", 0.0)) for r in data.done), 2),
        "load_average": load_average,
        "cpu_count": os.cpu_count(),
    }
    json_path, md_path = out / "report.json", out / "report.md"
    text = json.dumps(report, indent=2, default=_json_default) + "\n"
    report = json.loads(text)  # what a reader of report.json sees, plain JSON types only
    _atomic_write(json_path, text)
    _atomic_write(md_path, render_markdown(report))
    return Report(spec.name, budget, out, claims, report, (md_path, json_path, *pngs))


def _json_default(obj):
    """numpy scalars and arrays in claim numbers as plain JSON."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _atomic_write(path: pathlib.Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def aggregates(data: FigureData) -> list[dict[str, Any]]:
    """Per method and horizon: IQM with its 95% stratified-bootstrap interval, mean and standard
    deviation, for the cells that report final returns."""
    rows = []
    for method in data.methods():
        for h in data.horizons(method):
            try:
                cells = data.cells(method, h)
                if not any(len(r.result.get("final_return", [])) for r in cells):
                    continue
                est = data.interval(method, h)
                mean, std = data.mean_std(method, h)
            except NotEvaluable:
                continue
            rows.append(
                {
                    "method": method,
                    "horizon": h,
                    "iqm": round(est.estimate, 4),
                    "low": round(est.low, 4),
                    "high": round(est.high, 4),
                    "mean": round(mean, 4),
                    "std": round(std, 4),
                    "runs": est.scores,
                    "tasks": est.tasks,
                    "score": data.score,
                    **({"setting": json.loads(data.selected_variant(method, h))} if data.selection else {}),
                }
            )
    return rows


def _md_escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _partial_banner(report: dict[str, Any]) -> list[str]:
    """A partial grid says so before its claims: how many cells finished and which did not."""
    cells = report["cells"]
    if not cells["failed"]:
        return []
    missing = ", ".join(f"`{f['name']}`" for f in report["failed_cells"])
    return [
        f"**Partial result: {cells['done']} of {cells['total']} cells finished.** Not finished or failed: "
        f"{missing}. Each claim is decided on the finished cells only (e.g. at the longest horizon every "
        "method it compares has finished), or N/A when they cannot decide it.",
        "",
    ]


def render_markdown(report: dict[str, Any]) -> str:
    """``report.md`` from a ``report.json`` dict."""
    lines = [
        f"# {report['figure']}: {report['title']}",
        "",
        f"Paper: {report['paper']}. Budget: `{report['budget']}`. Profile: `{report.get('profile', 'awmkit')}`"
        + (" (the authors' settings and double pendulum)." if report.get("profile") == "authors" else "."),
        "",
        f"> {report['caption']}",
        "",
        *_partial_banner(report),
        "## Claims",
        "",
        "| | claim | paper | ours |",
        "|---|---|---|---|",
    ]
    for c in report["claims"]:
        status = {True: "PASS", False: "FAIL", None: "N/A"}[c["holds"]]
        paper = f'"{c["paper"]["quote"]}" ({c["paper"]["section"]})'
        lines.append(
            f"| **{status}** | {_md_escape(c['claim'])} | {_md_escape(paper)} | {_md_escape(plain_text(c['why']))} |"
        )
    lines.append("")
    reviews = [(c["id"], c["paper"]["review"]) for c in report["claims"] if c["paper"].get("review")]
    if reviews:
        lines += ["**Does each check test the quoted sentence?**", ""]
        lines += [f"- `{cid}`: {_md_escape(text)}" for cid, text in reviews] + [""]
    for name in report["figures"]:
        lines += [f"![{name}]({name})", ""]
    if report.get("plot_error"):
        lines += [f"No figure: {report['plot_error']}", ""]
    lines += [f"**What the `{report['budget']}` budget cuts.** {report['budget_note']}", ""]
    if report["aggregates"]:
        score = report["aggregates"][0]["score"]
        lines += [
            f"## Final {'normalised ' if score == 'normalised' else ''}returns",
            "",
            "| method | H | IQM | 95% CI | mean ± std | runs |",
            "|---|---|---|---|---|---|",
        ]
        for a in report["aggregates"]:
            lines.append(
                f"| {a['method']} | {a['horizon']} | {a['iqm']:.4g} | [{a['low']:.4g}, {a['high']:.4g}] | "
                f"{a['mean']:.4g} ± {a['std']:.3g} | {a['runs']} |"
            )
        lines.append("")
    cells = report["cells"]
    lines += [
        "## Cells",
        "",
        f"{cells['done']} of {cells['total']} cells finished ({cells['reused']} reused from "
        "an earlier run), "
        f"{cells['failed']} failed."
        + _seeds_sentence(report.get("seeds")),
        "",
    ]
    for f in report["failed_cells"]:
        lines.append(f"- `{f['name']}` failed: {_md_escape(f['error'])}")
    if report["failed_cells"]:
        lines.append("")
    load = dict(report.get("load_average") or {})
    load.setdefault("start", load.get("at_report"))
    timing = "" if report["wall_time_s"] is None else f"Wall time {report['wall_time_s']:.0f} s; "
    cells_time = f"the cells' own run times add up to {report['cells_wall_time_s']:.0f} s; "
    lines += [
        f"{timing}{cells_time if timing else cells_time[0].upper() + cells_time[1:]}"
        f"{report['cpu_count']} CPUs; load average at start {_fmt_load(load.get('start'))}, at end "
        f"{_fmt_load(load.get('end'))}.",
        "",
    ]
    return "\n".join(lines)


def _seeds_sentence(seeds: dict | None) -> str:
    if not seeds:
        return ""
    n = ", ".join(str(x) for x in seeds["per_cell"])
    text = f" Seeds (runs, or trained models) per cell: {n}"
    if seeds.get("override") is not None:
        text += f", set with `seeds={seeds['override']}` in place of the budget's"
    return text + "."


def _fmt_load(load) -> str:
    return "n/a" if not load else ", ".join(f"{x:.2f}" for x in load)

"""Results at a glance: the reports ``awmkit reproduce`` wrote, found under one directory and tallied.

Used by ``awmkit reproduce --list --results DIR`` and by the "Reproducing the paper" page of the docs
(``docs/gen_reproducing.py``), so both show the same numbers.
"""

import ast
import dataclasses
import json
import os
import pathlib
import re

from ._figures import BUDGETS, figures


@dataclasses.dataclass(frozen=True)
class ReportSummary:
    """One figure's report at one budget, reduced to what a results overview shows.

    **Fields:** `figure`, `budget`, `path` (of ``report.json``), `passed` / `failed` / `not_evaluable`
    (claim counts), `cells_done` / `cells_total`, `wall_time_s` (the figure's own run; ``None`` when the
    report was rewritten from finished cells without timing them), `cells_time_s` (the cells' own run
    times added up, reused cells included), `figures` (the PNG file names next to the report),
    `claims` (``(status, claim id)`` pairs, status ``"PASS"``, ``"FAIL"`` or ``"N/A"``).
    """

    figure: str
    budget: str
    path: pathlib.Path
    passed: int
    failed: int
    not_evaluable: int
    cells_done: int
    cells_total: int
    wall_time_s: float | None
    cells_time_s: float
    figures: tuple[str, ...]
    claims: tuple[tuple[str, str], ...]


STATUS = {True: "PASS", False: "FAIL", None: "N/A"}


def _summary(path: pathlib.Path) -> ReportSummary:
    try:
        report = json.loads(path.read_text())
        claims = tuple((STATUS[c["holds"]], c["id"]) for c in report["claims"])
        return ReportSummary(
            figure=report["figure"],
            budget=report["budget"],
            path=path,
            passed=sum(s == "PASS" for s, _ in claims),
            failed=sum(s == "FAIL" for s, _ in claims),
            not_evaluable=sum(s == "N/A" for s, _ in claims),
            cells_done=int(report["cells"]["done"]),
            cells_total=int(report["cells"]["total"]),
            wall_time_s=report.get("wall_time_s"),
            cells_time_s=float(report.get("cells_wall_time_s") or 0.0),
            figures=tuple(report.get("figures") or ()),
            claims=claims,
        )
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path}: not a readable awmkit report ({type(e).__name__}: {e})") from None


def collect_reports(root: str | os.PathLike) -> list[ReportSummary]:
    """The reports under `root`, in the order of [`awmkit.experiments.figures`][] then of ``BUDGETS``.

    `root` may hold ``<figure>/<budget>/report.json`` (as ``docs/results``), ``<figure>/report.json``
    (one ``awmkit reproduce NAME --out ROOT/NAME`` per figure) or be one figure's ``--out`` directory
    itself. Raises ``ValueError`` if `root` is not a directory or holds no report.
    """
    root = pathlib.Path(root)
    if not root.is_dir():
        raise ValueError(f"results directory {str(root)!r} does not exist or is not a directory")
    paths = [root / "report.json"] if (root / "report.json").is_file() else []
    for name in figures():
        paths += [root / name / b / "report.json" for b in BUDGETS] + [root / name / "report.json"]
    found = [_summary(p) for p in paths if p.is_file()]
    if not found:
        raise ValueError(
            f"no report.json under {str(root)!r} (looked for FIGURE/BUDGET/report.json, FIGURE/report.json "
            "and report.json); `awmkit reproduce NAME --out DIR` writes one"
        )
    order = {name: i for i, name in enumerate(figures())}
    unique = {(s.figure, s.budget): s for s in found}
    return sorted(unique.values(), key=lambda s: (BUDGETS.index(s.budget), order.get(s.figure, 99)))


def tally(summaries: list[ReportSummary]) -> dict[str, dict[str, int]]:
    """Per budget (in ``BUDGETS`` order, only those with reports): the number of figures and of claims
    that pass, fail and cannot be decided."""
    out: dict[str, dict[str, int]] = {}
    for s in summaries:
        t = out.setdefault(s.budget, {"figures": 0, "PASS": 0, "FAIL": 0, "N/A": 0})
        t["figures"] += 1
        t["PASS"] += s.passed
        t["FAIL"] += s.failed
        t["N/A"] += s.not_evaluable
    return {b: out[b] for b in BUDGETS if b in out}


def fmt_minutes(seconds: float | None) -> str:
    """``12.3 min`` (or ``-`` for ``None``)."""
    return "-" if seconds is None else f"{seconds / 60:.1f} min"


_LITERAL = re.compile(r"\[[^\[\]]*\]|\{[^{}]*\}")


def _plain_literal(match: re.Match) -> str:
    text = match.group(0)
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items())
    if isinstance(value, list) and any(isinstance(v, float) for v in value):
        return text  # [low, high]: an interval, written as one on purpose
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return text


def plain_text(text: str) -> str:
    """`text` with Python list and dict literals written as prose: ``['a', 'b']`` -> ``a, b``,
    ``[20, 50]`` -> ``20, 50``, ``{'a': 1}`` -> ``a: 1``; lists with floats (``[0.94, 0.97]``, an
    interval) are kept. Used where a claim's reason is shown to people (report.md, the docs, the CLI)."""
    return _LITERAL.sub(_plain_literal, str(text))

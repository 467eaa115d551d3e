"""Redraws the committed figures that can be drawn from ``report.json`` alone, with the current plots.

    python docs/results/rerender_from_reports.py [--budget small]

The run directories of the committed results are not in the repository, so a figure is redrawn here only
where the report holds everything its plot reads: the final-performance interval estimates (Figures 2,
5a, 8 and 10: each method's IQM or mean and its interval, from ``aggregates``) and Figure 4b's growth
curves (each model's mean gradient norm per horizon and verdict, from its claims). Learning curves,
performance profiles and landscapes need the cells' results: ``python docs/results/run_small.py
--report-only`` (with the cells in its work directory) redraws everything.
"""

import argparse
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from awmkit.experiments import NotEvaluable  # noqa: E402
from awmkit.experiments._figures import _plots as plots  # noqa: E402


class _Estimate:
    def __init__(self, a: dict):
        self.estimate, self.low, self.high = a["iqm"], a["low"], a["high"]


class _Record:
    def __init__(self, result: dict):
        self.result = result


class ReportData:
    """The part of ``FigureData``'s interface the final-performance and growth plots read, from a report."""

    def __init__(self, report: dict):
        self.report = report
        self.aggs = {(a["method"], a["horizon"]): a for a in report["aggregates"]}
        self.score = report["aggregates"][0]["score"] if report["aggregates"] else "raw"
        self.growth = {}
        for c in report["claims"]:
            for m, v in c["ours"].items():
                if isinstance(v, dict) and "mean_norm" in v and "verdict" in v:
                    self.growth[m] = v
        self.growth_horizons = next(
            (c["ours"]["horizons"] for c in report["claims"] if "horizons" in c["ours"]), None
        )

    def methods(self) -> list[str]:
        return list(dict.fromkeys(m for m, _ in self.aggs)) or list(self.growth)

    def horizons(self) -> list[int]:
        return sorted({h for _, h in self.aggs})

    def _agg(self, m, h) -> dict:
        if (m, h) not in self.aggs:
            raise NotEvaluable(f"no aggregate for {m} at H={h}")
        return self.aggs[m, h]

    def interval(self, m, h) -> _Estimate:
        return _Estimate(self._agg(m, h))

    def mean_std(self, m, h) -> tuple[float, float]:
        a = self._agg(m, h)
        return a["mean"], a["std"]

    def cells(self, m) -> list[_Record]:
        if m not in self.growth:
            raise NotEvaluable(m)
        return [_Record({"horizons": self.growth_horizons, **self.growth[m]})]


# figure -> (file, how to draw it from a ReportData)
REDRAW = {
    "figure2": lambda d, p, t: plots.bars_by_horizon(d, p, title=t, stat="mean"),
    "figure4b": lambda d, p, t: plots.growth(d, p, title=t),
    "figure5a": lambda d, p, t: plots.bars_by_horizon(d, p, title=t),
    "figure8": lambda d, p, t: plots.bars_by_horizon(d, p, title=t),
    "figure10": lambda d, p, t: plots.bars_by_horizon(d, p, title=t),
}
TITLES = {
    "figure2": "Figure 2: BPO on the double pendulum, final return (mean ± std)",
    "figure4b": "Figure 4b: mean gradient norm of the final state w.r.t. the initial action",
    "figure5a": "Figure 5a: final performance of BPO on Myriad (IQM, 95% CI)",
    "figure8": "Figure 8: stop-gradient vs full gradient (IQM, 95% CI)",
    "figure10": "Figure 10: Online DT final performance (IQM, 95% CI)",
}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", default="small")
    args = parser.parse_args(argv)
    for name, draw in REDRAW.items():
        folder = ROOT / "docs" / "results" / name / args.budget
        report = json.loads((folder / "report.json").read_text())
        path = draw(ReportData(report), folder / f"{name}.png", TITLES[name])
        assert path.name in report["figures"], (path.name, report["figures"])
        print(f"{name}: {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

"""The paper's claims as checks over a figure's results, and the checks they share."""

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ._aggregate import FigureData, NotEvaluable, interval_dict, probability_of_improvement


@dataclasses.dataclass(frozen=True)
class Verdict:
    """What a claim's check returns: `holds` (``True``, ``False``, or ``None`` when the results cannot
    decide), `ours` (the numbers it was decided on) and `why` (one sentence)."""

    holds: bool | None
    ours: dict[str, Any]
    why: str


@dataclasses.dataclass(frozen=True)
class Claim:
    """One of the paper's claims about a figure, as a check over its results.

    **Fields:** `id` (short, unique within the figure); `claim` (the checkable statement, in our
    words); `quote` (the paper's sentence); `section` (where it is); `check` (``FigureData -> Verdict``);
    `review` (whether the check tests the quoted sentence, and why: kept, revised or partial).
    """

    id: str
    claim: str
    quote: str
    section: str
    check: Callable[[FigureData], Verdict]
    review: str = ""

    def evaluate(self, data: FigureData) -> "ClaimResult":
        """Runs the check; missing results ([`awmkit.experiments.NotEvaluable`][]) give ``holds=None``
        with the reason."""
        try:
            verdict = self.check(data)
        except NotEvaluable as e:
            verdict = Verdict(None, {}, f"not evaluable: {e}")
        if verdict.holds not in (True, False, None):
            raise TypeError(f"claim {self.id}: check returned holds={verdict.holds!r}")
        holds = None if verdict.holds is None else bool(verdict.holds)  # numpy booleans are not JSON
        why = verdict.why
        if data.failed and holds is not None:
            why += (
                f" (decided on the finished cells only: {len(data.failed)} of {len(data.records)} failed or "
                "unfinished)"
            )
        return ClaimResult(
            self.id,
            self.claim,
            {
                "quote": self.quote,
                "section": self.section,
                **({"review": self.review} if self.review else {}),
            },
            verdict.ours,
            holds,
            why,
        )


@dataclasses.dataclass(frozen=True)
class ClaimResult:
    """A claim evaluated on results: the entry of ``report.json``'s ``claims`` list.

    **Fields:** `id`, `claim`, `paper` (``{"quote", "section"}``), `ours` (numbers), `holds`
    (``True``/``False``/``None``), `why`."""

    id: str
    claim: str
    paper: dict[str, str]
    ours: dict[str, Any]
    holds: bool | None
    why: str

    @property
    def status(self) -> str:
        return {True: "PASS", False: "FAIL", None: "N/A"}[self.holds]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# --- shared checks ---------------------------------------------------------------------------------


def longest_horizon(data: FigureData, methods: Sequence[str]) -> int:
    """The longest horizon every method of ``methods`` has finished cells at."""
    common = set.intersection(*(set(data.horizons(m, finished=True)) for m in methods))
    if not common:
        raise NotEvaluable(f"the methods {list(methods)} share no horizon")
    return max(common)


def _others(data: FigureData, method: str, others: Sequence[str] | None) -> list[str]:
    return [m for m in (data.methods() if others is None else others) if m != method]


def highest_iqm(
    data: FigureData, method: str, horizon: int, others: Sequence[str] | None = None, *, separated: bool
) -> Verdict:
    """``method`` has the highest IQM at ``horizon``; with `separated`, its interval also lies wholly
    above the next method's."""
    mine = data.interval(method, horizon)
    rivals = {m: data.interval(m, horizon) for m in _others(data, method, others)}
    if not rivals:
        raise NotEvaluable("no other method to compare with")
    nxt = max(rivals, key=lambda m: rivals[m].estimate)
    ours = {
        "horizon": horizon,
        method: interval_dict(mine),
        **{m: interval_dict(e) for m, e in rivals.items()},
    }
    highest = mine.estimate > rivals[nxt].estimate
    apart = mine.low > rivals[nxt].high
    holds = highest and (apart or not separated)
    why = (
        f"at H={horizon} {method} IQM {mine.estimate:.3g} [{mine.low:.3g}, {mine.high:.3g}] vs next "
        f"{nxt} {rivals[nxt].estimate:.3g} [{rivals[nxt].low:.3g}, {rivals[nxt].high:.3g}]"
        + ("" if not separated else ("; intervals apart" if apart else "; intervals overlap"))
    )
    return Verdict(holds, ours, why)


def highest_mean(
    data: FigureData, method: str, horizon: int, others: Sequence[str] | None = None, *, std_apart: bool
) -> Verdict:
    """``method`` has the highest mean score at ``horizon``; with `std_apart`, every other method's
    mean also lies below ``method``'s mean minus one standard deviation (the ± std bars apart)."""
    mean, std = data.mean_std(method, horizon)
    rivals = {m: data.mean_std(m, horizon) for m in _others(data, method, others)}
    if not rivals:
        raise NotEvaluable("no other method to compare with")
    ours = {
        "horizon": horizon,
        **{
            m: {"mean": round(a, 4), "std": round(b, 4)}
            for m, (a, b) in {method: (mean, std), **rivals}.items()
        },
    }
    best_other = max(rivals, key=lambda m: rivals[m][0])
    holds = mean > rivals[best_other][0]
    if std_apart:
        holds = holds and all(a < mean - std for a, _ in rivals.values())
    why = (
        f"at H={horizon} {method} mean {mean:.4g} ± {std:.3g}; best other {best_other} "
        f"{rivals[best_other][0]:.4g} ± {rivals[best_other][1]:.3g}"
    )
    return Verdict(holds, ours, why)


def within_each_other(data: FigureData, a: str, b: str, horizons: Sequence[int] | None = None) -> Verdict:
    """At every horizon both methods have, the IQM of each lies inside the other's interval."""
    hs = (
        sorted(set(data.horizons(a, finished=True)) & set(data.horizons(b, finished=True)))
        if horizons is None
        else list(horizons)
    )
    if not hs:
        raise NotEvaluable(f"{a} and {b} share no horizon")
    ours, bad = {}, []
    for h in hs:
        ea, eb = data.interval(a, h), data.interval(b, h)
        inside = eb.low <= ea.estimate <= eb.high and ea.low <= eb.estimate <= ea.high
        ours[f"H{h}"] = {a: interval_dict(ea), b: interval_dict(eb), "within": inside}
        if not inside:
            bad.append(h)
    why = (
        f"{a} and {b} within each other's intervals at every H in {hs}"
        if not bad
        else (f"not within each other's intervals at H in {bad}")
    )
    return Verdict(not bad, ours, why)


def improvement_over(
    data: FigureData, method: str, others: Sequence[str], horizon: int, *, threshold: float = 0.5
) -> Verdict:
    """The probability of improvement of ``method`` over each of ``others`` at ``horizon`` has its
    whole interval above ``threshold``."""
    ours, bad = {"horizon": horizon}, []
    for other in others:
        est = probability_of_improvement(
            data.scores(method, horizon),
            data.scores(other, horizon),
            n_resamples=data.n_resamples,
            seed=data.seed,
        )
        ours[f"P({method} > {other})"] = interval_dict(est)
        if not est.low > threshold:
            bad.append(other)
    why = (
        f"P(improvement) of {method} has its interval above {threshold} against {list(others)}"
        if not bad
        else f"P(improvement) interval not above {threshold} against {bad}"
    )
    return Verdict(not bad, ours, why)


def rounded(values) -> list[float]:
    return [round(float(v), 4) for v in np.asarray(values, dtype=float).reshape(-1)]

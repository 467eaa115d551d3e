"""The claims' checks and the plots of Figures 5a, 5b, 7, 8, 9 and 10 (the specs are in
``_myriad.py``)."""

import pathlib
from collections.abc import Sequence

import numpy as np

from .._aggregate import FigureData, NotEvaluable, interval_dict
from .._claims import Verdict, highest_iqm, improvement_over, longest_horizon
from . import _plots as plots

AWM = "awm-transformer"
FIG5A_METHODS = (AWM, "awm-rnn", "hwm-transformer", "markovian")
FIG9_METHODS = (AWM, "awm-lstm", "markovian")
FIG8_METHODS = (AWM, "awm-transformer-full", "hwm-transformer", "hwm-transformer-full")
FIG5B_METHODS = (AWM, "sac", "odt-expert")
FIG10_METHODS = ("odt-expert", "odt-overshot", AWM, "markovian")

# --- claims --------------------------------------------------------------------------------------------


def _fig5a_best(data: FigureData) -> Verdict:
    return highest_iqm(data, AWM, longest_horizon(data, FIG5A_METHODS), FIG5A_METHODS, separated=True)


def _long_horizons(data: FigureData, methods: Sequence[str]) -> list[int]:
    common = sorted(set.intersection(*(set(data.horizons(m, finished=True)) for m in methods)))
    if not common:
        raise NotEvaluable(f"{list(methods)} share no horizon")
    return [h for h in common if h > 100] or [common[-1]]


def _fig5a_hwm(data: FigureData) -> Verdict:
    ours, bad = {}, []
    for h in _long_horizons(data, ("hwm-transformer", "markovian")):
        hwm, mk = data.interval("hwm-transformer", h), data.interval("markovian", h)
        ours[f"H{h}"] = {"hwm-transformer": interval_dict(hwm), "markovian": interval_dict(mk)}
        if hwm.estimate > mk.high:
            bad.append(h)
    return Verdict(
        not bad,
        ours,
        "the HWM's IQM is not above the Markovian model's interval at "
        + ("every long horizon" if not bad else f"H = {bad}: it is above"),
    )


def _fig5a_poi(data: FigureData) -> Verdict:
    return improvement_over(data, AWM, ["markovian", "awm-rnn"], longest_horizon(data, FIG5A_METHODS))


def _curve_means(data: FigureData, methods: Sequence[str], h: int) -> dict[str, float]:
    return {m: round(float(np.mean(data.curve(m, h).iqm)), 4) for m in methods}


def _fig5b_efficient(data: FigureData) -> Verdict:
    ours, bad = {}, []
    for h in sorted(set.intersection(*(set(data.horizons(m, finished=True)) for m in FIG5B_METHODS))):
        means = _curve_means(data, FIG5B_METHODS, h)
        ours[f"H{h}"] = means
        if not all(means[AWM] > means[m] for m in FIG5B_METHODS if m != AWM):
            bad.append(h)
    if not ours:
        raise NotEvaluable("the methods of Figure 5b share no horizon")
    return Verdict(
        not bad,
        {"mean_iqm_over_curve": ours},
        "the AWM's learning curve is above both baselines' on average at "
        + ("every horizon" if not bad else f"no: not at H = {bad}"),
    )


def _fig5b_scales(data: FigureData) -> Verdict:
    hs = sorted(set.intersection(*(set(data.horizons(m, finished=True)) for m in FIG5B_METHODS)))
    if len(hs) < 2:
        raise NotEvaluable("Figure 5b's scaling claim needs two horizons")
    lo, hi = hs[0], hs[-1]
    iq = {m: {h: data.interval(m, h).estimate for h in (lo, hi)} for m in FIG5B_METHODS}
    gap = {
        m: {f"H{lo}": round(iq[AWM][lo] - iq[m][lo], 4), f"H{hi}": round(iq[AWM][hi] - iq[m][hi], 4)}
        for m in FIG5B_METHODS
        if m != AWM
    }
    holds = all(g[f"H{hi}"] >= g[f"H{lo}"] for g in gap.values())
    return Verdict(
        holds,
        {"iqm": {m: {f"H{h}": round(v, 4) for h, v in d.items()} for m, d in iq.items()}, "awm_lead": gap},
        f"the AWM's IQM lead over each baseline {'grows or holds' if holds else 'shrinks'} "
        f"from H={lo} to H={hi}",
    )


def _fig7_each_env(data: FigureData) -> Verdict:
    methods = (*FIG5A_METHODS, "sac")
    h = longest_horizon(data, methods)
    ours, losers = {}, []
    for env in data.envs():
        sub = data.only_env(env)
        means = {m: round(sub.mean_std(m, h)[0], 4) for m in methods}
        winner = max(means, key=means.get)
        ours[env] = {"means": means, "best": winner}
        if winner != AWM:
            losers.append(env)
    return Verdict(
        not losers,
        {"horizon": h, **ours},
        f"at H={h} the AWM has the best mean in " + ("every system" if not losers else f"all but {losers}"),
    )


def _fig7_aggregate(data: FigureData) -> Verdict:
    methods = (*FIG5A_METHODS, "sac")
    return highest_iqm(data, AWM, longest_horizon(data, methods), methods, separated=False)


def _fig9_lstm_well(data: FigureData) -> Verdict:
    return highest_iqm(data, "awm-lstm", longest_horizon(data, FIG9_METHODS), ["markovian"], separated=False)


def _fig9_agnostic(data: FigureData) -> Verdict:
    h = longest_horizon(data, FIG9_METHODS)
    lstm, tr = data.interval("awm-lstm", h), data.interval(AWM, h)
    holds = lstm.estimate >= tr.low
    return Verdict(
        holds,
        {"horizon": h, "awm-lstm": interval_dict(lstm), AWM: interval_dict(tr)},
        f"at H={h} the LSTM AWM's IQM {lstm.estimate:.3g} is "
        f"{'within or above' if holds else 'below'} the transformer AWM's interval "
        f"[{tr.low:.3g}, {tr.high:.3g}]",
    )


def _fig10_drops(data: FigureData) -> Verdict:
    hs = data.horizons("odt-expert", finished=True)
    if len(hs) < 2:
        raise NotEvaluable("needs the Online DT at two horizons")
    lo, hi = hs[0], hs[-1]
    a, b = data.interval("odt-expert", lo), data.interval("odt-expert", hi)
    holds = b.estimate < a.low
    return Verdict(
        holds,
        {f"H{lo}": interval_dict(a), f"H{hi}": interval_dict(b)},
        f"the Online DT's IQM goes from {a.estimate:.3g} [{a.low:.3g}, {a.high:.3g}] at H={lo} to "
        f"{b.estimate:.3g} at H={hi}",
    )


def _fig10_overshoot(data: FigureData) -> Verdict:
    ours, bad = {}, []
    for h in sorted(
        set(data.horizons("odt-expert", finished=True)) & set(data.horizons("odt-overshot", finished=True))
    ):
        e, o = data.interval("odt-expert", h), data.interval("odt-overshot", h)
        ours[f"H{h}"] = {"odt-expert": interval_dict(e), "odt-overshot": interval_dict(o)}
        if o.estimate > e.estimate:
            bad.append(h)
    if not ours:
        raise NotEvaluable("no horizon with both RTGs")
    return Verdict(
        not bad,
        ours,
        "the over-shot RTG's IQM is at most the expert RTG's at "
        + ("every horizon" if not bad else f"no: above it at H = {bad}"),
    )


def _fig10_awm_every_env(data: FigureData) -> Verdict:
    ours, bad = {}, []
    for env in data.envs():
        sub = data.only_env(env)
        for h in sorted(
            set(sub.horizons(AWM, finished=True)) & set(sub.horizons("odt-expert", finished=True))
        ):
            a, d = sub.mean_std(AWM, h)[0], sub.mean_std("odt-expert", h)[0]
            ours[f"{env}-H{h}"] = {AWM: round(a, 4), "odt-expert": round(d, 4)}
            if not a > d:
                bad.append(f"{env}-H{h}")
    if not ours:
        raise NotEvaluable("no system and horizon with both the AWM and the Online DT")
    return Verdict(
        not bad,
        ours,
        "the AWM's mean beats the Online DT's in "
        + ("every system and horizon" if not bad else f"all but {bad}"),
    )


def _fig10_below_markovian(data: FigureData) -> Verdict:
    ours, bad = {}, []
    for h in sorted(
        set(data.horizons("odt-expert", finished=True)) & set(data.horizons("markovian", finished=True))
    ):
        d, m = data.interval("odt-expert", h), data.interval("markovian", h)
        ours[f"H{h}"] = {"odt-expert": interval_dict(d), "markovian": interval_dict(m)}
        if not d.estimate < m.estimate:
            bad.append(h)
    if not ours:
        raise NotEvaluable("no horizon with both the Online DT and the Markovian model")
    return Verdict(
        not bad,
        ours,
        "the Online DT's IQM is below the Markovian model's at "
        + ("every horizon" if not bad else f"no: not at H = {bad}"),
    )


# --- plots ---------------------------------------------------------------------------------------------


def _plot_fig5a(data: FigureData, out: pathlib.Path) -> list[pathlib.Path]:
    paths = [
        plots.bars_by_horizon(
            data,
            out / "figure5a.png",
            methods=FIG5A_METHODS,
            title="Figure 5a: final performance of BPO on Myriad (IQM, 95% CI)",
        )
    ]
    try:
        h = longest_horizon(data, FIG5A_METHODS)
        paths.append(plots.profiles(data, out / "figure5a_profiles.png", horizon=h, methods=FIG5A_METHODS))
    except NotEvaluable:
        pass
    return paths


def _plot_fig5b(data: FigureData, out: pathlib.Path) -> list[pathlib.Path]:
    return [
        plots.curves(
            data,
            out / "figure5b.png",
            methods=FIG5B_METHODS,
            title="Figure 5b: learning curves on Myriad (IQM, 95% CI)",
        )
    ]


def _plot_per_env(name: str, methods: Sequence[str], title: str):
    return lambda data, out: [
        plots.curves(data, out / f"{name}.png", methods=methods, per_env=True, title=title)
    ]


def _plot_bars(name: str, methods: Sequence[str], title: str):
    return lambda data, out: [plots.bars_by_horizon(data, out / f"{name}.png", methods=methods, title=title)]

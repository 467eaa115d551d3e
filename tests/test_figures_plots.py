"""Every report figure, rendered on synthetic results: nothing is clipped (the tight bounding box of all
artists lies inside the canvas), no legend lies over an axes, titles fit, the PNG is at 200 dpi, every
method keeps one colour, and Figures 7 and 9 get a panel per system and horizon."""

import dataclasses

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from test_experiments_claims import _records  # noqa: E402

from awmkit.experiments import figures  # noqa: E402
from awmkit.experiments._figures import _plots as plots  # noqa: E402


@pytest.fixture
def rendered(monkeypatch):
    """Renders through the real ``_save`` and keeps each figure object for inspection."""
    figs = []
    save = plots._save

    def keep(fig, path):
        figs.append(fig)
        return save(fig, path)

    monkeypatch.setattr(plots, "_save", keep)
    return figs


def _problems(fig) -> list[str]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas_agg = FigureCanvasAgg(fig)
    canvas_agg.draw()
    renderer = canvas_agg.get_renderer()
    canvas = fig.bbox
    tight = fig.get_tightbbox(renderer).transformed(fig.dpi_scale_trans)
    out = []
    if tight.x0 < -0.5 or tight.y0 < -0.5 or tight.x1 > canvas.width + 0.5 or tight.y1 > canvas.height + 0.5:
        out.append(f"artists reach outside the canvas: {tight} vs {canvas}")
    axes = [ax.get_window_extent(renderer) for ax in fig.axes if ax.get_visible()]
    for legend in fig.legends + [ax.get_legend() for ax in fig.axes if ax.get_legend()]:
        box = legend.get_window_extent(renderer)
        if any(box.overlaps(a) for a in axes):
            out.append("a legend lies over an axes")
    if fig._suptitle is not None:
        box = fig._suptitle.get_window_extent(renderer)
        if box.x0 < 0 or box.x1 > canvas.width or any(box.overlaps(a) for a in axes):
            out.append("the title is cut off or over the data")
    return out


@pytest.mark.parametrize("name", list(figures()))
def test_each_figure_renders_unclipped_at_200_dpi(name, rendered, tmp_path):
    spec = figures()[name]
    data = spec.data(_records(spec, paper=True), n_resamples=100)
    paths = spec.plot(data, tmp_path)
    assert paths and len(rendered) == len(paths)
    for fig, path in zip(rendered, paths):
        assert not _problems(fig), f"{path.name}: {_problems(fig)}"
        from matplotlib.image import imread

        height, width = imread(path).shape[:2]
        assert (width, height) == (round(fig.get_figwidth() * 200), round(fig.get_figheight() * 200))


def test_interval_estimates_fit_the_axis_to_the_intervals(rendered, tmp_path):
    spec = figures()["figure5a"]
    data = spec.data(_records(spec, paper=True), n_resamples=100)
    spec.plot(data, tmp_path)
    bars = rendered[0]
    for ax in bars.axes:
        if ax.get_visible() and ax.patches:
            lo, hi = ax.get_xlim()
            assert lo > 0.0, "interval estimates must not be anchored at zero"
            spans = [(p.get_x(), p.get_x() + p.get_width()) for p in ax.patches]
            assert lo <= min(a for a, _ in spans) and hi >= max(b for _, b in spans)
    profile = rendered[1]
    assert len([ax for ax in profile.axes if ax.get_visible()]) == 2  # profiles + probability of improvement
    assert any("probability of improvement" in ax.get_title() for ax in profile.axes)


def test_one_colour_per_method_in_every_figure(rendered, tmp_path):
    from matplotlib.colors import to_hex

    seen: dict[str, set[str]] = {}
    for name in ("figure5a", "figure5b", "figure9"):
        spec = figures()[name]
        spec.plot(spec.data(_records(spec, paper=True), n_resamples=100), tmp_path / name)
    for fig in rendered:
        for legend in fig.legends:
            for text, handle in zip(legend.get_texts(), legend.legend_handles):
                seen.setdefault(text.get_text(), set()).add(to_hex(handle.get_color()))
    assert seen and all(len(c) == 1 for c in seen.values()), seen
    assert plots.method_color("my-new-model") == plots.method_color("my-new-model")


@pytest.mark.parametrize("name", ["figure7", "figure9"])
def test_per_system_figures_have_a_panel_per_system_and_horizon(name, rendered, tmp_path):
    spec = figures()[name]
    records = _records(spec, paper=True)
    # A second system: the same synthetic runs relabelled.
    records += [dataclasses.replace(r, cell=dataclasses.replace(r.cell, env="bioreactor")) for r in records]
    data = spec.data(records, n_resamples=100)
    spec.plot(data, tmp_path)
    fig = rendered[0]
    titles = {ax.get_title() for ax in fig.axes if ax.get_visible()}
    horizons = data.horizons()
    assert titles == {f"{e}, H = {h}" for e in ("cancer_treatment", "bioreactor") for h in horizons}
    assert not _problems(fig)
    assert np.isfinite(fig.get_figwidth())

"""Every figure of awmkit.plotting is built from real diagnostics, returned, and saved; and the
``awmkit diagnose`` command writes its JSON and figure."""

import json

import jax.numpy as jnp
import matplotlib.figure
import numpy as np
import pytest

from awmkit import plotting
from awmkit.cli import main
from awmkit.diagnostics import (
    ElmanAWM,
    HorizonGrowth,
    action_jacobians,
    fit_growth,
    gradient_paths,
    return_landscape,
)
from awmkit.envs import make


def test_figures_are_returned_and_saved(tmp_path, getkey):
    env = make("harvest", horizon=4)
    model = ElmanAWM(1, 1, 4, key=getkey())
    jac = action_jacobians(model, env.reset(), jnp.full((4, 1), 0.3))
    paths = gradient_paths(env, 4, actions=jnp.full((4, 1), 0.3))
    horizons = np.array([5, 10, 20, 40])
    norms = np.exp(0.1 * horizons)[:, None] * np.ones((1, 3))
    exp_fit, poly_fit, verdict = fit_growth(horizons, norms.mean(1))
    growth = HorizonGrowth(horizons, norms, norms.mean(1), "final_state", exp_fit, poly_fit, verdict)
    land = return_landscape({"simulator": env, "elman": model}, env, grid=np.linspace(-1, 1, 5))
    rows = [
        {
            "measured": 1.0,
            "theorem1": 3.0,
            "theorem1_local": 2.0,
            "theorem2": 2.5,
            "theorem2_local": 1.5,
            "corollary_2_1": np.nan,
            "corollary_2_2": np.nan,
        }
        for _ in range(3)
    ]
    figures = {
        "jac": plotting.jacobian_heatmap(jac, path=tmp_path / "jac.png"),
        "paths": plotting.path_heatmap(paths, which="matmuls", path=tmp_path / "paths.png"),
        "growth": plotting.growth_curves({"sim": growth}, path=tmp_path / "growth.png"),
        "land": plotting.landscape(land, path=tmp_path / "land.png"),
        "bounds": plotting.bounds_vs_horizon([2, 4, 8], rows, path=tmp_path / "bounds.png"),
    }
    for name, fig in figures.items():
        assert isinstance(fig, matplotlib.figure.Figure)
        assert (tmp_path / f"{name}.png").stat().st_size > 1000
    with pytest.raises(ValueError, match="which"):
        plotting.path_heatmap(paths, which="depth")


def test_cli_diagnose(tmp_path, capsys):
    assert (
        main(
            ["diagnose", "jacobians", "--env", "harvest", "--horizon", "4", "--json", "--out", str(tmp_path)]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert np.asarray(out["norms"]).shape == (5, 4)
    assert (tmp_path / "jacobians.png").exists() and (tmp_path / "jacobians.json").exists()
    assert main(["diagnose", "paths", "--env", "harvest", "--horizon", "3"]) == 0
    assert "t - k =   3: applications 3..3" in capsys.readouterr().out
    assert main(["diagnose", "growth", "--env", "harvest", "--horizons", "3", "4"]) == 2
    assert "at least three" in capsys.readouterr().err

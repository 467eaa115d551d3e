"""Figure grids under a settings profile, and the offline cells' evidence options."""

import dataclasses

import numpy as np
import pytest

from awmkit.experiments import figures
from awmkit.experiments._figures._evidence import paired_difference, tail_rate


def test_authors_profile_reaches_every_cell_kind_that_has_one():
    specs = figures()
    offline = specs["figure4b"].cells("small", "authors")
    assert all(c.config["env_options"] == {"initial_angle": "authors", "reward": "authors"} for c in offline)
    assert all("env_options" not in c.config for c in specs["figure4b"].cells("small"))
    bounce = specs["figure3c"].cells("small", "authors")
    assert bounce == specs["figure3c"].cells("small")  # the one-bounce task has no authors' variant
    myriad = specs["figure5b"].cells("small", "authors")
    assert {c.config.get("profile") for c in myriad if c.kind == "bpo"} == {"authors"}
    assert all("profile" not in c.config for c in myriad if c.kind != "bpo")
    pendulum = specs["figure2"].cells("medium", "authors")  # Figures 2 / 6 train on the authors' pendulum too
    assert all(c.config["env_options"] == {"initial_angle": "authors", "reward": "authors"} for c in pendulum)
    assert {c.config["profile"] for c in pendulum} == {"authors"}
    assert all("env_options" not in c.config for c in specs["figure2"].cells("medium"))
    with pytest.raises(ValueError, match="unknown profile 'theirs'; valid profiles are: awmkit, authors"):
        specs["figure2"].cells("small", "theirs")


def test_bad_evidence_options_are_one_line():
    cell = figures()["figure4c"].cells("smoke")[0]
    for change, match in (
        ({"env_options": {"initial_angle": "degrees"}}, "initial_angle"),
        ({"env_options": {"nope": 1}}, "env_options does not fit 'double_pendulum'"),
        ({"ascent_starts": -1}, "ascent_starts must be an integer >= 0"),
        ({"lyapunov_starts": 1}, "lyapunov_starts needs 0 or at least 2"),
        ({"ascent_lr": 0}, "ascent_lr must be a positive number"),
    ):
        with pytest.raises(ValueError, match=match):
            dataclasses.replace(cell, config={**cell.config, **change})


def test_tail_rate_recovers_an_exponential_and_flattens_a_power_law():
    h = np.array([25, 50, 100, 150, 200])
    rng = np.random.default_rng(0)
    noise = rng.lognormal(0.0, 0.2, size=(h.size, 40))
    exp = tail_rate(h, np.exp(0.05 * h)[:, None] * noise, n_resamples=500)
    assert exp["low"] < 0.05 < exp["high"] and exp["horizons"] == [100, 150, 200]
    power = tail_rate(h, (h**2.0)[:, None] * noise, n_resamples=500)
    assert power["high"] < 0.02  # 2 / H over the tail
    with pytest.raises(ValueError, match="fewer than two"):
        tail_rate(h, noise, tail_from=190)
    d = paired_difference([1.0, 1.0, 1.0], [0.5, 0.6, 0.4], n_resamples=200)
    assert d["mean"] == 0.5 and d["low"] > 0


def test_bad_bpo_env_options_are_one_line():
    cell = figures()["figure2"].cells("smoke")[0]
    for options, match in (
        ({"initial_angle": "degrees"}, "env_options does not fit 'double_pendulum'.*initial_angle"),
        ({"nope": 1}, "env_options does not fit 'double_pendulum'.*'nope'"),
        ([1, 2], "option env_options must map parameter names to values"),
    ):
        with pytest.raises(ValueError, match=match) as info:
            dataclasses.replace(cell, config={**cell.config, "env_options": options})
        assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="valid fields are: .*env_options"):
        dataclasses.replace(cell, config={**cell.config, "env_option": {}})


def test_bpo_cells_train_and_estimate_on_their_env_options(monkeypatch, tmp_path):
    """The environment a ``bpo`` cell trains on (alone, packed) and is estimated on carries its
    ``env_options``; the BPO config never sees them."""
    from awmkit import bpo
    from awmkit.experiments import _cell
    from awmkit.experiments._estimate import estimate_grid

    seen = []

    def capture(env, *args, **kwargs):
        config = args[-1]  # train(env, config), train_packed(env, configs), estimate_run(env, model, config)
        seen.append((env.problem.initial_angle, env.problem.reward, config))
        raise RuntimeError("captured")

    cell = figures()["figure2"].cells("smoke", "authors")[0]
    for name in ("train", "train_packed", "estimate_run"):
        monkeypatch.setattr(bpo, name, capture)
    for call in (
        lambda: _cell._run_bpo(cell, tmp_path / "one", False),
        lambda: _cell.run_packed_cells([cell], [tmp_path / "packed"]),
        lambda: estimate_grid([cell]),
    ):
        with pytest.raises(RuntimeError, match="captured"):
            call()
    assert [s[:2] for s in seen] == [("authors", "authors")] * 3
    assert seen[0][2].profile == seen[1][2][0].profile == seen[2][2].profile == "authors"
    plain = figures()["figure2"].cells("smoke")[0]
    with pytest.raises(RuntimeError, match="captured"):
        _cell._run_bpo(plain, tmp_path / "plain", False)
    assert seen[-1][:2] == ("text", "text")

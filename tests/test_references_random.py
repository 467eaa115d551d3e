"""The shipped random references: one key per (system, horizon), noise below 0.2% of the normalised scale."""

import dataclasses
import json
import math
import subprocess
import sys

import jax
import numpy as np
import pytest

import awmkit
from awmkit.evaluation import (
    LONG_HORIZONS,
    MYRIAD_ENVS,
    SHIPPED_HORIZONS,
    STANDARD_HORIZONS,
    load_references,
    reference,
    with_random_return,
)
from awmkit.evaluation._random import estimate_random_return, random_reference_key


def test_every_system_is_shipped_at_every_horizon_including_the_long_ones():
    assert SHIPPED_HORIZONS == STANDARD_HORIZONS + LONG_HORIZONS == (20, 50, 100, 200, 500, 1000, 2000)
    refs = load_references()
    for name in MYRIAD_ENVS:
        for horizon in LONG_HORIZONS:
            ref = refs[(name, horizon)]
            assert ref.optimal_return > ref.random_return
            assert ref.integrator == "Euler, 1 substep" and ref.dtype == "float64"
            assert ref.solver["key"] == 0 and ref.extra["restart_returns"]


def test_shipped_random_noise_is_below_0_2_percent_and_keys_differ():
    refs = load_references()
    assert len(refs) == len(MYRIAD_ENVS) * len(SHIPPED_HORIZONS)
    for (name, horizon), ref in refs.items():
        noise = ref.random_se / (ref.optimal_return - ref.random_return)
        assert 0 < noise < 0.002, (name, horizon, noise)
        assert ref.random_episodes >= 1000 and ref.random_episodes % 1000 == 0
        assert ref.random_key == random_reference_key(name, horizon, ref.solver["key"])
    keys = [ref.random_key for ref in refs.values()]
    assert len(set(keys)) == len(keys)
    # Two systems at one horizon draw different random actions (same shape: both have one control).
    a, b = refs[("bacteria", 100)], refs[("harvest", 100)]
    draw = lambda ref: jax.random.uniform(
        jax.random.split(jax.random.fold_in(jax.random.key(ref.random_key), 0))[0], (8,)
    )  # noqa: E731
    assert not np.allclose(draw(a), draw(b))


def test_a_shipped_random_return_is_reproduced_in_a_new_process():
    # bacteria at H = 20 needs the minimum of 1 000 episodes: cheap to redo from the recorded settings.
    code = (
        "import json, awmkit\n"
        "ref = awmkit.evaluation.reference('bacteria', 20)\n"
        "again = awmkit.evaluation.with_random_return(ref)\n"
        "print(json.dumps([again.random_return, again.random_se, again.random_episodes, again.random_key]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    mean, se, episodes, key = json.loads(out.strip().splitlines()[-1])
    shipped = reference("bacteria", 20)
    assert mean == pytest.approx(shipped.random_return, rel=1e-12)
    assert se == pytest.approx(shipped.random_se, rel=1e-9)
    assert (episodes, key) == (shipped.random_episodes, shipped.random_key)


def test_estimate_is_the_mean_of_its_batches_and_meets_the_target(x64):
    env = awmkit.envs.make("harvest", 5)
    optimal = reference("harvest", 20).optimal_return  # any optimum above the random return
    est = estimate_random_return(env, 7, optimal_return=optimal, noise=0.01, chunk=200)
    assert est.episodes % 200 == 0 and est.episodes > 200  # one batch is not enough at 1%
    assert est.se / (optimal - est.mean) < 0.01
    batches = [
        float(awmkit.envs.random_return(env, jax.random.fold_in(jax.random.key(7), i), 200))
        for i in range(est.episodes // 200)
    ]
    assert est.mean == pytest.approx(np.mean(batches), rel=1e-12)
    # A fixed count ends with a shorter batch; the cap stops the adaptive count.
    fixed = estimate_random_return(env, 7, episodes=450, chunk=200)
    assert fixed.episodes == 450 and math.isfinite(fixed.se)
    capped = estimate_random_return(env, 7, optimal_return=optimal, noise=1e-4, chunk=200, max_episodes=600)
    assert capped.episodes == 600
    with pytest.raises(ValueError, match="not below the optimal"):
        estimate_random_return(env, 7, optimal_return=-1e9, chunk=200)


def test_keys_and_bad_input():
    assert random_reference_key("bacteria", 100) != random_reference_key("harvest", 100)
    assert random_reference_key("bacteria", 100) != random_reference_key("bacteria", 200)
    assert random_reference_key("bacteria", 100, 1) != random_reference_key("bacteria", 100)
    assert 0 <= random_reference_key("bacteria", 100) < 2**31
    ref = reference("bacteria", 20)
    with pytest.raises(TypeError, match="ref"):
        with_random_return(dataclasses.asdict(ref))
    with pytest.raises(ValueError, match="random_episodes"):
        awmkit.evaluation.compute_reference("bacteria", 5, random_episodes=0)
    with pytest.raises(ValueError, match="random_noise"):
        awmkit.evaluation.compute_reference("bacteria", 5, random_noise=2.0)

"""The progress line (``awmkit/_progress.py``): stages from the first second, then the measured speed."""

import io

import jax
import jax.numpy as jnp

from awmkit._progress import Progress, bar


def test_stages_then_speed_measured_from_the_first_chunk():
    stream = io.StringIO()
    progress = Progress(100, stream=stream, name="awmkit test", log_interval=0.0)

    def warm_up_program(x):
        return jnp.sin(x) * 3.0

    with progress.stage("warm-up", program="warm_up_program"):
        jnp.cos(jnp.ones(3)).block_until_ready()  # an eager operation: compiles but is not the program
        assert stream.getvalue().splitlines()[-1].startswith("awmkit test: compiling")
        jax.jit(warm_up_program)(jnp.ones(7)).block_until_ready()
        assert stream.getvalue().splitlines()[-1].startswith("awmkit test: warm-up")
    with progress.stage("training"):  # any compilation ends "compiling" without a program name
        jax.jit(lambda x: x * 2.0 + 1.0)(jnp.ones(5)).block_until_ready()
    progress.update(20, -3.0)
    progress.update(60, -2.0)
    progress.close()
    lines = stream.getvalue().splitlines()
    assert [line.split("  ")[0] for line in lines[:4]] == [
        "awmkit test: compiling",
        "awmkit test: warm-up",
        "awmkit test: compiling",
        "awmkit test: training",
    ]
    assert lines[4].endswith("20/100 steps  return -3  measuring speed")
    assert "60/100 steps  return -2  " in lines[5] and " steps/s  ETA " in lines[5]


def test_bar_and_disabled_progress():
    assert (
        bar(50, 100, 1.5, 10.0)
        == "[############............] 50/100 steps  return 1.5  10 steps/s  ETA 0m05s"
    )
    stream = io.StringIO()
    quiet = Progress(10, enabled=False, stream=stream)
    with quiet.stage("warm-up"):
        quiet.update(5, 0.0)
    quiet.close()
    assert stream.getvalue() == ""

import os
import shutil
import tempfile

import jax
import pytest

# Catch silent broadcasting and dtype promotion bugs everywhere in the test-suite.
jax.config.update("jax_numpy_rank_promotion", "raise")
jax.config.update("jax_numpy_dtype_promotion", "strict")

_CACHE_VAR = "AWMKIT_TEST_COMPILATION_CACHE"


def pytest_configure(config):
    """One persistent XLA compilation cache per test session, shared by the xdist workers and the
    subprocesses tests start (they inherit ``JAX_COMPILATION_CACHE_DIR``): a program that several
    workers or processes compile (a module fixture's run, a CLI run in a child) is compiled once.
    The controller creates it (workers inherit the variable) and removes it at the end."""
    path = os.environ.get(_CACHE_VAR)
    if path is None:
        path = tempfile.mkdtemp(prefix="awmkit-test-jax-cache-")
        os.environ[_CACHE_VAR] = path
        config._awmkit_cache_owner = path
    os.environ["JAX_COMPILATION_CACHE_DIR"] = path
    jax.config.update("jax_compilation_cache_dir", path)
    # Tiny programs are cheaper to compile than to read back.
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


def pytest_unconfigure(config):
    owned = getattr(config, "_awmkit_cache_owner", None)
    if owned is not None:
        shutil.rmtree(owned, ignore_errors=True)


@pytest.fixture
def getkey():
    """Returns a function that hands out fresh PRNG keys, deterministically per test."""
    key = [jax.random.key(5678)]

    def _getkey():
        key[0], sub = jax.random.split(key[0])
        return sub

    return _getkey


@pytest.fixture
def x64():
    """Runs a test in float64 (finite differences and reference comparisons need it)."""
    with jax.enable_x64(True):
        yield

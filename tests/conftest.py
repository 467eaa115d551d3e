import jax
import pytest

# Catch silent broadcasting and dtype promotion bugs everywhere in the test-suite.
jax.config.update("jax_numpy_rank_promotion", "raise")
jax.config.update("jax_numpy_dtype_promotion", "strict")


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

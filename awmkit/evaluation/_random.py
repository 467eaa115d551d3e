"""The random-policy reference: one PRNG key per (system, horizon) and as many episodes as its noise needs."""

import dataclasses
import math
import zlib

import equinox as eqx
import jax
import numpy as np

from ..envs import Env
from ..envs._env import _random_episode_returns

#: The normalised-return noise the shipped random references meet: SE(R_random) / (R_optimal - R_random).
RANDOM_NOISE = 0.002
#: Episodes per batch of the random-return estimate; batch ``i`` uses ``fold_in(key(random_key), i)``.
RANDOM_CHUNK = 1000
#: The largest number of random episodes one estimate draws.
MAX_RANDOM_EPISODES = 2_000_000


def random_reference_key(env_name: str, horizon: int, key: int = 0) -> int:
    """The integer seed of the random episodes of ``(env_name, horizon)``:
    ``zlib.crc32(f"{env_name}/H={horizon}/key={key}".encode()) & 0x7FFFFFFF``, so that no two systems or
    horizons share random actions, and ``key`` (the ``--key`` of ``awmkit references``) gives another set."""
    return zlib.crc32(f"{env_name}/H={horizon}/key={key}".encode()) & 0x7FFFFFFF


@dataclasses.dataclass(frozen=True)
class RandomEstimate:
    mean: float
    se: float
    episodes: int
    key: int


@eqx.filter_jit
def _chunk_returns(env: Env, key, episodes: int):
    return _random_episode_returns(env, key, episodes)


def estimate_random_return(
    env: Env,
    key: int,
    *,
    optimal_return: float | None = None,
    episodes: int | None = None,
    noise: float = RANDOM_NOISE,
    chunk: int = RANDOM_CHUNK,
    max_episodes: int = MAX_RANDOM_EPISODES,
) -> RandomEstimate:
    r"""The mean return of uniformly random actions and its standard error.

    Episodes are drawn in batches of ``chunk``; batch ``i`` is
    ``awmkit.envs.random_return(env, jax.random.fold_in(jax.random.key(key), i), chunk)``'s episodes. With
    ``episodes`` given, exactly that many are drawn (the last batch shorter). Otherwise batches are added
    until the normalised-return noise $\mathrm{SE}(R_{\text{random}}) / (R^* - R_{\text{random}})$ is below
    ``noise``, with $R^*$ = ``optimal_return`` and $\mathrm{SE} = s / \sqrt{n}$ (sample standard deviation
    $s$ of the $n$ episode returns): after each round the count is raised to the
    $\lceil (s / (\text{noise}\,(R^* - \bar R)))^2 \rceil$ that the current estimate needs, rounded up to
    whole batches, and at most ``max_episodes``.
    """
    if episodes is None and optimal_return is None:
        raise ValueError("`optimal_return` is needed to choose the number of random episodes adaptively")
    base = jax.random.key(key)
    returns: list[np.ndarray] = []

    def draw(n: int) -> None:
        while n > 0:
            size = min(chunk, n)
            returns.append(np.asarray(_chunk_returns(env, jax.random.fold_in(base, len(returns)), size)))
            n -= size

    draw(episodes if episodes is not None else chunk)
    while episodes is None:
        values = np.concatenate(returns)
        mean, std, n = float(values.mean()), float(values.std(ddof=1)), values.size
        gap = optimal_return - mean
        if not gap > 0:
            raise ValueError(
                f"the random return {mean:.6g} is not below the optimal return {optimal_return:.6g}: "
                "cannot normalise"
            )
        needed = math.ceil((std / (noise * gap)) ** 2)
        if n >= min(needed, max_episodes):
            break
        draw(min(chunk * math.ceil(needed / chunk), max_episodes) - n)
    values = np.concatenate(returns)
    se = float(values.std(ddof=1) / math.sqrt(values.size)) if values.size > 1 else math.nan
    return RandomEstimate(mean=float(values.mean()), se=se, episodes=int(values.size), key=key)

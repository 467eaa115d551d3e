"""A jittable replay buffer of whole episodes."""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from .._typing import Key
from ..envs import Trajectory


class EpisodeBuffer(eqx.Module):
    """A ring buffer of whole episodes in fixed-size arrays, so that it lives inside ``jax.jit`` and
    ``jax.vmap`` (one buffer per seed) and is checkpointed with the rest of the training state.

    Functional: [`awmkit.bpo.EpisodeBuffer.add`][] returns a new buffer. Sampling is uniform over the
    stored episodes (with replacement).

    **Arguments:**

    - `capacity`: the number of episodes kept; the oldest is overwritten first.
    - `horizon`, `state_dim`, `action_dim`: the episode shape.
    - `dtype`: floating dtype of the stored arrays.
    """

    states: Float[Array, "capacity steps state_dim"]
    actions: Float[Array, "capacity horizon action_dim"]
    rewards: Float[Array, "capacity horizon"]
    size: Int[Array, ""]
    insert: Int[Array, ""]

    def __init__(self, capacity: int, horizon: int, state_dim: int, action_dim: int, dtype=jnp.float32):
        for name, value in (
            ("capacity", capacity),
            ("horizon", horizon),
            ("state_dim", state_dim),
            ("action_dim", action_dim),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"`{name}` must be a positive integer, got {value!r}")
        self.states = jnp.zeros((capacity, horizon + 1, state_dim), dtype)
        self.actions = jnp.zeros((capacity, horizon, action_dim), dtype)
        self.rewards = jnp.zeros((capacity, horizon), dtype)
        self.size = jnp.zeros((), jnp.int32)
        self.insert = jnp.zeros((), jnp.int32)

    @property
    def capacity(self) -> int:
        return self.states.shape[0]

    def add(self, trajectory: Trajectory) -> "EpisodeBuffer":
        """Stores one episode (unbatched ``Trajectory``) in place of the oldest."""
        if (
            trajectory.states.shape != self.states.shape[1:]
            or trajectory.actions.shape != self.actions.shape[1:]
        ):
            raise ValueError(
                f"`trajectory` must hold one episode with states {self.states.shape[1:]} and actions "
                f"{self.actions.shape[1:]}, got {trajectory.states.shape} and {trajectory.actions.shape}"
            )
        i = self.insert
        dtype = self.states.dtype
        return eqx.tree_at(
            lambda b: (b.states, b.actions, b.rewards, b.size, b.insert),
            self,
            (
                self.states.at[i].set(trajectory.states.astype(dtype)),
                self.actions.at[i].set(trajectory.actions.astype(dtype)),
                self.rewards.at[i].set(trajectory.rewards.astype(dtype)),
                jnp.minimum(self.size + 1, self.capacity),
                (i + 1) % self.capacity,
            ),
        )

    def add_batch(self, trajectories: Trajectory) -> "EpisodeBuffer":
        """Stores a batch of episodes (leading batch axis), in order."""
        buffer, _ = jax.lax.scan(lambda b, t: (b.add(t), None), self, trajectories)
        return buffer

    def _indices(self, key: Key, batch_size: int) -> Int[Array, " batch"]:
        # Sampling an empty buffer would silently return zeros; index 0 keeps it defined under jit.
        return jax.random.randint(key, (batch_size,), 0, jnp.maximum(self.size, 1))

    def sample(self, key: Key, batch_size: int) -> Trajectory:
        """``batch_size`` stored episodes, uniformly with replacement, as a batched ``Trajectory``."""
        idx = self._indices(key, batch_size)
        return Trajectory(states=self.states[idx], actions=self.actions[idx], rewards=self.rewards[idx])

    def sample_windows(
        self, key: Key, batch_size: int, length: int
    ) -> tuple[Trajectory, Int[Array, " batch"]]:
        """Teacher-forcing windows: ``batch_size`` sub-episodes of ``length`` steps (``length + 1``
        states) at uniform offsets, and the step index of each window's first state (models that take
        the time-step as an input need it)."""
        horizon = self.actions.shape[1]
        if isinstance(length, bool) or not isinstance(length, int) or not 1 <= length <= horizon:
            raise ValueError(f"`length` must be an integer in [1, {horizon}], got {length!r}")
        episode_key, offset_key = jax.random.split(key)
        idx = self._indices(episode_key, batch_size)
        starts = jax.random.randint(offset_key, (batch_size,), 0, horizon - length + 1)

        def window(i, start):
            states = jax.lax.dynamic_slice_in_dim(self.states[i], start, length + 1)
            actions = jax.lax.dynamic_slice_in_dim(self.actions[i], start, length)
            rewards = jax.lax.dynamic_slice_in_dim(self.rewards[i], start, length)
            return Trajectory(states=states, actions=actions, rewards=rewards)

        return jax.vmap(window)(idx, starts), starts

    def sample_initial_states(self, key: Key, batch_size: int) -> Float[Array, "batch state_dim"]:
        """Initial states ``s_0`` of uniformly sampled stored episodes: the starts of imagined rollouts."""
        return self.states[self._indices(key, batch_size), 0]

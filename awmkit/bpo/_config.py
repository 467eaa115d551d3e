"""The hyper-parameters of BPO (Table 1 of the paper plus what a usable engine needs)."""

import dataclasses
import math
from typing import Any, ClassVar

_NAN_POLICIES = ("stop_seed", "stop_run")


@dataclasses.dataclass(frozen=True)
class BPOConfig:
    r"""Every hyper-parameter of Backpropagation-based Policy Optimisation (Algorithm 1).

    Defaults are the paper's (Table 1 and Appendix C.1) as the authors' code ran them (see
    [Fidelity to the paper](../fidelity.md)). **Update cadences count environment steps between
    updates**, as Table 1's "replay ratios" do in the authors' code: environment step ``i``
    (``0 <= i < steps``, warm-up included) is followed by a model update when
    ``i > warmup_steps`` and ``i % dynamics_update_every == 0``, and by a policy update when
    ``i > warmup_steps`` and ``i % policy_update_every == 0``. A run therefore performs

    $$N_e = \Big\lfloor \frac{\mathtt{steps} - 1}{e} \Big\rfloor
          - \Big\lfloor \frac{\mathtt{warmup\_steps}}{e} \Big\rfloor$$

    updates of cadence ``e`` at every horizon (749 model and 94 policy updates over 3 000 steps).
    awmkit performs the updates due during an episode in one batch at the episode's end: after the
    episode ending at step ``n`` it performs the authors' count over the first ``n`` steps minus the
    updates already done, so the fractional remainder (e.g. 6.25 policy updates per episode at
    ``H = 100``) carries across episodes, nothing is rounded, and the totals are exactly ``N_e``
    (`expected_dynamics_updates`, `expected_policy_updates`).

    **Arguments:**

    - `steps`: environment steps of the whole run, warm-up included (200 000).
    - `dynamics_update_every`: environment steps between model updates (2; 0 disables model
      learning).
    - `policy_update_every`: environment steps between policy updates (16).
    - `dynamics_batch_size`: episodes per model update (64).
    - `policy_batch_size`: imagined rollouts (initial states) per policy update (16).
    - `dynamics_lr`: Adam learning rate of the model (1e-3).
    - `policy_lr`: Adam learning rate of the policy (1e-4).
    - `buffer_size`: replay-buffer capacity in environment steps (1e6); the buffer keeps
      ``min(buffer_size, steps) // H`` whole episodes, the oldest overwritten first.
    - `warmup_steps`: environment steps before the first update (1 500). The warm-up episodes of
      uniformly random actions are ``ceil(warmup_steps / H)`` whole episodes; updates due in their
      last ``ceil(warmup_steps / H) H - warmup_steps`` steps happen after the first training episode.
    - `entropy_coef`: weight ``alpha`` of the time-averaged entropy bonus (0.1, the authors'
      default; the paper sweeps 0.1, 0.01, 0.001): the policy maximises the batch mean of
      ``J - alpha (1/H) sum_k log pi(a_k | s_k)`` along imagined rollouts, so the bonus does not
      grow with the horizon.
    - `policy_grad_clip`: global-norm clip of the policy gradient (100), applied with
      ``optax.clip_by_global_norm`` before Adam.
    - `stop_gradient`: whether the policy sees ``sg[s_k]`` (equations 1-3, the default) or the full
      gradient flows through its input (Appendix F.1).
    - `eval_interval`: environment steps between evaluations of the deterministic policy on the real
      environment (5 000), rounded to whole episodes; the last episode is always evaluated.
    - `eval_episodes`: episodes per evaluation (10; they differ only if the initial state is sampled).
    - `chunk_size`: episodes per compiled chunk (100): the host draws progress, appends metrics and
      writes a checkpoint after each chunk.
    - `float64`: run everything (environment, model, policy, optimisers) in double precision.
    - `nan_policy`: what a non-finite loss, gradient or parameter does: ``"stop_seed"`` freezes that
      seed at its last good state and lets the others go on; ``"stop_run"`` stops the whole run after
      the chunk, keeping the last good checkpoint.
    - `seed_group_size`: how many seeds are vmapped together in one group; the groups of a device run
      one after another inside each compiled chunk, and the seeds are split evenly over every local
      device first (`awmkit.bpo.seed_layout`). ``None`` (default) takes the measured default of the
      backend (2 on a CPU, all of a device's seeds on a GPU). It changes speed and memory, not what a
      seed computes (bit for bit on one device between groups of two or more; to float rounding for
      groups of one or several devices), so a run may be resumed with another value.
    """

    steps: int = 200_000
    dynamics_update_every: int = 2
    policy_update_every: int = 16
    dynamics_batch_size: int = 64
    policy_batch_size: int = 16
    dynamics_lr: float = 1e-3
    policy_lr: float = 1e-4
    buffer_size: int = 1_000_000
    warmup_steps: int = 1500
    entropy_coef: float = 0.1
    policy_grad_clip: float = 100.0
    stop_gradient: bool = True
    eval_interval: int = 5000
    eval_episodes: int = 10
    chunk_size: int = 100
    float64: bool = False
    nan_policy: str = "stop_seed"
    seed_group_size: int | None = None

    _POSITIVE_INTS: ClassVar[tuple[str, ...]] = (
        "steps",
        "policy_update_every",
        "dynamics_batch_size",
        "policy_batch_size",
        "buffer_size",
        "warmup_steps",
        "eval_interval",
        "eval_episodes",
        "chunk_size",
    )

    def __post_init__(self):
        for name in self._POSITIVE_INTS:
            _check_int(name, getattr(self, name), minimum=1)
        _check_int("dynamics_update_every", self.dynamics_update_every, minimum=0)
        for name in ("dynamics_lr", "policy_lr", "policy_grad_clip"):
            value = getattr(self, name)
            if not _is_real(value) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"BPOConfig.{name} must be a positive finite number, got {value!r}")
        if not _is_real(self.entropy_coef) or not math.isfinite(self.entropy_coef) or self.entropy_coef < 0:
            raise ValueError(
                f"BPOConfig.entropy_coef must be a non-negative finite number, got {self.entropy_coef!r}"
            )
        for name in ("stop_gradient", "float64"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"BPOConfig.{name} must be True or False, got {getattr(self, name)!r}")
        if self.seed_group_size is not None:
            _check_int("seed_group_size", self.seed_group_size, minimum=1)
        if self.nan_policy not in _NAN_POLICIES:
            raise ValueError(
                f"BPOConfig.nan_policy must be one of {', '.join(map(repr, _NAN_POLICIES))}, got {self.nan_policy!r}"
            )

    # --- quantities derived for a given horizon ----------------------------------------------------

    def warmup_episodes(self, horizon: int) -> int:
        """Episodes of random actions: ``ceil(warmup_steps / H)``."""
        return -(-self.warmup_steps // horizon)

    def iterations(self, horizon: int) -> int:
        """Training iterations (collected episodes) after the warm-up."""
        return -(-(self.steps - self.warmup_episodes(horizon) * horizon) // horizon)

    def updates_due(self, every: int, env_steps: int) -> int:
        """Updates of cadence `every` that the authors' loop performs after its first ``env_steps``
        environment steps (capped at `steps`): ``#{i < env_steps : i > warmup_steps, i % every == 0}``."""
        if every <= 0:
            return 0
        last = min(env_steps, self.steps) - 1
        return max(0, last // every - self.warmup_steps // every)

    def expected_dynamics_updates(self) -> int:
        """Model updates of a whole run (every horizon): ``floor((steps - 1) / e) - floor(warmup_steps / e)``
        with ``e = dynamics_update_every`` (0 when model learning is off)."""
        return self.updates_due(self.dynamics_update_every, self.steps)

    def expected_policy_updates(self) -> int:
        """Policy updates of a whole run (every horizon), as `expected_dynamics_updates` with
        ``e = policy_update_every``."""
        return self.updates_due(self.policy_update_every, self.steps)

    def updates_per_iteration(self, every: int, horizon: int) -> list[int]:
        """How many updates of cadence `every` follow each training iteration (episode) at horizon ``H``:
        those due during the episode's steps, plus, after the first, those due during the warm-up's
        rounding. They sum to ``updates_due(every, steps)``."""
        warm = self.warmup_episodes(horizon) * horizon
        ends = [warm + (i + 1) * horizon for i in range(self.iterations(horizon))]
        due = [0, *(self.updates_due(every, n) for n in ends)]
        return [b - a for a, b in zip(due[:-1], due[1:])]

    def buffer_episodes(self, horizon: int) -> int:
        """Replay-buffer capacity in whole episodes."""
        return min(self.buffer_size, self.steps) // horizon

    def eval_every(self, horizon: int) -> int:
        """Iterations between evaluations."""
        return max(1, round(self.eval_interval / horizon))

    def num_chunks(self, horizon: int) -> int:
        return -(-self.iterations(horizon) // self.chunk_size)

    def check_horizon(self, horizon: int) -> None:
        """Raises a ``ValueError`` when the budget does not fit the horizon ``H``: at least one episode
        of warm-up plus one of training, and a buffer of at least one episode."""
        _check_int("horizon", horizon, minimum=1)
        warm = self.warmup_episodes(horizon) * horizon
        if self.steps < warm + horizon:
            raise ValueError(
                f"BPOConfig.steps={self.steps} leaves no training episode at horizon {horizon}: the warm-up "
                f"takes {warm} steps (ceil(warmup_steps / H) episodes), so steps must be at least {warm + horizon}"
            )
        if self.buffer_episodes(horizon) < 1:
            raise ValueError(
                f"BPOConfig.buffer_size={self.buffer_size} holds no whole episode of horizon {horizon}; "
                f"it must be at least {horizon}"
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "BPOConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(
                f"unknown BPOConfig fields {unknown}; valid fields are: {', '.join(sorted(names))}"
            )
        return cls(**data)


def _is_real(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_int(name: str, value, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"BPOConfig.{name} must be {what}, got {value!r}")

"""The Online Decision Transformer's configuration and the help of its ``awmkit train`` flags."""

import dataclasses
import math
from typing import Any

import jax

from ..envs import Env, random_return
from ._common import check_config_fields

FLAG_HELP = {
    "steps": "environment steps per seed, warm-up included",
    "rtg": "target return-to-go: the optimal return (expert) or twice it in normalised terms (overshot)",
    "target_return": "the expert return-to-go (default: the shipped optimal return of the env and horizon)",
    "random_return": "the random-policy return of the overshot target (default: the shipped one, else "
    "1000 random episodes)",
    "warmup_steps": "environment steps of uniformly random actions first",
    "episodes_per_iteration": "trajectories gathered per iteration (the paper sweeps it)",
    "updates_per_iteration": "gradient steps per iteration",
    "batch_size": "trajectory segments per update",
    "context_length": "timesteps K in the transformer's context",
    "embed_width": "token width of the transformer",
    "depth": "transformer blocks",
    "num_heads": "attention heads per block",
    "mlp_width": "hidden width of each block's MLP",
    "lr": "LAMB learning rate of the transformer",
    "weight_decay": "LAMB weight decay",
    "lr_warmup_updates": "updates of linear learning-rate warm-up",
    "grad_clip": "global-norm clip of the transformer's gradient",
    "init_temperature": "initial entropy temperature",
    "temperature_lr": "Adam learning rate of the log-temperature",
    "buffer_episodes": "replay buffer capacity in trajectories",
    "return_scale": "returns-to-go are divided by it (default max(|expert return|, 1))",
    "eval_interval": "environment steps between evaluations",
    "eval_episodes": "episodes per evaluation",
}


@dataclasses.dataclass(frozen=True)
class ODTConfig:
    """Every hyper-parameter of [`awmkit.baselines.train_odt`][]; the network and optimiser defaults are
    those of Zheng et al.'s code (which the paper uses, Appendix F.3).

    **Arguments:**

    - `steps`: environment steps per seed, warm-up included (200 000).
    - `rtg`: the return-to-go the policy is conditioned on when acting: ``"expert"``, the optimal return
      ``R*`` of the (environment, horizon) pair, or ``"overshot"``, twice it in normalised terms,
      ``R_rand + 2 (R* - R_rand)`` (a normalised return of 2; for positive returns with
      ``R_rand = 0`` exactly ``2 R*``, and it stays an over-shoot for the negative returns of cost
      problems, where ``2 R*`` would be an under-shoot).
    - `target_return`: ``R*`` itself. [`awmkit.baselines.train_odt`][] needs it: its callers resolve
      it (``awmkit train``, the experiments and [`awmkit.evaluation.resolve_odt_config`][] read the
      optimal return shipped by [`awmkit.evaluation.reference`][] for the Myriad systems at H = 20,
      50, 100).
    - `random_return`: ``R_rand`` of the ``"overshot"`` target (``None``: 1 000 episodes of uniformly
      random actions, computed when the run starts; the resolvers fill in the shipped one).
    - `warmup_steps`: uniformly random steps first, rounded up to whole episodes (1 500, as SAC and
      BPO); the state normaliser is fitted to them.
    - `episodes_per_iteration`: trajectories gathered with the stochastic policy per iteration (1; the
      paper sweeps it).
    - `updates_per_iteration`: gradient steps per iteration (300).
    - `batch_size`: segments of `context_length` timesteps per update (256).
    - `context_length`: ``K``, the timesteps in context, ``3K`` tokens (20).
    - `embed_width`, `depth`, `num_heads`, `mlp_width`: the causal transformer (512, 4, 4, 2048).
    - `lr`, `weight_decay`, `lr_warmup_updates`, `grad_clip`: LAMB with a linear warm-up and global
      norm clipping (1e-4, 5e-4, 10 000, 0.25).
    - `init_temperature`, `temperature_lr`: the entropy temperature ``lambda`` and the Adam rate of
      ``log lambda`` (0.1, 1e-4); the target entropy is ``-action_dim``.
    - `buffer_episodes`: replay capacity in trajectories, first in first out (1 000).
    - `return_scale`: returns-to-go are divided by it before embedding (``None``: ``max(|R*|, 1)``).
    - `eval_interval`: environment steps between evaluations of the deterministic policy (5 000),
      rounded to whole iterations.
    - `eval_episodes`: episodes per evaluation (1).
    - `float64`: run in double precision.

    Raises ``ValueError`` naming the field for a bad value.
    """

    steps: int = 200_000
    rtg: str = "expert"
    target_return: float | None = None
    random_return: float | None = None
    warmup_steps: int = 1500
    episodes_per_iteration: int = 1
    updates_per_iteration: int = 300
    batch_size: int = 256
    context_length: int = 20
    embed_width: int = 512
    depth: int = 4
    num_heads: int = 4
    mlp_width: int = 2048
    lr: float = 1e-4
    weight_decay: float = 5e-4
    lr_warmup_updates: int = 10_000
    grad_clip: float = 0.25
    init_temperature: float = 0.1
    temperature_lr: float = 1e-4
    buffer_episodes: int = 1000
    return_scale: float | None = None
    eval_interval: int = 5000
    eval_episodes: int = 1
    float64: bool = False

    def __post_init__(self):
        check_config_fields(
            self,
            positive_ints=(
                "steps",
                "warmup_steps",
                "episodes_per_iteration",
                "updates_per_iteration",
                "batch_size",
                "context_length",
                "embed_width",
                "depth",
                "num_heads",
                "mlp_width",
                "lr_warmup_updates",
                "buffer_episodes",
                "eval_interval",
                "eval_episodes",
            ),
            positive=("lr", "grad_clip", "init_temperature", "temperature_lr"),
            non_negative=("weight_decay",),
        )
        if self.rtg not in ("expert", "overshot"):
            raise ValueError(f"`rtg` must be 'expert' or 'overshot', got {self.rtg!r}")
        if self.target_return is not None and not math.isfinite(self.target_return):
            raise ValueError(f"`target_return` must be a finite number or None, got {self.target_return!r}")
        if self.random_return is not None and not math.isfinite(self.random_return):
            raise ValueError(f"`random_return` must be a finite number or None, got {self.random_return!r}")
        if self.return_scale is not None and not self.return_scale > 0:
            raise ValueError(f"`return_scale` must be positive or None, got {self.return_scale!r}")
        if self.embed_width % self.num_heads:
            raise ValueError(
                f"`embed_width` ({self.embed_width}) must be a multiple of `num_heads` ({self.num_heads})"
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def warmup_episodes(self, horizon: int) -> int:
        return -(-self.warmup_steps // horizon)

    def iterations(self, horizon: int) -> int:
        """Training iterations that fit in the budget after the warm-up."""
        return (self.steps - self.warmup_episodes(horizon) * horizon) // (
            self.episodes_per_iteration * horizon
        )

    def check_horizon(self, horizon: int) -> None:
        """Refuses a budget that leaves no training iteration at this horizon."""
        if self.iterations(horizon) < 1:
            raise ValueError(
                f"`steps` ({self.steps}) leaves no training iteration at horizon {horizon}: the warm-up takes "
                f"{self.warmup_episodes(horizon) * horizon} steps and an iteration "
                f"{self.episodes_per_iteration * horizon}"
            )

    def target(self, env: Env) -> float:
        """The return-to-go the policy is conditioned on for ``env`` (see `rtg`); `target_return` must
        be set (a one-line ``ValueError`` says how to resolve it)."""
        if self.target_return is None:
            raise ValueError(
                f"the Online DT needs the optimal return of {env.name} at H = {env.horizon} as its expert "
                "return-to-go: set `target_return` (--target-return), or resolve it from the shipped "
                "reference with awmkit.evaluation.resolve_odt_config(config, env)"
            )
        expert = float(self.target_return)
        if self.rtg == "expert":
            return expert
        rand = self.random_return
        if rand is None:
            rand = float(random_return(env, jax.random.key(0), 1000))
        return rand + 2.0 * (expert - rand)

    def scale(self, env: Env) -> float:
        if self.return_scale is not None:
            return float(self.return_scale)
        if self.target_return is None:
            self.target(env)  # raises, saying how to resolve it
        return max(abs(float(self.target_return)), 1.0)

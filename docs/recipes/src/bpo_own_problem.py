"""BPO on your own control problem from Python: the class from my_systems.py, trained for three seeds."""

import jax
import jax.numpy as jnp
from my_systems import VanDerPol

import awmkit

env = awmkit.envs.Env(VanDerPol(mu=1.0), horizon=50)  # or awmkit.envs.make("my_systems:VanDerPol", 50)
config = awmkit.bpo.BPOConfig(steps=2000, warmup_steps=500, policy_lr=1e-3, eval_interval=500, chunk_size=10)
result = awmkit.bpo.train(env, config, model="awm-transformer", key=0, seeds=3, out="runs/vdp-api")

# Two yardsticks: uniformly random actions, and no force at all.
random = float(awmkit.envs.random_return(env, jax.random.key(0), episodes=100))
zero = float(awmkit.envs.rollout(env, jnp.zeros((env.horizon, env.action_dim))).total_return)
print(f"random actions: {random:.3f}   zero force: {zero:.3f}")
print("deterministic policy's evaluation return (mean over 3 seeds):")
for step, returns in zip(result.eval_steps, result.eval_returns):
    print(f"  step {int(step):5d}: {returns.mean():8.3f}   seeds {' '.join(f'{r:8.3f}' for r in returns)}")
print(f"wall time {result.wall_time_s:.0f} s; run directory {result.out}")

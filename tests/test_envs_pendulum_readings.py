"""The double pendulum's two readings: the text's (default) and the authors' code's, one argument each."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from awmkit.envs import DoublePendulum, Integrator, make, rollout


def _placed_then_integrated(env, angle):
    x = jnp.array([angle, 0.0, 0.0, 0.0])
    u = env.problem.control(jnp.array([0.0]))  # the vector field ignores u
    return env.integrator.integrate(env.problem.vector_field, 0.0, env.dt, x, u)


def test_initial_angle_readings():
    euler = Integrator()  # the reading does not depend on the integrator; Euler compiles fast
    text = make("double_pendulum", 5, integrator=euler)
    authors = make("double_pendulum", 5, initial_angle="authors", integrator=euler)
    a = jnp.array([-0.4, 0.3, 0.97])

    def first_step(env):
        return jax.vmap(lambda ai: env.step(env.reset(), ai[None], 0))(a)

    def expected(env, angles):
        return jax.vmap(lambda th: _placed_then_integrated(env, th))(angles)

    # the text: a x 180 degrees = a pi rad; the authors' code: `action * 180` used as radians
    np.testing.assert_allclose(first_step(text), expected(text, a * np.pi), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(first_step(authors), expected(authors, 180.0 * a), rtol=1e-4, atol=1e-4)
    assert not np.allclose(first_step(text), first_step(authors))


def test_reward_readings_and_goal():
    text = make("double_pendulum", 20)
    authors = make("double_pendulum", 20, reward="authors")
    goal = rollout(text, jnp.full((20, 1), -0.4)).states[-1]
    np.testing.assert_allclose(authors.problem.goal, goal, rtol=1e-6)
    x = jnp.array([0.3, -1.2, 2.0, 0.5])
    # the authors' code: -jnp.mean((s - goal_state) ** 2); the text: a distance
    np.testing.assert_allclose(
        authors.problem.terminal_reward(x), -np.mean((np.asarray(x) - goal) ** 2), rtol=1e-6
    )
    np.testing.assert_allclose(
        text.problem.terminal_reward(x), -np.linalg.norm(np.asarray(x) - goal), rtol=1e-6
    )


def test_reference_action_optimal_under_the_authors_reading():
    # the goal compares unwrapped angles, so an action that places the pendulum at the same point
    # modulo 2 pi still misses it
    for kw in ({"initial_angle": "authors"}, {"initial_angle": "authors", "reward": "authors"}):
        env = make("double_pendulum", 20, **kw)
        best = rollout(env, jnp.full((20, 1), -0.4)).total_return
        other = rollout(env, jnp.full((20, 1), -0.4 + 2 * np.pi / 180)).total_return  # same place, mod 2 pi
        assert float(best) == 0.0 and float(other) < 0.0, kw


def test_default_is_the_text():
    p = DoublePendulum()
    assert (p.initial_angle, p.reward) == ("text", "text")
    np.testing.assert_allclose(p.initial_angle_of(jnp.array([0.5])), 0.5)
    with pytest.raises(ValueError, match="`initial_angle` must be one of 'text', 'authors'"):
        make("double_pendulum", 5, initial_angle="degrees")
    with pytest.raises(ValueError, match="`reward`"):
        DoublePendulum(reward="squared")

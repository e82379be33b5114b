"""The functional environment: pure reset/step that equal the runtime's runs and compile end to end."""

import numpy as np
import pytest

from recosim.core.testing import make_runtime_for, runtime_names, to_numpy
from recosim.gym import functional
from recosim.gym.envs import interest_evolution_story

SIZES = dict(num_docs=8, history_length=3)


@pytest.fixture(params=runtime_names())
def runtime(request):
    return request.param


def test_steps_equal_the_runtime_run_of_the_reset_key_and_reset_at_the_end(runtime):
    users, horizon, seed = 4, 3, 5
    story, _, _ = interest_evolution_story(users, **SIZES)
    traj = to_numpy(make_runtime_for(runtime, story, seed=0).trajectory(horizon, seed=seed))
    env = functional.make("InterestEvolution", runtime=runtime, num_users=users, horizon=horizon, **SIZES)
    params = env.default_params
    assert params.max_steps_in_episode == horizon
    obs, state = env.reset(env.key(seed), params)
    for t in range(horizon):
        slates = traj["slate"]["doc_index"][t]
        obs, state, reward, done, info = env.step(env.key(99), state, slates, params)
        np.testing.assert_allclose(np.asarray(reward), traj["user response"]["reward"][t], rtol=1e-6, atol=1e-6)
        assert bool(done) == (t == horizon - 1) and int(info["step"]) == t + 1
        if t < horizon - 1:  # the state holds this step's whole network value
            values = to_numpy(state["values"])
            np.testing.assert_allclose(values["user state"]["interest"], traj["user state"]["interest"][t],
                                       rtol=1e-5, atol=1e-5)
            np.testing.assert_array_equal(obs["recommender state/doc_id"], traj["recommender state"]["doc_id"][t])
    # the last step ended the episode: obs and state are a new episode's, from the step's key
    first_obs, _ = env.reset(env.key(99), params)
    assert int(state["t"]) == 0
    for name in first_obs:
        np.testing.assert_array_equal(np.asarray(obs[name]), np.asarray(first_obs[name]))
    with pytest.raises(ValueError, match=r"slate 2 \[1, 1\] repeats document 1"):
        env.step_env(env.key(0), state, np.array([[0, 1], [2, 3], [1, 1], [4, 5]]), params)
    with pytest.raises(ValueError, match=r"action has shape \(2, 2\); expected \(4, 2\)"):
        env.step_env(env.key(0), state, np.array([[0, 1], [2, 3]]), params)


@pytest.mark.needs_runtime("jax")
def test_a_jitted_scan_rollout_equals_the_step_by_step_one():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    # the rollout crosses an episode's end (automatic reset); four users, as in the test above: the eager steps
    # reuse the JAX operations of the same shapes
    users, docs, horizon, steps = 4, 8, 2, 3
    env = functional.make("InterestEvolution", runtime="jax", num_users=users, horizon=horizon, **SIZES)
    params = env.default_params

    def policy(obs):  # a fixed policy of the observation: after the last consumed document, and three on
        first = (obs["recommender state/doc_id"][:, -1] + 1) % docs
        return jnp.stack([first, (first + 3) % docs], axis=1).astype(jnp.int32)

    keys = jax.random.split(jax.random.PRNGKey(1), steps)

    def rollout(key):
        obs, state = env.reset(key, params)

        def body(carry, k):
            obs, state = carry
            obs, state, reward, done, _ = env.step(k, state, policy(obs), params)
            return (obs, state), (reward, done)

        return jax.lax.scan(body, (obs, state), keys)[1]

    rewards, dones = jax.jit(rollout)(env.key(3))
    obs, state = env.reset(env.key(3), params)
    eager_rewards, eager_dones = [], []
    for k in keys:
        obs, state, reward, done, _ = env.step(k, state, policy(obs), params)
        eager_rewards.append(np.asarray(reward))
        eager_dones.append(bool(done))
    np.testing.assert_allclose(np.asarray(rewards), np.stack(eager_rewards), rtol=1e-5, atol=1e-6)
    assert np.asarray(dones).tolist() == eager_dones == [False, True, False]
    assert np.asarray(rewards).shape == (steps, users) and np.all(np.isfinite(np.asarray(rewards)))


def test_make_names_the_known_environments():
    with pytest.raises(ValueError, match=r"unknown environment 'Pong'; make knows \['InterestEvolution', 'Ecosystem'\]"):
        functional.make("Pong", runtime="numpy")
    with pytest.raises(ValueError, match="horizon must be a positive integer"):
        functional.make("InterestEvolution", runtime="numpy", num_users=2, horizon=0, **SIZES)

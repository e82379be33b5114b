"""REINFORCE on a small slate story: learning, the group baseline's lower gradient variance, and the gradient
estimate against its closed form."""

from __future__ import annotations

import numpy as np
import pytest
from inference_models import best_expected_reward, expected_reward, gaussian_bandit, slate_story

from recosim.core.testing import to_numpy
from recosim.inference import OptimizerOptions, RolloutOptions, policy_gradient_estimates, train_reinforce
from recosim.inference.api import _policy_task
from recosim.inference.engines import ReinforceEngine, Rollouts
from recosim.inference.policy import advantages, reward_to_go

ZERO = {"logits": np.zeros(5, np.float32)}  # the uniformly random policy


def test_reinforce_gets_most_of_the_way_to_the_optimum(runtime):
    res = train_reinforce(
        slate_story(),
        ZERO,
        policy="recommender/slate",
        reward="metrics/reward",
        horizon=3,
        runtime=runtime,
        num_steps=40,
        baseline="group",
        group_size=8,
        learning_rate=0.2,
        seed=0,
        quiet=True,
    )
    random, best = expected_reward(np.zeros(5)), best_expected_reward()
    learned = expected_reward(res.params["logits"])
    # exact expected rewards per user and step: random 0.456, best 0.760; require 80% of the gap
    assert learned > random + 0.8 * (best - random)
    curve = res.learning_curve
    assert curve.shape == (40,)
    assert curve[-10:].mean() > curve[:5].mean() + 0.3  # per-user return over 3 steps rises
    assert set(res.history) == {"mean_return", "loss", "grad_norm"}


def test_group_baseline_lowers_gradient_variance(runtime):
    common = dict(
        policy="recommender/slate",
        reward="metrics/reward",
        horizon=3,
        runtime=runtime,
        group_size=8,
        num_rollouts=8,
        num_estimates=12,
        seed=1,
    )
    plain = policy_gradient_estimates(slate_story(), ZERO, baseline=None, **common)
    group = policy_gradient_estimates(slate_story(), ZERO, baseline="group", **common)
    assert plain.shape == group.shape == (12, 5)

    def relative_variance(g):  # total variance over the squared norm of the mean: scale-free
        return g.var(axis=0, ddof=1).sum() / np.square(g.mean(axis=0)).sum()

    # measured about 15 without a baseline and about 0.4 with the group baseline; require a 3x drop
    assert relative_variance(group) < relative_variance(plain) / 3


def test_reward_to_go_and_baselines():
    rewards = np.array([[[1.0], [2.0]], [[3.0], [0.0]]])  # 2 rollouts, 2 steps, 1 user
    np.testing.assert_allclose(reward_to_go(rewards)[:, :, 0], [[3.0, 2.0], [3.0, 0.0]])
    np.testing.assert_allclose(reward_to_go(rewards, 0.5)[:, :, 0], [[2.0, 2.0], [3.0, 0.0]])
    adv, _ = advantages(rewards, baseline="group", group_size=2, discount=1.0, running=None)
    np.testing.assert_allclose(adv[:, 1, 0], [1.0, -1.0], atol=1e-5)  # centred and scaled within the group
    np.testing.assert_allclose(adv[:, 0, 0], [0.0, 0.0], atol=1e-5)  # equal returns: no advantage
    adv, run = advantages(rewards, baseline="mean", group_size=1, discount=1.0, running=None)
    np.testing.assert_allclose(run, [3.0, 1.0])
    np.testing.assert_allclose(adv[:, :, 0], [[0.0, 1.0], [0.0, -1.0]])
    adv, run2 = advantages(rewards, baseline="mean", group_size=1, discount=1.0, running=np.array([1.0, 1.0]))
    np.testing.assert_allclose(adv[:, :, 0], [[2.0, 1.0], [2.0, -1.0]])
    np.testing.assert_allclose(run2, [1.2, 1.0])


@pytest.mark.parametrize("baseline", ["mean", None])
def test_other_baselines_train(runtime, baseline):
    res = train_reinforce(
        slate_story(),
        ZERO,
        policy="recommender",
        reward="metrics/reward",
        horizon=3,
        runtime=runtime,
        num_steps=3,
        baseline=baseline,
        num_rollouts=2,
        learning_rate=0.1,
        seed=0,
        quiet=True,
    )
    assert res.learning_curve.shape == (3,) and np.all(np.isfinite(res.history["loss"]))
    assert not np.allclose(res.params["logits"], 0.0)


def test_grpo_finds_the_optimum_of_a_gaussian_bandit(runtime):
    from inference_models import gaussian_bandit

    from recosim.inference import train_grpo

    res = train_grpo(
        gaussian_bandit(),
        {"mu": np.float32(0.0)},
        policy="policy/action",
        reward="metrics/reward",
        horizon=1,
        runtime=runtime,
        num_steps=25,
        group_size=4,
        num_rollouts=8,
        epochs=4,
        clip=0.2,
        kl=0.01,
        learning_rate=0.1,
        seed=0,
        quiet=True,
    )
    # expected reward -(mu - 3)^2 - 0.25: from -9.25 at mu = 0 to its maximum -0.25 at mu = 3; require mu within 0.3
    assert abs(float(res.params["mu"]) - 3.0) < 0.3
    curve = res.learning_curve
    assert curve.shape == (25,) and curve[-5:].mean() > curve[:3].mean() + 5.0
    assert set(res.history) == {"mean_return", "loss", "grad_norm"}


def one_batch(runtime, make_model, params, policy, horizon, num_rollouts):
    """A REINFORCE engine's first rollouts (no baseline) at ``params``: engine, batch, rewards, advantages."""
    rollout = RolloutOptions(num_rollouts=num_rollouts)
    task = _policy_task("reinforce", make_model, params, policy, "metrics/reward", horizon, runtime, None, rollout)
    engine = ReinforceEngine(task.fw, make_model, task.params, task.spec, OptimizerOptions(), horizon=horizon, seed=3)
    engine.start()
    batch, rewards = engine.sample(0)
    task.spec.check_first(rewards, engine.log_probs(batch))
    adv, _ = task.spec.advantages(rewards, None)
    return engine, batch, adv


def iterated_mnl_score(logits, slate):
    """d log p(slate) / d logits of the iterated MNL: per position, one-hot minus the softmax over what remains."""
    grad, left = np.zeros_like(logits), np.ones_like(logits, dtype=bool)
    for item in slate:
        p = np.where(left, np.exp(logits), 0.0)
        grad += np.eye(len(logits))[item] - p / p.sum()
        left[item] = False
    return grad


@pytest.mark.parametrize("model", ["slate", "gaussian"])
def test_the_gradient_estimate_equals_its_closed_form_both_ways(runtime, model):
    # the gradient of sum(A * log p(draws)) / (rollouts * users) with the draws held fixed, from the log-probabilities
    # scored inside the rollouts (JAX) and from the policy evaluated again on them, against the score function
    # written out in NumPy; float32 sums over 4 rollouts x 3 users x 3 steps: tolerance 1e-4 relative
    if model == "slate":
        logits = np.array([0.3, -0.2, 0.0, 0.5, -0.4], np.float32)
        engine, batch, adv = one_batch(runtime, slate_story(num_users=3), {"logits": logits}, "recommender/slate", 3, 4)
        slates = to_numpy(batch.trajectories)["recommender"]["slate"]  # [rollouts, steps, users, 2]
        scores = np.apply_along_axis(lambda s: iterated_mnl_score(logits.astype(np.float64), s), -1, slates)
        exact = np.einsum("rtu,rtui->i", adv, scores) / (slates.shape[0] * slates.shape[2])
    else:
        engine, batch, adv = one_batch(runtime, gaussian_bandit(num_users=3), {"mu": np.float32(0.7)},
                                       "policy/action", 1, 4)  # fmt: skip
        action = to_numpy(batch.trajectories)["policy"]["action"].astype(np.float64)
        exact = np.array([np.sum(adv * (action - 0.7) / 0.5**2) / action[:, 0].size])  # d log N(a; mu, 0.5) / d mu
    recorded = engine.ops.gradient(batch, adv)
    again = engine.ops.gradient(Rollouts(batch.trajectories), adv)
    assert np.max(np.abs(exact)) > 0.05  # a gradient worth comparing
    np.testing.assert_allclose(recorded, exact, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(again, exact, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(engine.log_probs(batch), engine.ops.log_probs(batch.trajectories), rtol=1e-5, atol=1e-5)

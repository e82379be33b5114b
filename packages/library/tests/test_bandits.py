"""Bandit problems, algorithms, regret metrics and the bandit story, on every runtime."""

from __future__ import annotations

import numpy as np
import pytest

from recosim.core import Value
from recosim.core.testing import make_runtime_for, run_block, runtime_names, to_numpy
from recosim.library.bandits import (
    UCB1,
    BanditAlgorithm,
    BernoulliBandit,
    BernoulliThompsonSampling,
    CountingAlgorithm,
    EpsilonGreedy,
    GaussianBandit,
    GaussianThompsonSampling,
    LinearContextualBandit,
    LinearThompsonSampling,
    LinUCB,
    RegretMetrics,
    UniformRandom,
    pseudo_regret_increment,
)
from recosim.library.stories.bandit import BanditStory, bandit_story

RUNTIMES = runtime_names()
MEANS = np.array([0.2, 0.4, 0.6, 0.8], np.float32)
N, K = 40, 4


def _trajectory(runtime, problem, algorithm, steps, seed=0):
    rt = make_runtime_for(runtime, bandit_story(problem, algorithm), seed=seed)
    return to_numpy(rt.trajectory(steps))


def _mean_pseudo_regret(traj):
    return traj["regret"]["pseudo_regret"].mean(axis=-1)


class AlwaysArm(CountingAlgorithm):
    """A fixed policy, for hand-checked regret."""

    def __init__(self, arm, num_arms, num_instances):
        super().__init__(num_arms, num_instances)
        self.fixed = arm

    def arm(self, state, context=None):
        from recosim.core import get_backend

        B = get_backend()
        return Value(arm=B.np.full(self.batch_shape, self.fixed, dtype="int32"))


# -- the metrics, hand-checked ---------------------------------------------------


def test_pseudo_regret_increment_by_hand():
    expected = np.array([[0.1, 0.5, 0.3], [2.0, -1.0, 0.0]], np.float32)
    arm = np.array([2, 1], np.int32)
    np.testing.assert_allclose(pseudo_regret_increment(expected, arm), [0.2, 3.0], rtol=1e-6)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_regret_of_a_fixed_policy_by_hand(runtime):
    steps = 6
    problem = BernoulliBandit(3, 5, means=[0.1, 0.5, 0.9])
    traj = _trajectory(runtime, problem, AlwaysArm(1, 3, 5), steps)
    rewards = traj["reward"]["reward"]  # [T, N] of 0/1
    assert set(np.unique(rewards)) <= {0.0, 1.0}
    t = np.arange(1, steps + 1, dtype=np.float32)[:, None]
    np.testing.assert_allclose(traj["regret"]["pseudo_regret"], np.broadcast_to(0.4 * t, (steps, 5)), rtol=1e-5)
    np.testing.assert_allclose(traj["regret"]["cumulative_reward"], np.cumsum(rewards, axis=0), rtol=1e-6)
    np.testing.assert_allclose(traj["regret"]["regret"], 0.9 * t - np.cumsum(rewards, axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(traj["arm"]["arm"], 1)
    np.testing.assert_allclose(traj["algorithm state"]["counts"][-1], np.tile([0.0, steps, 0.0], (5, 1)))
    np.testing.assert_allclose(traj["algorithm state"]["sums"][-1][:, 1], rewards.sum(axis=0))


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_contextual_pseudo_regret_uses_the_steps_context(runtime):
    theta = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)  # arm k pays x_k
    problem = LinearContextualBandit(2, 3, context_dim=2, theta=theta)
    traj = _trajectory(runtime, problem, AlwaysArm(0, 2, 3), 4)
    x = traj["context"]["features"]  # [T, N, 2]
    np.testing.assert_allclose(
        traj["regret"]["pseudo_regret"], np.cumsum(x.max(axis=-1) - x[..., 0], axis=0), rtol=1e-5, atol=1e-6
    )


# -- sublinear regret on fixed-seed problems ----------------------------------------


def _check_learns(traj, steps, uniform_per_step):
    regret = _mean_pseudo_regret(traj)
    at_t, at_2t = regret[steps - 1], regret[2 * steps - 1]
    assert at_2t - at_t < 0.75 * at_t, (at_t, at_2t)  # a linear regret would add as much again
    assert at_2t < 0.5 * uniform_per_step * 2 * steps, (at_2t, uniform_per_step * 2 * steps)


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("algorithm", [UCB1, BernoulliThompsonSampling], ids=["ucb1", "beta-thompson"])
def test_bernoulli_algorithms_have_sublinear_regret(runtime, algorithm):
    steps = 150
    traj = _trajectory(runtime, BernoulliBandit(K, N, means=MEANS), algorithm(K, N), 2 * steps, seed=3)
    _check_learns(traj, steps, MEANS.max() - MEANS.mean())


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_uniform_policy_has_linear_pseudo_regret(runtime):
    steps = 150
    traj = _trajectory(runtime, BernoulliBandit(K, N, means=MEANS), UniformRandom(K, N), steps, seed=3)
    regret = _mean_pseudo_regret(traj)[-1]
    per_step = MEANS.max() - MEANS.mean()
    assert abs(regret - per_step * steps) < 0.15 * per_step * steps
    pulls = traj["algorithm state"]["counts"][-1].sum(axis=0) / (N * steps)
    np.testing.assert_allclose(pulls, 1 / K, atol=0.05)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_epsilon_greedy_explores_at_rate_epsilon_and_beats_uniform(runtime):
    steps = 150
    traj = _trajectory(runtime, BernoulliBandit(K, N, means=MEANS), EpsilonGreedy(K, N, epsilon=0.2), steps, seed=1)
    assert abs(traj["arm"]["explore"].mean() - 0.2) < 0.03
    greedy = traj["arm"]["explore"] == 0
    assert np.all(traj["arm"]["arm"][~greedy] == traj["arm"]["random_arm"][~greedy])
    assert _mean_pseudo_regret(traj)[-1] < 0.5 * (MEANS.max() - MEANS.mean()) * steps


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_gaussian_thompson_sampling_has_sublinear_regret(runtime):
    steps = 150
    means = np.array([0.0, 0.5, 1.0, 1.5], np.float32)
    traj = _trajectory(runtime, GaussianBandit(K, N, means=means), GaussianThompsonSampling(K, N), 2 * steps, seed=2)
    _check_learns(traj, steps, means.max() - means.mean())


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize(
    "make",
    [lambda: LinUCB(K, N, 3, alpha=0.5), lambda: LinearThompsonSampling(K, N, 3, scale=0.1)],
    ids=["linucb", "linear-thompson"],
)
def test_linear_algorithms_have_sublinear_regret(runtime, make):
    steps = 100
    traj = _trajectory(runtime, LinearContextualBandit(K, N, context_dim=3), make(), 2 * steps, seed=4)
    # a uniform policy loses max_k mu_k - mean_k mu_k in expectation at every step
    mu = np.einsum("tnkd,tnd->tnk", traj["bandit problem"]["theta"], traj["context"]["features"])
    uniform_per_step = (mu.max(axis=-1) - mu.mean(axis=-1)).mean()
    _check_learns(traj, steps, uniform_per_step)


# -- algorithm internals ---------------------------------------------------------------


def test_gaussian_posterior_by_hand():
    alg = GaussianThompsonSampling(2, 1, prior_mean=1.0, prior_scale=2.0, noise_scale=0.5)
    state = Value(counts=np.array([[0.0, 4.0]], np.float32), sums=np.array([[0.0, 6.0]], np.float32))
    post = alg.posterior(state)
    precision = 1 / 4 + 4 / 0.25
    np.testing.assert_allclose(post.loc, [[1.0, (1.0 / 4 + 6.0 / 0.25) / precision]], rtol=1e-6)
    np.testing.assert_allclose(post.scale, [[2.0, precision**-0.5]], rtol=1e-6)


def test_beta_posterior_by_hand():
    alg = BernoulliThompsonSampling(2, 1, prior_alpha=2.0, prior_beta=3.0)
    post = alg.posterior(Value(counts=np.array([[0.0, 5.0]], np.float32), sums=np.array([[0.0, 4.0]], np.float32)))
    np.testing.assert_allclose(post.concentration1, [[2.0, 6.0]])
    np.testing.assert_allclose(post.concentration0, [[3.0, 4.0]])


def test_ucb1_index_by_hand():
    # t = 10 pulls; arm 0: mean 0.5 over 8 pulls, arm 1: mean 0.0 over 2 pulls
    state = Value(counts=np.array([[8.0, 2.0]], np.float32), sums=np.array([[4.0, 0.0]], np.float32))

    def bonus(n, c):
        return np.sqrt(c * np.log(10.0) / n)

    for c in (0.5, 2.0):
        expected = int(np.argmax([0.5 + bonus(8, c), 0.0 + bonus(2, c)]))
        assert UCB1(2, 1, exploration=c).arm(state).get("arm").tolist() == [expected]
    assert {int(np.argmax([0.5 + bonus(8, c), bonus(2, c)])) for c in (0.5, 2.0)} == {0, 1}  # both branches


def test_linucb_bonus_by_hand():
    alg = LinUCB(2, 1, context_dim=1, alpha=2.0, regularization=1.0)
    # arm 0: A = 1 + 9 = 10, b = 9 (theta 0.9); arm 1 never pulled: A = 1, b = 0
    state = Value(gram=np.array([[[[10.0]], [[1.0]]]], np.float32), moment=np.array([[[9.0], [0.0]]], np.float32))
    x = Value(features=np.array([[1.0]], np.float32))
    # scores: arm 0: 0.9 + 2 sqrt(0.1) = 1.53; arm 1: 0 + 2 * 1 = 2
    assert alg.arm(state, x).get("arm").tolist() == [1]
    assert LinUCB(2, 1, context_dim=1, alpha=0.5).arm(state, x).get("arm").tolist() == [0]  # 1.06 vs 0.5


def test_linear_estimates_are_the_ridge_solution():
    rng = np.random.default_rng(0)
    alg = LinUCB(2, 1, context_dim=3, regularization=0.5)
    state = alg.initial_state()
    xs, rs = rng.normal(size=(6, 3)).astype(np.float32), rng.normal(size=6).astype(np.float32)
    for x, r in zip(xs, rs):
        state = alg.next_state(
            state, Value(arm=np.array([1], np.int32)), Value(reward=np.array([r])), Value(features=x[None])
        )
    theta, _ = alg.estimates(state)
    ridge = np.linalg.solve(xs.T @ xs + 0.5 * np.eye(3), xs.T @ rs)
    np.testing.assert_allclose(theta[0, 1], ridge, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(theta[0, 0], 0.0)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_random_problems_draw_per_instance_parameters(runtime):
    traj = _trajectory(runtime, BernoulliBandit(3, 6), UCB1(3, 6), 2)
    means = traj["bandit problem"]["means"]
    assert means.shape == (2, 6, 3) and np.all((means >= 0) & (means <= 1))
    np.testing.assert_array_equal(means[0], means[1])  # static
    assert len(np.unique(means[0])) == 18
    out = run_block(runtime, lambda: LinearContextualBandit(2, 3, 4).initial_state())
    assert out["theta"].shape == (1, 3, 2, 4)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_bandit_story_is_reproducible_and_logs_its_draws(runtime):
    story = BanditStory(GaussianBandit(K, 5, means=MEANS), GaussianThompsonSampling(K, 5))
    rt = make_runtime_for(runtime, story.variables(), seed=7)
    a, b = to_numpy(rt.trajectory(5, seed=7)), to_numpy(rt.trajectory(5, seed=7))
    c = to_numpy(rt.trajectory(5, seed=8))
    assert not np.array_equal(a["arm"]["posterior_sample"], c["arm"]["posterior_sample"])
    np.testing.assert_array_equal(a["arm"]["arm"], b["arm"]["arm"])
    assert a["arm"]["posterior_sample"].shape == (5, 5, K)
    np.testing.assert_array_equal(a["arm"]["arm"], a["arm"]["posterior_sample"].argmax(axis=-1))


# -- errors -------------------------------------------------------------------------------


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="num_arms"):
        UCB1(0, 3)
    with pytest.raises(ValueError, match="means"):
        BernoulliBandit(3, 2, means=[0.1, 0.2])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        BernoulliBandit(2, 2, means=[0.1, 1.2])
    with pytest.raises(ValueError, match="epsilon"):
        EpsilonGreedy(2, 2, epsilon=1.5)
    with pytest.raises(ValueError, match="theta"):
        LinearContextualBandit(2, 2, 3, theta=np.zeros((2, 4)))
    with pytest.raises(ValueError, match="num_arms=3"):
        bandit_story(BernoulliBandit(2, 4), UCB1(3, 4))
    with pytest.raises(ValueError, match="contextual"):
        bandit_story(BernoulliBandit(2, 4), LinUCB(2, 4, 3))
    with pytest.raises(ValueError, match="context_dim"):
        bandit_story(LinearContextualBandit(2, 4, 2), LinUCB(2, 4, 3))
    with pytest.raises(TypeError, match="BanditProblem"):
        bandit_story("problem", UCB1(2, 2))
    with pytest.raises(TypeError, match="BanditProblem"):
        RegretMetrics(UCB1(2, 2))


def test_an_algorithm_that_forgets_a_behaviour_is_refused():
    class NoUpdate(BanditAlgorithm):
        def initial_state(self):
            return Value()

        def arm(self, state, context=None):
            return Value()

        def state_spec(self):
            raise AssertionError

    with pytest.raises(TypeError, match=r"NoUpdate .* BanditAlgorithm prototype .* next_state"):
        NoUpdate(2, 2)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_log_probability_of_a_bandit_run_by_hand(runtime):
    steps, eps = 5, 0.3
    rt = make_runtime_for(runtime, bandit_story(BernoulliBandit(K, 6, means=MEANS), EpsilonGreedy(K, 6, eps)), seed=5)
    traj = rt.trajectory(steps)
    lp = float(np.asarray(rt.log_probability(traj)))
    data = to_numpy(traj)
    explore, arm, reward = data["arm"]["explore"], data["arm"]["arm"], data["reward"]["reward"]
    p = MEANS[arm]
    by_hand = (
        np.log(np.where(explore == 1, eps, 1 - eps)).sum()
        + explore.size * np.log(1 / K)  # random_arm is drawn (and scored) every step
        + np.log(np.where(reward == 1, p, 1 - p)).sum()
    )
    np.testing.assert_allclose(lp, by_hand, rtol=1e-4)

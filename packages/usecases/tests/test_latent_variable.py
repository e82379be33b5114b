"""The latent-variable model (reference sheet section 3) on NumPy and JAX; its simulation on every runtime (see conftest.py)."""

import numpy as np
import pytest
from model_tools import gradients

from recosim.core.testing import make_runtime_for, runtime_names, to_numpy
from recosim.usecases.latent_variable import (
    DEFAULT_HORIZON,
    LATENT,
    TRUE_ALPHA,
    LatentVariableConfig,
    init_params,
    make_model,
    true_params,
)

SMALL = LatentVariableConfig(num_users=6)


@pytest.fixture(scope="module", params=runtime_names())
def runtime(request):
    return request.param


@pytest.fixture(scope="module")
def simulated(runtime):
    """`DEFAULT_HORIZON` steps of SMALL on ``runtime``, shared by the tests that check different parts."""
    return _simulate(runtime)


def _simulate(runtime, cfg=SMALL, steps=DEFAULT_HORIZON, seed=0):
    rt = make_runtime_for(runtime, make_model(true_params(cfg), cfg), seed=seed)
    traj = rt.trajectory(steps)
    return rt, traj, to_numpy(traj)


def _utility(intent, features):
    return 2.0 - np.linalg.norm(intent[:, None, :] - features, axis=-1)


def _logsumexp(x, axis=-1):
    m = np.max(x, axis=axis, keepdims=True)
    return np.squeeze(m, axis) + np.log(np.sum(np.exp(x - m), axis=axis))


def _normal_lp(x, loc, scale):
    return -0.5 * ((x - loc) / scale) ** 2 - np.log(scale) - 0.5 * np.log(2 * np.pi)


@pytest.mark.every_runtime
def test_simulates_with_the_right_shapes_and_dynamics(simulated):
    cfg, steps = SMALL, DEFAULT_HORIZON
    _, _, traj = simulated
    U, K, T = cfg.num_users, cfg.slate_size, cfg.num_topics
    feats, state = traj["slate"]["features"], traj["user state"]
    assert feats.shape == (steps, U, K, T) and state["intent"].shape == (steps, U, T)
    assert state["satisfaction"].shape == traj["user response"]["choice"].shape == (steps, U)
    np.testing.assert_array_equal(state["intent"], np.broadcast_to(state["intent"][0], state["intent"].shape))
    # s_t = 0.8 s_{t-1} + (m_t - m_{t-1}) + N(0, 0.01), from s_{-1} = 5 and m_{-1} = 0
    m = np.stack([_utility(state["intent"][0], feats[t]).max(-1) for t in range(steps)])
    previous_s = np.concatenate([np.full((1, U), 5.0), state["satisfaction"][:-1]])
    previous_m = np.concatenate([np.zeros((1, U)), m[:-1]])
    noise = state["satisfaction"] - (TRUE_ALPHA * previous_s + m - previous_m)
    assert np.abs(noise).max() < 0.05  # five standard deviations
    assert 0 <= traj["user response"]["choice"].min() and traj["user response"]["choice"].max() <= K


def test_population_of_two_thousand_users():
    cfg = LatentVariableConfig(num_users=2000)
    _, _, traj = _simulate("numpy", cfg, steps=2, seed=1)
    intent = traj["user state"]["intent"][0]
    assert intent.shape == (2000, 3)
    # intents sit around the three one-hot vectors, each with about a third of the users
    nearest = np.argmin(np.linalg.norm(intent[:, None, :] - np.eye(3), axis=-1), axis=1)
    assert np.all(np.abs(np.bincount(nearest, minlength=3) / 2000 - 1 / 3) < 0.05)
    spread = intent - np.eye(3)[nearest]
    assert abs(spread.var() - 0.1) < 0.01
    assert abs(traj["slate"]["features"].std() - 0.5) < 0.01


def test_log_probability_is_finite_and_step_zero_matches_a_hand_computation(simulated):
    cfg = SMALL
    rt, traj, logged = simulated
    assert np.isfinite(float(np.asarray(rt.log_probability(traj))))
    first = float(np.asarray(rt.log_probability(traj, num_steps=0)))
    feats = logged["slate"]["features"][0]
    intent = logged["user state"]["intent"][0]
    s0 = logged["user state"]["satisfaction"][0]
    choice = logged["user response"]["choice"][0]
    lp_slate = _normal_lp(feats, 0.0, 0.5).sum()
    per_component = _normal_lp(intent[:, None, :], np.eye(3), np.sqrt(0.1)).sum(-1)  # [U, 3]
    lp_intent = np.sum(_logsumexp(per_component + np.log(1 / 3)))
    utility = _utility(intent, feats)
    lp_satisfaction = _normal_lp(s0, TRUE_ALPHA * 5.0 + utility.max(-1), 0.01).sum()
    logits = np.concatenate([utility + s0[:, None], np.zeros((cfg.num_users, 1))], axis=1)
    lp_choice = np.sum(logits[np.arange(cfg.num_users), choice] - _logsumexp(logits))
    expected = lp_slate + lp_intent + lp_satisfaction + lp_choice
    assert first == pytest.approx(expected, rel=1e-4, abs=1e-2)


def test_log_probability_in_alpha_peaks_near_the_truth(runtime):
    cfg = LatentVariableConfig(num_users=10)
    _, _, logged = _simulate(runtime, cfg, seed=3)

    def score(alpha):
        rt = make_runtime_for(runtime, make_model({"alpha": np.full(10, alpha, np.float32)}, cfg), seed=0)
        return float(np.asarray(rt.log_probability(logged)))

    at_truth = score(0.8)
    assert np.isfinite(at_truth)
    for far in (0.2, 0.5, 1.0):
        assert score(far) < at_truth - 100.0, far


def test_alpha_gradient_points_to_the_truth(runtime):
    if runtime == "numpy":
        pytest.skip("the NumPy runtime does not differentiate")
    cfg = SMALL
    _, _, logged = _simulate(runtime, seed=4)
    start = init_params(cfg)  # alpha evenly on [0, 1]

    def loss(params):
        return make_runtime_for(runtime, make_model(params, cfg), seed=0).log_probability(logged)

    value, grads = gradients(runtime, loss, start)
    assert np.isfinite(value)
    g = grads["alpha"]
    assert g.shape == (cfg.num_users,) and np.all(np.isfinite(g))
    # the log-probability rises toward 0.8 from both sides
    below, above = start["alpha"] < 0.7, start["alpha"] > 0.9
    assert np.all(g[below] > 0) and np.all(g[above] < 0)


def test_parameters_are_checked_and_the_latent_is_named():
    assert LATENT == "user state/intent" and make_model(true_params(SMALL), SMALL).latent == LATENT
    assert init_params(LatentVariableConfig(num_users=3))["alpha"].tolist() == [0.0, 0.5, 1.0]
    with pytest.raises(ValueError, match=r"params\['alpha'\] has shape \(4,\); expected \(6,\)"):
        make_model({"alpha": np.zeros(4, np.float32)}, SMALL)
    with pytest.raises(ValueError, match="unknown keys \\['beta'\\]"):
        make_model({"alpha": np.zeros(6, np.float32), "beta": 1.0}, SMALL)
    with pytest.raises(ValueError, match="num_users"):
        LatentVariableConfig(num_users=0)

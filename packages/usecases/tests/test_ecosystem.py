"""The ecosystem model on NumPy and JAX, its trajectory on every runtime (see conftest.py; its use case: test_ecosystem_usecase.py)."""

import numpy as np
import pytest

from recosim.core import RandomVariableError, log_probability_from_value_trajectory
from recosim.core.testing import make_runtime_for, runtime_names, to_numpy
from recosim.usecases.ecosystem import (
    EcosystemConfig,
    default_provider_means,
    ecosystem_variables,
    sample_provider_means,
)


@pytest.fixture(params=runtime_names())
def runtime(request):
    return request.param


def small(cap=1.2, users=30, docs=25):
    return EcosystemConfig(num_users=users, num_docs=docs, boost_cap=cap, provider_means=default_provider_means())


def test_shipped_provider_means_match_the_documented_draw_shape():
    means = default_provider_means()
    assert means.shape == (80, 2) and means.dtype == np.float32
    drawn = sample_provider_means(0)
    assert drawn.shape == (80, 2)
    # fan-out 2: providers come in pairs around one centre, much closer than centres are to each other
    pair_gap = np.linalg.norm(drawn[0::2] - drawn[1::2], axis=1).mean()
    assert pair_gap < 2.0 < np.linalg.norm(drawn[0::2][:-1] - drawn[0::2][1:], axis=1).mean()


@pytest.mark.every_runtime
def test_trajectory_is_internally_consistent(runtime):
    cfg = small()
    traj = to_numpy(make_runtime_for(runtime, ecosystem_variables(cfg), seed=3).trajectory(6))
    docs, slate, resp = traj["available docs"], traj["slate"], traj["user response"]
    T = 6
    assert slate["doc_index"].shape == (T, 30, 3) and resp["choice"].shape == (T, 30)
    for t in range(T):
        np.testing.assert_allclose(slate["features"][t], docs["features"][t][slate["doc_index"][t]], rtol=1e-6)
        np.testing.assert_array_equal(slate["provider"][t], docs["provider"][t][slate["doc_index"][t]])
        np.testing.assert_array_equal(resp["provider"][t],
                                      np.take_along_axis(slate["provider"][t], resp["choice"][t][:, None], 1)[:, 0])
        assert len(set(slate["doc_index"][t][0])) == 3  # no document twice in a slate
    counts = np.stack([np.bincount(resp["provider"][t], minlength=80) for t in range(T)]).astype(np.float32)
    expected = np.zeros(80, np.float32)
    for t in range(T):
        expected = 0.96 * expected + counts[t]
        np.testing.assert_allclose(traj["corpus state"]["clicks"][t], expected, rtol=1e-5)
    np.testing.assert_allclose(traj["recommender state"]["pulls"].sum(axis=-1), np.arange(1, T + 1)[:, None] * np.ones(30))
    np.testing.assert_allclose(traj["metrics"]["cumulative_utility"], np.cumsum(resp["utility"], axis=0), rtol=1e-4, atol=1e-4)


def test_myopic_policy_shows_the_most_similar_documents(runtime):
    cfg = small(cap=0.0)
    traj = to_numpy(make_runtime_for(runtime, ecosystem_variables(cfg), seed=1).trajectory(3))
    u = traj["user state"]["interest"][0]
    for t in range(3):
        d = traj["available docs"]["features"][t]
        sim = -np.linalg.norm(u[:, None, :] - d[None], axis=-1)
        top = np.argsort(-sim, axis=1)[:, :3]
        np.testing.assert_array_equal(traj["slate"]["doc_index"][t], top)


def test_user_interests_follow_the_provider_mixture():
    means = default_provider_means()
    cfg = EcosystemConfig(num_users=20000, num_docs=5, provider_means=means)
    first = to_numpy(make_runtime_for("numpy", ecosystem_variables(cfg), seed=0).execute(0))
    comp = first["user state"]["provider"]
    norms = np.linalg.norm(means, axis=1)
    probs = np.exp(-np.log1p(norms))
    probs /= probs.sum()
    freq = np.bincount(comp, minlength=80) / comp.size
    assert np.abs(freq - probs).max() < 4 * np.sqrt(probs.max() / comp.size)
    spread = np.linalg.norm(first["user state"]["interest"] - means[comp], axis=1) / (20.5 / (1 + norms[comp]))
    assert abs(np.mean(spread**2) / 2 - 1) < 0.05  # isotropic 2-D normal: E||z||^2 = 2 scale^2


def test_log_probability_refuses_the_unlogged_score_noise():
    cfg = small()
    variables = ecosystem_variables(cfg)
    traj = make_runtime_for("numpy", variables, seed=0).trajectory(2)
    with pytest.raises(RandomVariableError, match="'slate/score_noise' is not observed"):
        log_probability_from_value_trajectory(variables, traj)


def test_bad_configuration_is_named():
    with pytest.raises(ValueError, match="slate_size"):
        EcosystemConfig(num_docs=2, slate_size=3)


# The level of utility before the JAX and TF backends got their own samplers and top-k (and the
# score noise became one scalar Uniform drawn with a sample shape): the mean utility per user and
# step at 60 users x 40 documents x 10 steps, boost cap 1.2, shipped provider means, over 1000
# runs on JAX: -1.3272, run-to-run standard deviation 0.3168.
BEFORE_MEAN, BEFORE_SD, BEFORE_RUNS = -1.3272, 0.3168, 1000


def test_utility_level_is_statistically_unchanged(runtime):
    runs, steps = 32, 10
    rt = make_runtime_for(runtime, ecosystem_variables(small(1.2, users=60, docs=40)), seed=0)
    if runtime == "numpy":
        finals = [to_numpy(rt.execute(steps - 1, seed=s))["metrics"]["cumulative_utility"] for s in range(runs)]
        utility = np.stack(finals).mean(axis=-1) / steps
    else:
        utility = to_numpy(rt.run_many(list(range(runs)), num_steps=steps - 1))["metrics"]["cumulative_utility"]
        utility = utility.mean(axis=-1) / steps
    # four standard errors of the difference of two independent means
    tolerance = 4 * BEFORE_SD * np.sqrt(1 / runs + 1 / BEFORE_RUNS)
    assert abs(utility.mean() - BEFORE_MEAN) < tolerance
    assert 0.5 * BEFORE_SD < utility.std(ddof=1) < 2.0 * BEFORE_SD

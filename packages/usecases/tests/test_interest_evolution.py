"""The interest-evolution model (reference sheet section 2) on NumPy and JAX; its simulation on every runtime (see conftest.py)."""

import numpy as np
import pytest
from model_tools import gradients, leaves, variable_log_probability

from recosim.core.testing import make_runtime_for, runtime_names, to_numpy
from recosim.usecases.interest_evolution import (
    CUMULATIVE_REWARD,
    POLICY,
    REWARD,
    InterestEvolutionConfig,
    history_scores,
    init_params,
    make_model,
    sample_corpus,
    topic_quality_means,
)

TINY = InterestEvolutionConfig(num_users=5, num_docs=8, history_length=3, embedding_dim=4, hidden_units=6)


@pytest.fixture(scope="module", params=runtime_names())
def runtime(request):
    return request.param


@pytest.fixture(scope="module")
def simulated(runtime):
    """Six steps of TINY on ``runtime`` (recommender of seed 0), shared by the tests that check different parts."""
    return _trajectory(runtime, steps=6)


def _trajectory(runtime, cfg=TINY, steps=6, seed=0, params_seed=0):
    story = make_model(init_params(params_seed, cfg), cfg)
    rt = make_runtime_for(runtime, story, seed=seed)
    traj = rt.trajectory(steps)
    return story, rt, traj, to_numpy(traj)


def _scores(params, ids, times, slope=0.3):
    """The recommender network written out in NumPy."""
    emb = params["history_embeddings"][ids]
    flat = np.concatenate([emb, times[..., None]], axis=-1).reshape(ids.shape[0], -1)
    hidden = flat @ params["encoder_1"]["kernel"] + params["encoder_1"]["bias"]
    hidden = np.where(hidden > 0, hidden, slope * hidden)
    users = hidden @ params["encoder_2"]["kernel"] + params["encoder_2"]["bias"]
    return users @ params["item_embeddings"].T


def _logsumexp(x, axis=-1):
    m = np.max(x, axis=axis, keepdims=True)
    return np.squeeze(m, axis) + np.log(np.sum(np.exp(x - m), axis=axis))


def test_corpus_follows_the_reference_recipe():
    assert topic_quality_means(2).tolist() == [-1.0, 0.0]
    cfg = InterestEvolutionConfig(num_docs=4000, corpus_seed=3)
    docs = sample_corpus(cfg)
    assert docs["doc_id"].tolist() == list(range(1, 4001))
    np.testing.assert_array_equal(docs["length"], 2.0)
    assert abs(np.mean(docs["topic"]) - 0.5) < 0.03  # uniform topics: 4 standard errors
    for k, mean in enumerate([-1.0, 0.0]):
        on = docs["topic"] == k
        assert abs(docs["quality"][on].mean() - mean) < 0.02 and abs(docs["quality"][on].std() - 0.1) < 0.01
        centred = docs["features"][on] - np.eye(2)[k]
        np.testing.assert_allclose(centred.mean(0), 0.0, atol=0.06)
        np.testing.assert_allclose(centred.std(0), 0.7, atol=0.04)
    again = sample_corpus(cfg)
    np.testing.assert_array_equal(docs["features"], again["features"])  # frozen: drawn from the seed


@pytest.mark.every_runtime
def test_simulates_with_the_right_shapes_and_dynamics(simulated):
    steps, cfg = 6, TINY
    _, _, _, traj = simulated
    U, K, H, T = cfg.num_users, cfg.slate_size, cfg.history_length, cfg.num_topics
    docs = sample_corpus(cfg)
    slate, resp, user = traj["slate"], traj["user response"], traj["user state"]
    hist = traj["recommender state"]
    assert slate["doc_index"].shape == (steps, U, K) and slate["features"].shape == (steps, U, K, T)
    assert resp["choice"].shape == resp["reward"].shape == (steps, U) and user["interest"].shape == (steps, U, T)
    assert hist["doc_id"].shape == hist["consumed_time"].shape == (steps, U, H)
    assert traj["user observation"] == {}
    # slates: distinct documents, gathered from the frozen corpus
    assert all(len(set(row)) == K for row in slate["doc_index"].reshape(-1, K))
    np.testing.assert_allclose(slate["features"], docs["features"][slate["doc_index"]])
    np.testing.assert_array_equal(slate["doc_id"], slate["doc_index"] + 1)
    clicked = resp["choice"] < K
    picked = np.take_along_axis(slate["doc_index"], np.minimum(resp["choice"], K - 1)[..., None], -1)[..., 0]
    quality = docs["quality"][picked]
    expected_time = np.where(clicked, 2.0 / (1.0 + np.exp(quality)), 0.0)
    np.testing.assert_allclose(resp["consumed_time"], expected_time, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(resp["reward"], resp["consumed_time"])
    np.testing.assert_allclose(traj["metrics"]["cumulative_reward"], np.cumsum(resp["reward"], 0), rtol=1e-5)
    # interests move toward the clicked document (then squashed) and stay otherwise
    for t in range(1, steps):
        u = user["interest"][t - 1]
        d = docs["features"][picked[t]]
        moved = u + 0.1 * quality[t][:, None] * (d - u)
        expected = np.where(clicked[t][:, None], 40.0 * (1.0 / (1.0 + np.exp(-moved / 10.0)) - 0.5), u)
        np.testing.assert_allclose(user["interest"][t], expected, rtol=1e-4, atol=1e-5)
    # the recommender's history: the last H clicked ids and times, oldest first, zero-padded (as every
    # state of the story, it starts from its initial value and takes in the responses of steps 1, 2, ...)
    for i in range(U):
        later = clicked[1:, i]
        ids = list(docs["doc_id"][picked[1:, i][later]])
        times = list(resp["consumed_time"][1:, i][later])
        want = ([0] * H + ids)[-H:]
        assert hist["doc_id"][-1, i].tolist() == want
        np.testing.assert_allclose(hist["consumed_time"][-1, i], ([0.0] * H + times)[-H:], rtol=1e-6)


def test_log_probability_is_finite_and_step_zero_matches_a_hand_computation(simulated):
    cfg = TINY
    params = init_params(0, cfg)
    _, rt, traj, logged = simulated
    total = float(np.asarray(rt.log_probability(traj)))
    assert np.isfinite(total)
    first = float(np.asarray(rt.log_probability(traj, num_steps=0)))
    interest = logged["user state"]["interest"][0]
    lp_interest = np.sum(-0.5 * interest**2 - 0.5 * np.log(2 * np.pi))
    scores = _scores(
        params,
        np.zeros((cfg.num_users, cfg.history_length), np.int32),
        np.zeros((cfg.num_users, cfg.history_length), np.float32),
    )
    lp_slate = 0.0
    for i, row in enumerate(logged["slate"]["doc_index"][0]):
        remaining = list(range(cfg.num_docs))
        for j in row:
            lp_slate += scores[i, j] - _logsumexp(scores[i, remaining])
            remaining.remove(j)
    feats = logged["slate"]["features"][0]
    logits = np.concatenate([2.0 - np.linalg.norm(interest[:, None] - feats, axis=-1), np.zeros((cfg.num_users, 1))], 1)
    choice = logged["user response"]["choice"][0]
    lp_choice = np.sum(logits[np.arange(cfg.num_users), choice] - _logsumexp(logits))
    assert first == pytest.approx(lp_interest + lp_slate + lp_choice, rel=1e-4, abs=1e-3)
    assert total < first  # later steps add (negative) log-probabilities of discrete draws
    # the policy's share of step 0 is the slate term alone
    assert variable_log_probability(
        rt.network, {k: {f: x[:1] for f, x in v.items()} for k, v in logged.items()}, POLICY, "numpy"
    ) == pytest.approx(lp_slate, rel=1e-4)


def test_slate_log_probability_has_finite_gradients_with_respect_to_the_recommender(runtime, simulated):
    if runtime == "numpy":
        pytest.skip("the NumPy runtime does not differentiate")
    cfg = TINY
    params = init_params(0, cfg)
    _, _, _, logged = simulated
    value, grads = gradients(
        runtime, lambda p: variable_log_probability(make_model(p, cfg), logged, POLICY, runtime), params
    )
    assert np.isfinite(value)
    found = leaves(grads)
    assert len(found) == len(leaves(params)) and all(g is not None and np.all(np.isfinite(g)) for g in found)
    # every parameter the scores depend on moves the log-probability
    for key in ("encoder_1", "encoder_2", "item_embeddings"):
        assert any(np.abs(g).max() > 0 for g in leaves(grads[key])), key
    # and the gradient matches a finite difference of the same function along a random direction
    rng = np.random.default_rng(0)
    direction = {k: v for k, v in zip(["item_embeddings"], [rng.normal(size=params["item_embeddings"].shape)])}
    eps = 1e-2
    shifted = lambda s: variable_log_probability(  # noqa: E731
        make_model(
            {
                **params,
                "item_embeddings": (params["item_embeddings"] + s * direction["item_embeddings"]).astype(np.float32),
            },
            cfg,
        ),
        logged,
        POLICY,
        "numpy",
    )
    numeric = (shifted(eps) - shifted(-eps)) / (2 * eps)
    analytic = float(np.sum(grads["item_embeddings"] * direction["item_embeddings"]))
    assert analytic == pytest.approx(numeric, rel=2e-2, abs=2e-2)


def test_random_recommender_consumed_time_is_in_the_reference_range(runtime):
    # At the reference size (1000 users, 100 steps) an untrained recommender gets a mean cumulative
    # consumed time of about 46 (reference) / 43-55 here over corpus and initialisation seeds. The
    # first steps earn more (interests have not drifted yet): 0.7-1.0 per user and step at t < 10.
    cfg = InterestEvolutionConfig(num_users=300)
    story = make_model(init_params(0, cfg), cfg)
    final = to_numpy(make_runtime_for(runtime, story, seed=3).execute(9))
    mean = final["metrics"]["cumulative_reward"].mean()
    assert 7.0 < mean < 10.0
    assert CUMULATIVE_REWARD == "metrics/cumulative_reward" and REWARD == "user response/reward"


def test_bad_parameters_and_sizes_are_named():
    params = init_params(0, TINY)
    with pytest.raises(ValueError, match=r"params\['encoder_1'\]\['kernel'\] has shape"):
        make_model({**params, "encoder_1": {**params["encoder_1"], "kernel": np.zeros((2, 2), np.float32)}}, TINY)
    with pytest.raises(ValueError, match="missing keys \\['item_embeddings'\\]"):
        make_model({k: v for k, v in params.items() if k != "item_embeddings"}, TINY)
    with pytest.raises(ValueError, match="slate_size"):
        InterestEvolutionConfig(num_docs=2, slate_size=3)
    with pytest.raises(ValueError, match="history_length"):
        InterestEvolutionConfig(history_length=0)


def test_folded_first_layer_scores_equal_the_history_scorer():
    cfg = InterestEvolutionConfig(num_docs=7, history_length=4, embedding_dim=5, hidden_units=6)
    params = init_params(4, cfg)
    rng = np.random.default_rng(1)
    ids = rng.integers(0, cfg.num_docs + 1, size=(3, 9, 4)).astype(np.int32)  # 0: an empty slot
    times = rng.uniform(0.0, 2.0, size=(3, 9, 4)).astype(np.float32)
    folded = np.asarray(history_scores(cfg.scorer(), params, ids, times))
    np.testing.assert_allclose(folded, _scores(params, ids.reshape(-1, 4), times.reshape(-1, 4)).reshape(3, 9, 7),
                               rtol=1e-5, atol=1e-5)

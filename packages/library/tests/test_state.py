"""State models on every runtime: statistics, closed-form log-probabilities and posteriors."""

from __future__ import annotations

import numpy as np
import pytest

from recosim.core import RandomVariableError, Value, get_backend
from recosim.core.testing import run_block
from recosim.library.state import (
    ControlledLinearGaussian,
    ControlledLinearScaledGaussian,
    FiniteHistory,
    FinitePosterior,
    FiniteStateMarkovChain,
    GMMVector,
    HierarchicalClusteredTensor,
    KalmanFilter,
    LinearGaussian,
    MixtureSameFamily,
    NoOpOrContinue,
    RecurrentCellState,
    ResetOrContinue,
    StaticTensor,
    SwitchingDynamics,
)


def mvn_logpdf(x, mean, cov):
    x, mean, cov = np.asarray(x, float), np.asarray(mean, float), np.asarray(cov, float)
    d = x.shape[-1]
    diff = x - mean
    sol = np.linalg.solve(cov, diff[..., None])[..., 0]
    _, logdet = np.linalg.slogdet(cov)
    return -0.5 * (np.sum(diff * sol, -1) + logdet + d * np.log(2 * np.pi))


def normal_logpdf(x, mu, s):
    return -0.5 * ((x - mu) / s) ** 2 - np.log(s) - 0.5 * np.log(2 * np.pi)


def with_counter(initial, transition):
    """Wrap a block so its state also carries the step index ``t`` (to feed step-dependent inputs)."""

    def init():
        return initial().union(Value(t=get_backend().np.zeros((), dtype="int32")))

    def step(prev):
        t = prev.get("t")
        rest = Value({k: v for k, v in prev.items() if k != "t"})
        return transition(rest, t).union(Value(t=t + 1))

    return init, step


# -- static ------------------------------------------------------------------------


def test_static_tensor_is_constant(runtime):
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    m = StaticTensor(x)
    out = run_block(runtime, m.initial_state, lambda prev: m.next_state(prev), length=3)
    assert out["state"].shape == (3, 2, 3)
    for t in range(3):
        np.testing.assert_array_equal(out["state"][t], x)


def test_gmm_component_frequencies_and_means(runtime, tools):
    n = 12000
    weights = np.array([0.2, 0.5, 0.3])
    means = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0]], np.float32)
    m = GMMVector(n, np.log(weights).astype(np.float32), means, 0.1, return_component_id=True)
    var = tools.block_variable(m.initial_state, lambda prev: m.next_state(prev), ("state", "component_id"))
    out, lp = tools.trajectory_and_log_prob(runtime, var, 2, seed=2)
    ids, x = out["component_id"][0], out["state"][0]
    assert ids.dtype == np.int32 and x.shape == (n, 2) and x.dtype == np.float32
    assert tools.within(np.bincount(ids, minlength=3) / n, weights, n)
    for k in range(3):
        np.testing.assert_allclose(x[ids == k].mean(0), means[k], atol=0.01)
        np.testing.assert_allclose(x[ids == k].std(0), [0.1, 0.1], rtol=0.06)
    np.testing.assert_array_equal(out["state"][1], x)  # static: the second step repeats the first
    expected = np.sum(np.log(weights)[ids]) + normal_logpdf(x, means[ids], 0.1).sum()
    assert lp == pytest.approx(expected, rel=1e-4)


def test_gmm_without_ids_is_a_mixture(runtime):
    n = 12000
    weights = np.array([0.7, 0.3])
    means = np.array([[-3.0], [3.0]], np.float32)
    m = GMMVector(n, np.log(weights).astype(np.float32), means, np.array([0.5], np.float32))
    x = run_block(runtime, m.initial_state, seed=3)["state"][0]
    assert x.shape == (n, 1)
    assert (x[:, 0] > 0).mean() == pytest.approx(0.3, abs=0.02)


def test_field_prefix_names_inner_draws(runtime, tools):
    m = GMMVector(
        5, np.zeros(2, np.float32), np.eye(2, dtype=np.float32), 0.1, return_component_id=True, field_prefix="interest"
    )
    var = tools.block_variable(
        lambda: m.initial_state().prefixed_with("interest"), None, ("interest.state", "interest.component_id")
    )
    _, lp = tools.trajectory_and_log_prob(runtime, var, 1)
    assert np.isfinite(lp)
    unprefixed = GMMVector(5, np.zeros(2, np.float32), np.eye(2, dtype=np.float32), 0.1, return_component_id=True)
    var = tools.block_variable(
        lambda: unprefixed.initial_state().prefixed_with("interest"), None, ("interest.state", "interest.component_id")
    )
    with pytest.raises(RandomVariableError, match="component_id"):
        tools.trajectory_and_log_prob(runtime, var, 1)


def test_gmm_bad_shapes():
    with pytest.raises(ValueError, match="component_means"):
        GMMVector(3, np.zeros(2, np.float32), np.zeros((3, 2), np.float32), 1.0)


def test_hierarchical_clusters(runtime, tools):
    n, k, d = 3000, 4, 3
    m = HierarchicalClusteredTensor(
        n,
        num_clusters=k,
        dim=d,
        centre_scale=5.0,
        member_scale=0.1,
        cluster_logits=np.log([0.1, 0.2, 0.3, 0.4]).astype(np.float32),
    )
    var = tools.block_variable(
        m.initial_state, lambda prev: m.next_state(prev), ("state", "cluster_id", "cluster_centers")
    )
    out, lp = tools.trajectory_and_log_prob(runtime, var, 2, seed=4)
    x, ids, centres = out["state"][0], out["cluster_id"][0], out["cluster_centers"][0]
    assert x.shape == (n, d) and ids.shape == (n,) and centres.shape == (k, d)
    resid = x - centres[ids]
    assert resid.std() == pytest.approx(0.1, rel=0.05)
    assert tools.within(np.bincount(ids, minlength=k) / n, [0.1, 0.2, 0.3, 0.4], n)
    np.testing.assert_array_equal(out["cluster_centers"][1], centres)
    expected = (
        normal_logpdf(centres, 0.0, 5.0).sum()
        + np.log([0.1, 0.2, 0.3, 0.4])[ids].sum()
        + normal_logpdf(x, centres[ids], 0.1).sum()
    )
    assert lp == pytest.approx(expected, rel=1e-4)


def test_mixture_same_family(runtime):
    m = MixtureSameFamily(8000, np.log([0.25, 0.75]).astype(np.float32), "Normal", loc=[-2.0, 2.0], scale=[0.3, 0.3])
    x = run_block(runtime, m.initial_state, seed=5)["state"][0]
    assert x.shape == (8000,)
    assert (x > 0).mean() == pytest.approx(0.75, abs=0.025)


# -- dynamic -----------------------------------------------------------------------


def test_linear_gaussian_log_prob_closed_form(runtime, tools):
    a = np.array([[0.9, 0.1], [-0.2, 0.8]], np.float32)
    tril = np.array([[0.5, 0.0], [0.2, 0.3]], np.float32)
    m = LinearGaussian(4, a, noise_scale_tril=tril, initial_loc=[1.0, -1.0], initial_scale=[0.5, 2.0])
    var = tools.block_variable(m.initial_state, lambda prev: m.next_state(prev), ("state",))
    out, lp = tools.trajectory_and_log_prob(runtime, var, 4, seed=6)
    x = out["state"].astype(np.float64)
    assert x.shape == (4, 4, 2)
    expected = mvn_logpdf(x[0], [1.0, -1.0], np.diag([0.25, 4.0])).sum()
    for t in range(1, 4):
        expected += mvn_logpdf(x[t], x[t - 1] @ a.T, tril @ tril.T).sum()
    assert lp == pytest.approx(expected, rel=1e-4)


def test_controlled_linear_gaussian_log_prob(runtime, tools):
    a = np.eye(2, dtype=np.float32) * 0.5
    b = np.array([[1.0], [2.0]], np.float32)
    u = np.array([[1.0], [-1.0], [0.5]], np.float32)
    m = ControlledLinearGaussian(3, a, b, noise_scale=np.array([0.1, 0.2], np.float32))
    var = tools.block_variable(m.initial_state, lambda prev: m.next_state(prev, Value(input=u)), ("state",))
    out, lp = tools.trajectory_and_log_prob(runtime, var, 3, seed=7)
    x = out["state"].astype(np.float64)
    expected = normal_logpdf(x[0], 0.0, 1.0).sum()
    for t in (1, 2):
        expected += normal_logpdf(x[t], x[t - 1] @ a.T + u @ b.T, np.array([0.1, 0.2])).sum()
    assert lp == pytest.approx(expected, rel=1e-4)
    with pytest.raises(ValueError, match="'input'"):
        m.next_state(Value(state=np.zeros((3, 2), np.float32)), Value(control=u))


def test_controlled_linear_scaled_gaussian_per_user_scales(runtime, tools):
    lam = np.array([0.5, 1.0], np.float32)
    noise = np.array([0.1, 0.3], np.float32)
    u = np.array([[1.0, 0.0], [0.0, 2.0]], np.float32)
    m = ControlledLinearScaledGaussian(2, 2, transition_scale=1.0, control_scale=lam, noise_scale=noise)
    var = tools.block_variable(m.initial_state, lambda prev: m.next_state(prev, Value(input=u)), ("state",))
    out, lp = tools.trajectory_and_log_prob(runtime, var, 3, seed=8)
    x = out["state"].astype(np.float64)
    expected = normal_logpdf(x[0], 0.0, 1.0).sum()
    for t in (1, 2):
        expected += normal_logpdf(x[t], x[t - 1] + lam[:, None] * u, noise[:, None]).sum()
    assert lp == pytest.approx(expected, rel=1e-4)


def test_markov_chain_transition_frequencies(runtime, tools):
    n = 12000
    trans = np.array([[0.8, 0.2, 0.0], [0.1, 0.6, 0.3], [0.3, 0.3, 0.4]], np.float32)
    m = FiniteStateMarkovChain(n, np.full(3, 1 / 3, np.float32), trans)
    var = tools.block_variable(m.initial_state, lambda prev: m.next_state(prev), ("state",))
    out, lp = tools.trajectory_and_log_prob(runtime, var, 2, seed=9)
    x0, x1 = out["state"]
    assert x0.dtype == np.int32
    for i in range(3):
        rows = x1[x0 == i]
        assert tools.within(np.bincount(rows, minlength=3) / rows.size, trans[i], rows.size)
    expected = n * np.log(1 / 3) + np.log(trans[x0, x1].astype(np.float64)).sum()
    assert lp == pytest.approx(expected, rel=1e-4)


def test_controlled_markov_chain(runtime, tools):
    n = 8000
    trans = np.array([[[0.9, 0.1], [0.5, 0.5]], [[0.2, 0.8], [0.0, 1.0]]], np.float32)  # [control, s, s']
    control = (np.arange(n) % 2).astype(np.int32)
    m = FiniteStateMarkovChain(n, np.array([0.5, 0.5], np.float32), trans, controlled=True)
    out = run_block(runtime, m.initial_state, lambda prev: m.next_state(prev, Value(input=control)), length=2, seed=10)
    x0, x1 = out["state"]
    for c in (0, 1):
        for s in (0, 1):
            rows = x1[(control == c) & (x0 == s)]
            assert tools.within(np.bincount(rows, minlength=2) / rows.size, trans[c, s], rows.size)
    with pytest.raises(ValueError, match="transition_probs"):
        FiniteStateMarkovChain(2, [0.5, 0.5], trans[0], controlled=True)
    with pytest.raises(ValueError, match="sum to 1"):
        FiniteStateMarkovChain(2, [0.5, 0.6], trans[0])


def _cycle_chain(start_probs):
    shift = np.roll(np.eye(3, dtype=np.float32), 1, axis=1)  # i -> i + 1 mod 3
    return FiniteStateMarkovChain(4, np.asarray(start_probs, np.float32), shift)


def test_reset_or_continue(runtime, tools):
    chain = _cycle_chain([1.0, 0.0, 0.0])
    m = ResetOrContinue(chain, chain)
    reset = np.array([False, True, False, True])
    var = tools.block_variable(m.initial_state, lambda prev: m.next_state(prev, Value(reset=reset)), ("state",))
    out, lp = tools.trajectory_and_log_prob(runtime, var, 4, seed=11)
    assert out["state"][:, 0].tolist() == [0, 1, 2, 0]
    assert out["state"][:, 1].tolist() == [0, 0, 0, 0]
    assert lp == pytest.approx(0.0, abs=1e-5)


def test_no_op_or_continue(runtime, tools):
    chain = _cycle_chain([0.0, 1.0, 0.0])
    m = NoOpOrContinue(chain)
    no_op = np.array([True, False, True, False])
    var = tools.block_variable(m.initial_state, lambda prev: m.next_state(prev, Value(no_op=no_op)), ("state",))
    out, lp = tools.trajectory_and_log_prob(runtime, var, 3, seed=12)
    assert out["state"][:, 0].tolist() == [1, 1, 1]
    assert out["state"][:, 1].tolist() == [1, 2, 0]
    assert lp == pytest.approx(0.0, abs=1e-5)


def test_switching_dynamics(runtime, tools):
    keep = ControlledLinearScaledGaussian(4, 2, transition_scale=1.0, control_scale=0.0, noise_scale=0.01)
    jump = ControlledLinearScaledGaussian(4, 2, transition_scale=0.0, control_scale=1.0, noise_scale=0.02)
    m = SwitchingDynamics([keep, jump])
    mode = np.array([0, 1, 1, 0], np.int32)
    u = np.full((4, 2), 5.0, np.float32)
    var = tools.block_variable(m.initial_state, lambda prev: m.next_state(prev, Value(mode=mode, input=u)), ("state",))
    out, lp = tools.trajectory_and_log_prob(runtime, var, 2, seed=13)
    x0, x1 = out["state"].astype(np.float64)
    np.testing.assert_allclose(x1[[0, 3]], x0[[0, 3]], atol=0.06)
    np.testing.assert_allclose(x1[[1, 2]], 5.0, atol=0.1)
    expected = normal_logpdf(x0, 0.0, 1.0).sum()
    mean = np.where(mode[:, None] == 0, x0, 5.0)
    expected += normal_logpdf(x1, mean, np.where(mode == 0, 0.01, 0.02)[:, None]).sum()
    assert lp == pytest.approx(expected, rel=1e-4)


def _gru_reference(cell, x, h):
    u = cell.units
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    xw = x @ cell.kernel + cell.bias
    z = sig(xw[:, :u] + h @ cell.recurrent_kernel[:, :u])
    r = sig(xw[:, u : 2 * u] + h @ cell.recurrent_kernel[:, u : 2 * u])
    n = np.tanh(xw[:, 2 * u :] + (r * h) @ cell.recurrent_kernel[:, 2 * u :])
    return (1 - z) * n + z * h


def test_recurrent_cell(runtime, tools):
    cell = RecurrentCellState(3, input_dim=2, units=4, seed=1)
    x = np.array([[1.0, 0.0], [0.0, -1.0], [0.5, 0.5]], np.float32)
    a = run_block(runtime, cell.initial_state, lambda prev: cell.next_state(prev, Value(input=x)), length=3)
    b = run_block(runtime, cell.initial_state, lambda prev: cell.next_state(prev, Value(input=x)), length=3, seed=9)
    assert a["state"].shape == (3, 3, 4) and a["state"].dtype == np.float32
    np.testing.assert_array_equal(a["state"], b["state"])  # deterministic
    h = np.zeros((3, 4))
    for t in (1, 2):
        h = _gru_reference(cell, x, h)
        np.testing.assert_allclose(a["state"][t], h, rtol=1e-5, atol=1e-6)
    noisy = RecurrentCellState(3, input_dim=2, units=4, seed=1, noise_scale=0.1)
    var = tools.block_variable(noisy.initial_state, lambda prev: noisy.next_state(prev, Value(input=x)), ("state",))
    out, lp = tools.trajectory_and_log_prob(runtime, var, 2)
    mean = _gru_reference(cell, x, np.zeros((3, 4)))
    assert lp == pytest.approx(normal_logpdf(out["state"][1], mean, 0.1).sum(), rel=1e-4)
    with pytest.raises(ValueError, match="kernel"):
        RecurrentCellState(3, input_dim=2, units=4, kernel=np.zeros((3, 12)))


# -- estimation --------------------------------------------------------------------


def test_finite_history_window(runtime):
    h = FiniteHistory(3, observation_shape=(2,), batch_shape=2)

    def step(prev, t):
        B = get_backend()
        value = B.cast(t, "float32") + 1.0
        ones = B.np.ones(2, dtype="float32")
        return h.next_state(prev, Value(input=B.np.stack([ones * value, -ones * value])))

    init, transition = with_counter(h.initial_state, step)
    out = run_block(runtime, init, transition, length=5)
    assert out["state"].shape == (5, 2, 3, 2)
    assert out["count"][:, 0].tolist() == [0, 1, 2, 3, 3]
    np.testing.assert_array_equal(out["state"][2, 0, :, 0], [0.0, 1.0, 2.0])
    np.testing.assert_array_equal(out["state"][4, 0, :, 0], [2.0, 3.0, 4.0])
    np.testing.assert_array_equal(out["state"][4, 1, :, 1], [-2.0, -3.0, -4.0])


def _joint_posterior_last(f, q, h, r, m0, p0, ys):
    """Posterior of x_T given y_1..y_T from the joint Gaussian of (x_0..x_T), in information form."""
    steps, d = len(ys), len(m0)
    size = (steps + 1) * d
    mean = np.zeros(size)
    cov = np.zeros((size, size))
    means, covs = [m0], [p0]
    for _ in range(steps):
        means.append(f @ means[-1])
        covs.append(f @ covs[-1] @ f.T + q)
    for s in range(steps + 1):
        mean[s * d : (s + 1) * d] = means[s]
        for t in range(s, steps + 1):
            block = np.linalg.matrix_power(f, t - s) @ covs[s]  # Cov(x_t, x_s)
            cov[t * d : (t + 1) * d, s * d : (s + 1) * d] = block
            cov[s * d : (s + 1) * d, t * d : (t + 1) * d] = block.T
    prec = np.linalg.inv(cov)
    eta = prec @ mean
    rinv = np.linalg.inv(r)
    for t, y in enumerate(ys, start=1):
        sl = slice(t * d, (t + 1) * d)
        prec[sl, sl] += h.T @ rinv @ h
        eta[sl] += h.T @ rinv @ y
    post_cov = np.linalg.inv(prec)
    post_mean = post_cov @ eta
    last = slice(steps * d, size)
    return post_mean[last], post_cov[last, last]


def test_kalman_filter_matches_joint_gaussian_posterior(runtime):
    rng = np.random.default_rng(0)
    f = np.array([[1.0, 0.1], [0.0, 0.9]])
    q = np.array([[0.05, 0.01], [0.01, 0.02]])
    hm = np.array([[1.0, 0.5]])
    r = np.array([[0.3]])
    m0, p0 = np.array([0.5, -0.5]), np.array([[1.0, 0.2], [0.2, 0.5]])
    steps, batch = 4, 3
    ys = rng.normal(size=(steps, batch, 1)).astype(np.float32)
    kf = KalmanFilter(f, hm, q, r, initial_mean=m0, initial_covariance=p0, batch_shape=batch)
    table = ys

    def step(prev, t):
        obs = get_backend().np.take(get_backend().asarray(table), t, axis=0)
        return kf.next_state(prev, Value(observation=obs))

    init, transition = with_counter(kf.initial_state, step)
    out = run_block(runtime, init, transition, length=steps + 1)
    assert out["mean"].shape == (steps + 1, batch, 2) and out["covariance"].shape == (steps + 1, batch, 2, 2)
    for b in range(batch):
        for t in range(1, steps + 1):
            mean, cov = _joint_posterior_last(f, q, hm, r, m0, p0, ys[:t, b].astype(float))
            np.testing.assert_allclose(out["mean"][t, b], mean, rtol=1e-4, atol=1e-5)
            np.testing.assert_allclose(out["covariance"][t, b], cov, rtol=1e-4, atol=1e-5)


def test_kalman_static_latent_information_form_and_missing_data(runtime):
    """F = I, Q = 0: the filter equals the batch posterior (P0^-1 + sum H^T R^-1 H)^-1 ..."""
    d, m, steps, batch = 2, 3, 3, 2
    rng = np.random.default_rng(1)
    hm = rng.normal(size=(m, d))
    r = np.diag([0.5, 1.0, 2.0])
    ys = rng.normal(size=(steps, batch, m)).astype(np.float32)
    observed = np.array([[True, True], [True, False], [False, True]])
    kf = KalmanFilter(
        np.eye(d),
        hm,
        np.zeros((d, d)),
        r,
        initial_mean=np.zeros(d),
        initial_covariance=np.eye(d) * 2.0,
        batch_shape=batch,
    )

    def step(prev, t):
        B = get_backend()
        obs = B.np.take(B.asarray(ys), t, axis=0)
        seen = B.np.take(B.asarray(observed), t, axis=0)
        return kf.next_state(prev, Value(observation=obs, observed=seen))

    init, transition = with_counter(kf.initial_state, step)
    out = run_block(runtime, init, transition, length=steps + 1)
    rinv = np.linalg.inv(r)
    for b in range(batch):
        used = [ys[t, b].astype(float) for t in range(steps) if observed[t, b]]
        prec = np.eye(d) / 2.0 + len(used) * hm.T @ rinv @ hm
        cov = np.linalg.inv(prec)
        mean = cov @ (hm.T @ rinv @ np.sum(used, axis=0))
        np.testing.assert_allclose(out["mean"][-1, b], mean, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(out["covariance"][-1, b], cov, rtol=1e-4, atol=1e-5)


def test_kalman_bad_shapes():
    with pytest.raises(ValueError, match="observation_matrix"):
        KalmanFilter(np.eye(2), np.eye(3), np.eye(2), np.eye(3), initial_mean=[0, 0], initial_covariance=np.eye(2))


def test_finite_posterior_is_bayes_rule(runtime):
    prior = np.array([0.5, 0.3, 0.2], np.float32)
    lik = np.array([[0.7, 0.1, 0.1, 0.1], [0.25, 0.25, 0.25, 0.25], [0.05, 0.05, 0.1, 0.8]], np.float32)
    obs = np.array([[0, 3], [0, 3], [1, 2], [3, 3]], np.int32)  # [step, user]
    fp = FinitePosterior(prior, lik, batch_shape=2)

    def step(prev, t):
        return fp.next_state(prev, Value(observation=get_backend().np.take(get_backend().asarray(obs), t, axis=0)))

    init, transition = with_counter(fp.initial_state, step)
    out = run_block(runtime, init, transition, length=5)
    for user in range(2):
        joint = prior.astype(float).copy()
        for t in range(4):
            joint = joint * lik[:, obs[t, user]]
            np.testing.assert_allclose(out["state"][t + 1, user], joint / joint.sum(), rtol=1e-5)
            assert out["log_evidence"][t + 1, user] == pytest.approx(np.log(joint.sum()), rel=1e-5)
    np.testing.assert_allclose(out["state"][0], np.broadcast_to(prior, (2, 3)))


def test_finite_posterior_rejects_bad_tables():
    with pytest.raises(ValueError, match="likelihood"):
        FinitePosterior([0.5, 0.5], [[0.5, 0.6], [0.5, 0.5]])
    with pytest.raises(ValueError, match="prior"):
        FinitePosterior([1.0], [[0.5, 0.5], [0.5, 0.5]])


def test_select_distribution_batches_samples_and_scores():
    from recosim.library.state import SelectDistribution

    B = get_backend()
    index = np.array([0, 1, 1], np.int32)
    low = B.tfd.MultivariateNormalDiag(loc=np.zeros((3, 2), np.float32), scale_diag=np.full((3, 2), 0.01, np.float32))
    high = np.full((3, 2), 10.0, np.float32)  # a point mass
    d = SelectDistribution(index, [low, high], event_rank=1)
    x = d.sample((5,), seed=B.make_seed(0))
    assert x.shape == (5, 3, 2)
    assert np.all(np.abs(x[:, 0]) < 0.1) and np.all(x[:, 1:] == 10.0)
    lp = d.log_prob(x[0])
    assert lp.shape == (3,)
    assert lp[0] == pytest.approx(float(low.log_prob(x[0])[0]), rel=1e-6) and lp[1] == lp[2] == 0.0
    assert np.isneginf(d.log_prob(np.zeros((3, 2), np.float32))[1])

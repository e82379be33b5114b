"""The NumPy runtime: the paper's counting example, a random walk, seeds, log-probabilities."""

import numpy as np
import pytest

from recosim.core import (
    FieldSpec,
    NumpyRuntime,
    RandomVariableError,
    Value,
    ValueSpec,
    Variable,
    get_backend,
    log_probability_from_value_trajectory,
    rv,
    value,
)
from recosim.core.errors import NetworkError
from recosim.core.examples import counting_variables, random_walk_variables
from recosim.core.log_probability import log_probability_accumulator_variables
from recosim.core.replay import replay_variable


def normal_logpdf(x, mu, s):
    return -0.5 * ((x - mu) / s) ** 2 - np.log(s) - 0.5 * np.log(2 * np.pi)


def test_paper_counting_example():
    rt = NumpyRuntime(counting_variables(), seed=0)
    assert rt.trajectory(5)["count"].get("n").tolist() == [0, 1, 2, 3, 4]
    assert rt.execute(7)["count"].get("n") == 7
    assert rt.execute(0)["count"].get("n") == 0
    assert rt.execute(3, starting_value={"count": Value(n=10)})["count"].get("n") == 13


def test_same_seed_same_trajectory_and_calls_differ():
    a = NumpyRuntime(random_walk_variables(4), seed=3).trajectory(6)["walk"].get("position")
    b = NumpyRuntime(random_walk_variables(4), seed=3).trajectory(6)["walk"].get("position")
    np.testing.assert_array_equal(a, b)
    rt = NumpyRuntime(random_walk_variables(4), seed=3)
    first, second = rt.trajectory(6), rt.trajectory(6)
    assert not np.array_equal(first["walk"].get("position"), second["walk"].get("position"))
    np.testing.assert_array_equal(rt.trajectory(6, seed=11)["walk"].get("position"),
                                  rt.trajectory(6, seed=11)["walk"].get("position"))


def test_random_walk_statistics():
    scale, steps, n = 0.5, 15, 20000
    pos = NumpyRuntime(random_walk_variables(n, scale), seed=1).execute(steps)["walk"].get("position")
    assert pos.dtype == np.float32 and pos.shape == (n,)
    expected_sd = scale * np.sqrt(steps + 1)
    # mean within 4 standard errors; sd within 3%
    assert abs(pos.mean()) < 4 * expected_sd / np.sqrt(n)
    assert abs(pos.std() / expected_sd - 1) < 0.03


def test_random_walk_log_probability_is_the_closed_form():
    scale = 0.7
    walk = random_walk_variables(3, scale)
    traj = NumpyRuntime(walk, seed=5).trajectory(6)
    x = traj["walk"].get("position").astype(np.float64)
    closed = normal_logpdf(x[0], 0.0, scale).sum() + normal_logpdf(x[1:], x[:-1], scale).sum()
    np.testing.assert_allclose(log_probability_from_value_trajectory(walk, traj), closed, rtol=1e-5)
    np.testing.assert_allclose(NumpyRuntime(walk, seed=0).log_probability(traj), closed, rtol=1e-5)
    partial = normal_logpdf(x[0], 0.0, scale).sum() + normal_logpdf(x[1:3], x[:2], scale).sum()
    np.testing.assert_allclose(log_probability_from_value_trajectory(walk, traj, num_steps=2), partial, rtol=1e-5)
    with pytest.raises(NetworkError, match="num_steps=9 but the trajectory holds 6 steps"):
        log_probability_from_value_trajectory(walk, traj, num_steps=9)


def _noisy_observation_model():
    """latent z_t (random walk) observed through y_t = N(z_t, 1); y draws inside a behaviour."""
    z = random_walk_variables(2, 1.0)[0]
    y = Variable("obs", ValueSpec(y=FieldSpec(shape=(2,)), hidden=FieldSpec(shape=(2,))))

    def observe(zv):
        B = get_backend()
        hidden = rv("hidden", B.tfd.Normal(B.np.zeros(2, dtype="float32"), 1.0))
        return Value(y=B.tfd.Normal(zv.get("position"), 1.0), hidden=hidden)

    y.initial_value = value(observe, (z,))
    y.value = value(observe, (z,))
    return [z, y]


def test_imperative_draw_named_as_field_is_scored_and_unlogged_draws_are_refused():
    model = _noisy_observation_model()
    traj = NumpyRuntime(model, seed=2).trajectory(3)
    lp = log_probability_from_value_trajectory(model, traj)
    z, y, h = (traj["walk"].get("position"), traj["obs"].get("y"), traj["obs"].get("hidden"))
    closed = (normal_logpdf(z[0], 0, 1).sum() + normal_logpdf(z[1:], z[:-1], 1).sum()
              + normal_logpdf(y, z, 1).sum() + normal_logpdf(h, 0, 1).sum())
    np.testing.assert_allclose(lp, closed, rtol=1e-5)

    obs = model[1]
    obs.value = value(lambda zv: Value(y=zv.get("position"), hidden=rv("secret", get_backend().tfd.Normal(
        get_backend().np.zeros(2, dtype="float32"), 1.0))), (model[0],))
    with pytest.raises(RandomVariableError, match="'obs/secret' is not observed"):
        log_probability_from_value_trajectory(model, traj)


def test_log_probability_accumulators_match_per_step_closed_form():
    walk = random_walk_variables(2, 1.0)
    acc = log_probability_accumulator_variables(walk)
    traj = NumpyRuntime(walk + acc, seed=4).trajectory(5)
    x = traj["walk"].get("position")
    per_step = np.concatenate([normal_logpdf(x[:1], 0, 1), normal_logpdf(x[1:], x[:-1], 1)])
    np.testing.assert_allclose(traj["walk log prob"].get("log_prob"), np.cumsum(per_step, axis=0), rtol=1e-5)


def test_replayed_variable_drives_the_network():
    logged = Value(item=np.array([3, 1, 4, 1], dtype=np.int32))
    slates = replay_variable("slates", logged)
    total = Variable("total", ValueSpec(s=FieldSpec()))
    total.initial_value = value(lambda sl: Value(s=sl.get("item")), (slates[0],))
    total.value = value(lambda p, sl: Value(s=p.get("s") + sl.get("item")), (total.previous, slates[0]))
    traj = NumpyRuntime([*slates, total], seed=0).trajectory(4)
    assert traj["slates"].get("item").tolist() == [3, 1, 4, 1]
    assert traj["total"].get("s").tolist() == [3, 4, 8, 9]
    with pytest.raises(IndexError, match="has 4 logged steps; step 4 asked"):
        NumpyRuntime([*slates, total], seed=0).trajectory(5)


def test_bad_arguments_are_named():
    rt = NumpyRuntime(counting_variables(), seed=0)
    with pytest.raises(ValueError, match="trajectory length must be an integer >= 1"):
        rt.trajectory(0)
    with pytest.raises(NetworkError, match=r"missing \['count'\], unknown \['other'\]"):
        rt.execute(1, starting_value={"other": Value(n=1)})


def test_rv_outside_runtime_says_how_to_fix():
    with pytest.raises(RandomVariableError, match="drawn outside a runtime"):
        rv("x", get_backend().tfd.Normal(0.0, 1.0))
    with pytest.raises(RandomVariableError, match="needs a distribution"):
        rv("x", 3.0)


def test_log_probability_checks_the_time_axis_of_every_field():
    walk = random_walk_variables(2)
    traj = NumpyRuntime(walk, seed=0).trajectory(4)
    bad = {"walk": Value(position=traj["walk"].get("position")[:3])}
    ok = log_probability_from_value_trajectory(walk, bad)  # three steps are fine on their own
    assert np.isfinite(ok)
    counter = Variable("c", ValueSpec(n=FieldSpec()))
    counter.initial_value = value(lambda: Value(n=0))
    mixed = {"walk": traj["walk"], "c": Value(n=np.arange(3))}
    with pytest.raises(NetworkError, match="disagree on the number of steps"):
        log_probability_from_value_trajectory([*walk, counter], mixed)

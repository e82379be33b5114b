"""Many runs in one vmapped call, and their summaries."""

from __future__ import annotations

import numpy as np
import pytest
from jax_models import choice_variables, drift_variables

from recosim.core import Value
from recosim.core.examples import counting_variables, random_walk_variables
from recosim.core.testing import to_numpy
from recosim.jax import JaxRuntime, summarize


def _model():
    return choice_variables() + drift_variables()


def test_vmapped_runs_equal_runs_one_seed_at_a_time():
    rt = JaxRuntime(_model(), seed=0)
    seeds = [3, 17, 2**33 + 1]
    many = to_numpy(rt.run_many(seeds, length=4))
    assert many["chain"]["x"].shape == (3, 4, 2)
    for i, s in enumerate(seeds):
        one = to_numpy(rt.trajectory(4, seed=s))
        assert np.array_equal(many["response"]["choice"][i], one["response"]["choice"])
        np.testing.assert_allclose(many["chain"]["x"][i], one["chain"]["x"], rtol=1e-6, atol=1e-6)
    final = to_numpy(rt.run_many(seeds, num_steps=3))
    np.testing.assert_allclose(final["chain"]["x"], many["chain"]["x"][:, -1], rtol=1e-6, atol=1e-6)


def test_num_runs_uses_the_next_calls_keys():
    batched = to_numpy(JaxRuntime(_model(), seed=8).run_many(num_runs=3, length=3))
    loop = JaxRuntime(_model(), seed=8)
    for i in range(3):
        one = to_numpy(loop.trajectory(3))
        assert np.array_equal(batched["response"]["choice"][i], one["response"]["choice"])
        np.testing.assert_allclose(batched["chain"]["x"][i], one["chain"]["x"], rtol=1e-6, atol=1e-6)
    # an int is a count of runs, and the runtime moves on to fresh keys afterwards
    rt = JaxRuntime(_model(), seed=8)
    a = to_numpy(rt.run_many(2, num_steps=2))
    b = to_numpy(rt.run_many(2, num_steps=2))
    assert not np.array_equal(a["chain"]["x"], b["chain"]["x"])


def test_eager_run_many_matches_compiled():
    seeds = [1, 2]
    a = to_numpy(JaxRuntime(_model(), seed=0).run_many(seeds, length=3))
    b = to_numpy(JaxRuntime(_model(), seed=0, jit=False).run_many(seeds, length=3))
    assert np.array_equal(a["response"]["choice"], b["response"]["choice"])
    np.testing.assert_allclose(a["chain"]["x"], b["chain"]["x"], rtol=1e-5, atol=1e-5)


def test_shared_starting_value_and_python_ints():
    out = JaxRuntime(counting_variables(), seed=0).run_many([0, 1], num_steps=3, starting_value={"count": Value(n=5)})
    assert np.asarray(out["count"].get("n")).tolist() == [8, 8]


def test_summary_of_many_runs():
    # 200 runs of 50 walkers for 3 steps: the final mean position per run is N(0, 4/50);
    # its across-run mean lies within 5 standard errors of 0 and the reported standard
    # error is close to the exact sqrt(4/50/200) (within 20%, ~ 5 times its relative sd 1/sqrt(400)).
    rt = JaxRuntime(random_walk_variables(50), seed=3)
    runs = rt.run_many(num_runs=200, num_steps=3)
    per_run_mean = {"mean position": np.asarray(runs["walk"].get("position")).mean(axis=1)}
    summary = summarize(per_run_mean)
    exact_se = np.sqrt(4 / 50 / 200)
    assert summary.num_runs == 200
    assert abs(summary.mean["mean position"]) < 5 * exact_se
    assert summary.stderr["mean position"] == pytest.approx(exact_se, rel=0.2)
    full = summarize(runs)
    assert full.mean["walk"].get("position").shape == (50,)
    assert [r[0] for r in full.rows()] == ["walk/position"]


def test_summary_arithmetic_and_errors():
    s = summarize({"m": Value(a=np.array([[1.0, 10.0], [3.0, 30.0]]))})
    assert s.mean["m"].get("a").tolist() == [2.0, 20.0]
    np.testing.assert_allclose(s.stderr["m"].get("a"), [1.0, 10.0])
    assert np.isnan(summarize(np.array([1.0])).stderr)
    with pytest.raises(ValueError, match="no fields"):
        summarize({})
    with pytest.raises(ValueError, match="runs along axis 0"):
        summarize({"a": np.zeros(3), "b": np.zeros(4)})


def test_argument_errors():
    rt = JaxRuntime(counting_variables(), seed=0)
    with pytest.raises(ValueError, match="exactly one of length="):
        rt.run_many([1], length=2, num_steps=2)
    with pytest.raises(ValueError, match="either seeds"):
        rt.run_many([1], num_runs=2, length=2)
    with pytest.raises(ValueError, match="num_runs must be an integer >= 1"):
        rt.run_many(num_runs=0, length=2)

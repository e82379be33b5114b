"""Many runs in one vmapped call (the contract every runtime keeps is in the library's contract tests)."""

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


def test_summarize_here_is_cores():
    import recosim.core.summary

    assert summarize is recosim.core.summary.summarize
    runs = JaxRuntime(random_walk_variables(5), seed=3).run_many(num_runs=4, num_steps=2)
    assert summarize(runs).mean["walk"].get("position").shape == (5,)


def test_argument_errors():
    rt = JaxRuntime(counting_variables(), seed=0)
    with pytest.raises(ValueError, match="exactly one of length="):
        rt.run_many([1], length=2, num_steps=2)
    with pytest.raises(ValueError, match="either seeds"):
        rt.run_many([1], num_runs=2, length=2)
    with pytest.raises(ValueError, match="num_runs must be an integer >= 1"):
        rt.run_many(num_runs=0, length=2)

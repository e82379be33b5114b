"""One summary of many runs: mean, standard error and count, with one convention for a single run."""

import numpy as np
import pytest

from recosim.core import NumpyRuntime, Value
from recosim.core.examples import random_walk_variables
from recosim.core.summary import summarize


def test_summary_arithmetic_and_structure():
    s = summarize({"m": Value(a=np.array([[1.0, 10.0], [3.0, 30.0]]))})
    assert s.num_runs == 2 and isinstance(s.mean["m"], Value)
    assert s.mean["m"].get("a").tolist() == [2.0, 20.0]
    np.testing.assert_allclose(s.stderr["m"].get("a"), [1.0, 10.0])  # std(ddof=1) / sqrt(2)
    assert [path for path, _, _ in s.rows()] == ["m/a"]
    listed = summarize([1.0, 2.0, 3.0, 6.0])
    assert float(listed.mean) == 3.0 and float(listed.stderr) == pytest.approx(np.std([1, 2, 3, 6], ddof=1) / 2)


def test_a_single_run_has_an_undefined_standard_error():
    one = summarize({"x": np.array([[1.0, 2.0]])})
    assert one.num_runs == 1 and one.mean["x"].tolist() == [1.0, 2.0]
    assert np.isnan(one.stderr["x"]).all()


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="no fields"):
        summarize({})
    with pytest.raises(ValueError, match="runs along axis 0"):
        summarize({"a": np.zeros(3), "b": np.zeros(4)})
    with pytest.raises(ValueError, match="a field is a scalar"):
        summarize({"a": 1.0})
    with pytest.raises(ValueError, match="no runs"):
        summarize(np.zeros((0, 2)))


def test_summary_of_numpy_run_many_matches_the_walk():
    # 300 runs of 40 walkers for 3 steps: each run's mean position is N(0, 4 / 40); the mean over
    # runs is within 5 standard errors of 0, and the reported standard error is within 20% of the
    # exact sqrt(4 / 40 / 300) (its relative sd is about 1 / sqrt(600), so 20% is ~5 sd).
    runs = NumpyRuntime(random_walk_variables(40), seed=3).run_many(num_runs=300, num_steps=3)
    per_run = np.asarray(runs["walk"].get("position")).mean(axis=1)
    s = summarize(per_run)
    exact = np.sqrt(4 / 40 / 300)
    assert s.num_runs == 300 and abs(float(s.mean)) < 5 * exact
    assert float(s.stderr) == pytest.approx(exact, rel=0.2)

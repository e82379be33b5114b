"""Data variables (`recosim.core.data`) on every runtime: values, log-probabilities, errors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from recosim.core import FieldSpec, NumpyRuntime, Value, ValueSpec, Variable, get_backend, rv, value
from recosim.core.data import (
    ConstantSlice,
    SlicedValue,
    TimeSteps,
    data_variable,
    remove_data_index,
    replace_data_sequence,
)
from recosim.core.errors import BehaviourError, SpecError
from recosim.core.testing import make_runtime_for, runtime_names, to_numpy

LOGGED_MEANS = np.array([[0.0, 1.0], [2.0, -1.0], [0.5, 0.5], [-2.0, 3.0]], np.float32)  # [time, users]


def driven_model(logged_means: np.ndarray) -> list[Variable]:
    """A data variable of logged means drives a Normal observation per user: y_t ~ N(mean_t, 0.5)."""
    users = logged_means.shape[1:]
    means = data_variable("logged", ValueSpec(mean=FieldSpec(users, "float32")), SlicedValue(Value(mean=logged_means)))
    obs = Variable("obs", ValueSpec(y=FieldSpec(users, "float32")))

    def observe(logged: Value) -> Value:
        return Value(y=rv("y", get_backend().tfd.Normal(logged.get("mean"), 0.5)))

    obs.initial_value = value(observe, (means,))
    obs.value = value(observe, (means,))
    return [means, obs]


@pytest.mark.parametrize("runtime", runtime_names())
def test_data_variable_feeds_logs_and_scores_on_every_runtime(runtime):
    # the data variable replays the logs step by step, with its index
    rt = make_runtime_for(runtime, driven_model(LOGGED_MEANS), seed=3)
    traj = rt.trajectory(4)
    logged = to_numpy(traj["logged"])
    np.testing.assert_array_equal(logged["mean"], LOGGED_MEANS)
    np.testing.assert_array_equal(logged["data_index"], np.arange(4))
    assert logged["data_index"].dtype == np.int32

    # log-probability of the sampled trajectory: only the observations are random
    y = to_numpy(traj["obs"])["y"]
    expected = stats.norm(LOGGED_MEANS, 0.5).logpdf(y).sum()
    np.testing.assert_allclose(float(rt.log_probability(traj)), expected, rtol=1e-5)

    # a data variable whose output_fn is random is scored too: x_t ~ N(t, 1)
    B = get_backend
    noisy = data_variable(
        "noisy", ValueSpec(x=FieldSpec((), "float32")), TimeSteps(),
        lambda t: Value(x=B().tfd.Normal(B().cast(t, "float32"), 1.0)),
    )
    rt2 = make_runtime_for(runtime, [noisy], seed=1)
    traj2 = rt2.trajectory(5)
    x = to_numpy(traj2["noisy"])["x"]
    np.testing.assert_allclose(float(rt2.log_probability(traj2)), stats.norm(np.arange(5), 1.0).logpdf(x).sum(), rtol=1e-5)

    # a constant slice repeats one element
    const = data_variable("c", None, ConstantSlice(Value(a=np.array([5, 6, 7], np.int32)), element=2))
    out = to_numpy(make_runtime_for(runtime, [const], seed=0).trajectory(3)["c"])
    np.testing.assert_array_equal(out["a"], [7, 7, 7])


def test_sliced_value_statistics_of_a_driven_model():
    # 400 copies of each logged user: the observations' mean and spread match the logged means (5 s.e.)
    means = np.repeat(LOGGED_MEANS, 400, axis=1)  # [time, 800 users]
    y = NumpyRuntime(driven_model(means), seed=11).trajectory(4)["obs"].get("y").reshape(4, 2, 400)
    assert np.all(np.abs(y.mean(-1) - LOGGED_MEANS) < 5 * 0.5 / np.sqrt(400))
    assert abs((y - LOGGED_MEANS[..., None]).std() - 0.5) < 0.03


def test_remove_and_replace():
    var = data_variable("x", None, SlicedValue(Value(a=np.arange(3, dtype=np.int32))))
    assert var.spec.get("data_index") == FieldSpec((), "int32")
    assert remove_data_index(Value(a=1, data_index=0)) == Value(a=1)
    assert remove_data_index(Value(a=1)) == Value(a=1)
    replace_data_sequence(var, SlicedValue(Value(a=np.array([9, 8, 7], np.int32))))
    assert NumpyRuntime([var], seed=0).trajectory(3)["x"].get("a").tolist() == [9, 8, 7]


def test_errors_name_what_is_wrong():
    with pytest.raises(SpecError, match="same leading length"):
        SlicedValue(Value(a=np.zeros(3), b=np.zeros(4)))
    with pytest.raises(SpecError, match=r"\['a'\] have no leading axis"):
        SlicedValue(Value(a=np.float32(1.0)))
    with pytest.raises(SpecError, match="data variable 'x': give a spec"):
        data_variable("x", None, TimeSteps())
    with pytest.raises(SpecError, match="already has the field 'data_index'"):
        data_variable("x", ValueSpec(data_index=FieldSpec()), TimeSteps())
    with pytest.raises(TypeError, match="must be a DataSequence"):
        data_variable("x", None, Value(a=np.zeros(3)))  # type: ignore[arg-type]
    with pytest.raises(IndexError, match="element 3"):
        ConstantSlice(Value(a=np.zeros(3)), element=3)
    # running past the end of the logs, where the step is known, names the variable and the element
    var = data_variable("short logs", None, SlicedValue(Value(a=np.zeros(2, np.float32))))
    with pytest.raises(BehaviourError, match=r"short logs.*2 elements; element 2"):
        NumpyRuntime([var], seed=0).trajectory(3)
    bad = data_variable("bad", ValueSpec(a=FieldSpec()), TimeSteps(), lambda t: t)
    with pytest.raises(BehaviourError, match="output_fn returned"):
        NumpyRuntime([bad], seed=0).trajectory(1)


@pytest.mark.parametrize("runtime", [r for r in runtime_names() if r != "numpy"])
def test_compiled_run_past_the_end_is_nan_not_data(runtime):
    var = data_variable("x", None, SlicedValue(Value(a=np.array([1.0, 2.0], np.float32))))
    a = to_numpy(make_runtime_for(runtime, [var], seed=0).trajectory(3)["x"])["a"]
    assert a[:2].tolist() == [1.0, 2.0] and np.isnan(a[2])

import numpy as np
import pytest
import tensorflow as tf

from recosim.core.checkpoint import run_resumable
from recosim.core.errors import SpecError
from recosim.core.examples import counting_variables, random_walk_variables
from recosim.core.replay import replay_variable
from recosim.core.runtime import NumpyRuntime
from recosim.core.value import FieldSpec, Value, ValueSpec
from recosim.core.variable import Variable, value
from recosim.tf.backend import tf_backend
from recosim.tf.runtime import TFRuntime


def _np(traj):
    return {n: {k: np.asarray(x) for k, x in v.items()} for n, v in traj.items()}


def _equal(a, b):
    a, b = _np(a), _np(b)
    return a.keys() == b.keys() and all(
        a[n].keys() == b[n].keys() and all(np.array_equal(a[n][k], b[n][k]) for k in a[n]) for n in a
    )


@pytest.mark.parametrize("eager", [False, True])
def test_counting_with_python_ints(eager):
    rt = TFRuntime(counting_variables(), seed=0, eager=eager)
    n = rt.trajectory(6)["count"].get("n")
    assert n.dtype == tf.int32 and n.numpy().tolist() == [0, 1, 2, 3, 4, 5]
    assert int(rt.execute(7)["count"].get("n")) == 7
    assert int(rt.execute(0)["count"].get("n")) == 0


def test_random_walk_compiled_and_eager_are_identical():
    walk = random_walk_variables(4, scale=0.5)
    compiled = TFRuntime(walk, seed=11)
    eager = TFRuntime(walk, seed=11, eager=True)
    for _ in range(2):  # successive calls use successive keys, identically
        assert _equal(compiled.trajectory(5), eager.trajectory(5))
    assert _equal(compiled.execute(3, seed=5), eager.execute(3, seed=5))
    # execute(n) is the last step of a trajectory of n + 1 steps with the same seed
    last = compiled.trajectory(4, seed=5)["walk"].get("position")[-1]
    assert np.array_equal(compiled.execute(3, seed=5)["walk"].get("position"), last)


def test_same_seed_same_trajectory_and_no_retracing():
    walk = random_walk_variables(3)
    a = TFRuntime(walk, seed=1)
    b = TFRuntime(walk, seed=1)
    first = a.trajectory(6)
    assert _equal(first, b.trajectory(6))
    second = a.trajectory(6)
    assert not np.array_equal(first["walk"].get("position"), second["walk"].get("position"))
    assert _equal(a.trajectory(6, seed=9), b.trajectory(6, seed=9))
    a.execute(2)
    a.execute(5)
    assert a.tracing_count == 2  # one trace per kind, however many calls and seeds


def test_xla_runs_are_reproducible():
    walk = random_walk_variables(3)
    x1 = TFRuntime(walk, seed=2, xla=True).trajectory(4)
    x2 = TFRuntime(walk, seed=2, xla=True).trajectory(4)
    assert _equal(x1, x2)
    assert x1["walk"].get("position").shape == (4, 3)
    with pytest.raises(ValueError, match="choose one"):
        TFRuntime(walk, xla=True, eager=True)


def test_starting_value_and_resumable_runs():
    rt = TFRuntime(counting_variables(), seed=0)
    out = rt.trajectory(3, starting_value={"count": Value(n=np.int64(10))})
    assert out["count"].get("n").numpy().tolist() == [10, 11, 12]
    final = run_resumable(rt, 120, seed=0, chunk=50)
    assert int(final["count"].get("n")) == 120


def test_replayed_variable_runs_in_the_graph_and_clamps():
    logged = Value(doc=np.array([[1, 2], [3, 4], [5, 6]], dtype=np.int32))
    traj = TFRuntime(replay_variable("slates", logged), seed=0).trajectory(5)
    assert traj["slates"].get("doc").numpy().tolist() == [[1, 2], [3, 4], [5, 6], [5, 6], [5, 6]]


def _variable(spec, initial, step):
    var = Variable("user state", spec)
    var.initial_value = value(initial)
    var.value = value(step, (var.previous,))
    return [var]


@pytest.mark.parametrize("eager", [False, True])
def test_wrong_shape_is_a_spec_error_naming_variable_and_field(eager):
    spec = ValueSpec(interest=FieldSpec(shape=(3,), dtype="float32"))

    def initial():
        return Value(interest=tf_backend().np.zeros(3, dtype="float32"))

    def step(prev):
        return Value(interest=tf_backend().np.zeros(4, dtype="float32"))

    rt = TFRuntime(_variable(spec, initial, step), seed=0, eager=eager)
    with pytest.raises(SpecError) as err:
        rt.trajectory(3)
    msg = str(err.value)
    assert "'user state'" in msg and "'interest'" in msg and "(4,)" in msg
    assert type(err.value) is SpecError and err.value.__cause__ is None


def test_wrong_dtype_is_caught_while_tracing_before_anything_runs():
    ran = []
    spec = ValueSpec(interest=FieldSpec(shape=(2,), dtype="float32"))

    def initial():
        return Value(interest=tf_backend().np.zeros(2, dtype="float32"))

    def step(prev):
        ran.append(tf.executing_eagerly())
        return Value(interest=tf_backend().np.zeros(2, dtype="float64"))

    rt = TFRuntime(_variable(spec, initial, step), seed=0)
    with pytest.raises(SpecError, match=r"variable 'user state'.*field 'interest'.*float64"):
        rt.execute(3)
    assert ran == [False]  # the behaviour was only traced, never executed


def test_transition_changing_an_unspecified_dtype_is_named():
    spec = ValueSpec(n=FieldSpec())
    rt = TFRuntime(_variable(spec, lambda: Value(n=0), lambda p: Value(n=tf.cast(p.get("n"), tf.float32))), seed=0)
    with pytest.raises(SpecError, match=r"'user state', field 'n'.*float32.*int32"):
        rt.trajectory(2)


def test_matches_numpy_runtime_on_deterministic_models():
    tf_traj = TFRuntime(counting_variables(), seed=0).trajectory(5)
    np_traj = NumpyRuntime(counting_variables(), seed=0).trajectory(5)
    assert np.array_equal(tf_traj["count"].get("n"), np_traj["count"].get("n"))


@pytest.mark.parametrize("eager", [False, True])
def test_run_many_equals_single_calls(eager):
    walk = random_walk_variables(2)
    rt = TFRuntime(walk, seed=3, eager=eager)
    many = rt.run_many([7, 8], length=4)["walk"].get("position")
    assert many.shape == (2, 4, 2)
    for i, s in enumerate([7, 8]):
        assert np.array_equal(many[i], rt.trajectory(4, seed=s)["walk"].get("position"))
    finals = TFRuntime(walk, seed=3, eager=eager).run_many(num_runs=3, num_steps=2)["walk"].get("position")
    fresh = TFRuntime(walk, seed=3, eager=eager)
    for i in range(3):
        assert np.array_equal(finals[i], fresh.execute(2)["walk"].get("position"))
    with pytest.raises(ValueError, match="exactly one of"):
        rt.run_many([1], length=2, num_steps=2)


def test_loop_functions_embed_in_other_graphs():
    walk = random_walk_variables(2)
    rt = TFRuntime(walk, seed=0)
    loop = tf.function(rt.step_function("execute"), autograph=False)
    final = loop(tf.constant(3), rt.backend.make_seed(5), None)["walk"]["position"]
    assert np.array_equal(final, rt.execute(3, seed=5)["walk"].get("position"))
    with pytest.raises(ValueError, match="'trajectory' or 'execute'"):
        rt.step_function("scan")

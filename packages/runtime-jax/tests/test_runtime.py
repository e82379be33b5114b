"""JaxRuntime: reproducibility, agreement with the NumPy runtime, type stability, errors."""

from __future__ import annotations

import numpy as np
import pytest
from jax_models import choice_variables, drift_variables

from recosim.core import FieldSpec, NetworkError, NumpyRuntime, SpecError, Value, ValueSpec, Variable, value
from recosim.core.examples import counting_variables, random_walk_variables
from recosim.core.replay import replay_variable
from recosim.core.testing import to_numpy
from recosim.jax import JaxRuntime


def test_same_seed_same_trajectory():
    rt = JaxRuntime(choice_variables() + drift_variables(), seed=4)
    a, b = to_numpy(rt.trajectory(6, seed=11)), to_numpy(rt.trajectory(6, seed=11))
    for name in a:
        for key in a[name]:
            assert np.array_equal(a[name][key], b[name][key]), (name, key)
    # a fresh runtime with the same seed repeats the same sequence of calls
    r1, r2 = JaxRuntime(drift_variables(), seed=4), JaxRuntime(drift_variables(), seed=4)
    first, second = r1.trajectory(3), r1.trajectory(3)
    assert np.array_equal(first["chain"]["x"], r2.trajectory(3)["chain"]["x"])
    assert not np.array_equal(first["chain"]["x"], second["chain"]["x"])  # successive calls differ
    assert not np.array_equal(r1.trajectory(3, seed=1)["chain"]["x"], r1.trajectory(3, seed=2)["chain"]["x"])


def test_execute_is_the_last_step_of_the_trajectory():
    rt = JaxRuntime(drift_variables(), seed=0)
    traj = rt.trajectory(5, seed=3)
    assert np.array_equal(rt.execute(4, seed=3)["chain"]["x"], traj["chain"]["x"][-1])
    assert np.array_equal(rt.execute(0, seed=3)["chain"]["x"], traj["chain"]["x"][0])
    assert rt.trajectory(1, seed=3)["chain"]["x"].shape == (1, 2)


def test_jit_false_runs_the_same_steps_eagerly():
    compiled = JaxRuntime(choice_variables() + drift_variables(), seed=2)
    eager = JaxRuntime(choice_variables() + drift_variables(), seed=2, jit=False)
    a, b = to_numpy(compiled.trajectory(5)), to_numpy(eager.trajectory(5))
    assert np.array_equal(a["response"]["choice"], b["response"]["choice"])
    np.testing.assert_allclose(a["chain"]["x"], b["chain"]["x"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(compiled.execute(3)["chain"]["x"], eager.execute(3)["chain"]["x"], rtol=1e-5)


def test_counting_agrees_exactly_with_numpy():
    jax_traj = JaxRuntime(counting_variables(), seed=0).trajectory(6)["count"].get("n")
    np_traj = NumpyRuntime(counting_variables(), seed=0).trajectory(6)["count"].get("n")
    assert np.asarray(jax_traj).tolist() == np.asarray(np_traj).tolist() == [0, 1, 2, 3, 4, 5]
    assert str(jax_traj.dtype) == "int32"  # a Python int becomes a stable int32 carry
    rt = JaxRuntime(counting_variables(), seed=0)
    assert int(rt.execute(7)["count"].get("n")) == 7
    assert int(rt.execute(3, starting_value={"count": Value(n=10)})["count"].get("n")) == 13
    traj = rt.trajectory(3, starting_value={"count": {"n": np.int64(5)}})
    assert np.asarray(traj["count"].get("n")).tolist() == [5, 6, 7]


def test_weakly_typed_outputs_adopt_the_carried_dtype():
    v = Variable("v", ValueSpec(x=FieldSpec(), flag=FieldSpec()))
    v.initial_value = value(lambda: Value(x=0.0, flag=False))
    v.value = value(lambda p: Value(x=1, flag=p.get("flag") | True), (v.previous,))  # Python int into a float
    traj = JaxRuntime([v], seed=0).trajectory(3)
    assert str(traj["v"].get("x").dtype) == "float32" and traj["v"].get("x").tolist() == [0.0, 1.0, 1.0]
    assert traj["v"].get("flag").tolist() == [False, True, True]


def test_static_and_replayed_variables():
    logged = Value(doc=np.array([[1, 2], [3, 4], [5, 6]], dtype=np.int32))
    const = Variable("const", ValueSpec(c=FieldSpec()))
    const.initial_value = value(lambda: Value(c=np.float32(2.5)))
    traj = JaxRuntime([*replay_variable("slates", logged), const], seed=0).trajectory(3)
    assert np.asarray(traj["slates"].get("doc")).tolist() == [[1, 2], [3, 4], [5, 6]]
    assert np.asarray(traj["const"].get("c")).tolist() == [2.5, 2.5, 2.5]


def test_random_walk_agrees_in_distribution_with_numpy():
    # 4000 walkers, 4 steps of N(0, 1): position at step t ~ N(0, t + 1).
    # Tolerances: 5 standard errors of the sample mean (sqrt(var/n)) and of the
    # sample variance (var * sqrt(2/n)).
    n, length = 4000, 4
    positions = {
        "jax": np.asarray(JaxRuntime(random_walk_variables(n), seed=5).trajectory(length)["walk"].get("position")),
        "numpy": np.asarray(NumpyRuntime(random_walk_variables(n), seed=5).trajectory(length)["walk"].get("position")),
    }
    for t in range(length):
        var = t + 1.0
        for name, pos in positions.items():
            assert abs(pos[t].mean()) < 5 * np.sqrt(var / n), (name, t)
            assert abs(pos[t].var() - var) < 5 * var * np.sqrt(2 / n), (name, t)
        diff = positions["jax"][t].mean() - positions["numpy"][t].mean()
        assert abs(diff) < 5 * np.sqrt(2 * var / n), t
    # increments are independent across steps: correlation of successive increments near 0
    inc = np.diff(positions["jax"], axis=0)
    assert abs(np.corrcoef(inc[0], inc[1])[0, 1]) < 5 / np.sqrt(n)


def test_categorical_choices_agree_in_distribution_with_numpy():
    # 2000 users with identical affinities: the first choice is softmax(affinity); compare
    # frequencies to the exact probabilities within 5 binomial standard errors.
    users = 2000
    jax_c = np.asarray(JaxRuntime(choice_variables(users), seed=1).trajectory(2)["response"].get("choice"))
    np_c = np.asarray(NumpyRuntime(choice_variables(users), seed=1).trajectory(2)["response"].get("choice"))
    affinity = np.linspace(-1.0, 1.0, 4 * users, dtype=np.float32).reshape(users, 4)
    probs = np.exp(affinity) / np.exp(affinity).sum(-1, keepdims=True)
    expected = probs.mean(0)
    for c in (jax_c, np_c):
        freq = np.bincount(c[0], minlength=4) / users
        assert np.all(np.abs(freq - expected) < 5 * np.sqrt(expected * (1 - expected) / users))
        assert c.dtype == np.int32
    # repeats are favoured after step 0 on both runtimes
    for c in (jax_c, np_c):
        assert (c[1] == c[0]).mean() > (probs * probs).sum(-1).mean()


def test_spec_errors_surface_with_the_variable_and_field():
    bad = Variable("user", ValueSpec(x=FieldSpec(shape=(2,), dtype="float32")))
    bad.initial_value = value(lambda: Value(x=np.zeros(3, np.float32)))
    with pytest.raises(SpecError, match=r"variable 'user'.*field 'x'.*shape \(3,\)"):
        JaxRuntime([bad], seed=0).trajectory(2)

    grows = Variable("queue", ValueSpec(items=FieldSpec()))
    grows.initial_value = value(lambda: Value(items=np.zeros(1, np.float32)))
    grows.value = value(lambda p: Value(items=np.zeros(2, np.float32)), (grows.previous,))
    with pytest.raises(SpecError, match=r"variable 'queue', field 'items': the transition returns shape \(2,\)"):
        JaxRuntime([grows], seed=0).execute(2)

    retyped = Variable("count", ValueSpec(n=FieldSpec()))
    retyped.initial_value = value(lambda: Value(n=np.int32(0)))
    retyped.value = value(lambda p: Value(n=np.float32(0.5)), (retyped.previous,))
    with pytest.raises(SpecError, match=r"variable 'count', field 'n': the transition returns dtype float32"):
        JaxRuntime([retyped], seed=0).trajectory(3)

    text = Variable("label", ValueSpec(s=FieldSpec()))
    text.initial_value = value(lambda: Value(s="hello"))
    with pytest.raises(SpecError, match=r"variable 'label', field 's'"):
        JaxRuntime([text], seed=0).trajectory(1)

    with pytest.raises(ValueError, match="trajectory length must be an integer >= 1"):
        JaxRuntime(counting_variables(), seed=0).trajectory(0)
    with pytest.raises(NetworkError, match=r"missing \['count'\]"):
        JaxRuntime(counting_variables(), seed=0).execute(1, starting_value={})


def test_callback_reports_each_transition():
    seen: list[int] = []
    JaxRuntime(counting_variables(), seed=0, callback=seen.append).execute(4)
    assert seen == [1, 2, 3, 4]
    seen.clear()
    JaxRuntime(counting_variables(), seed=0, jit=False, callback=seen.append).trajectory(3)
    assert seen == [1, 2]


def test_compiled_functions_are_cached_per_length():
    rt = JaxRuntime(drift_variables(), seed=0)
    rt.trajectory(3)
    rt.trajectory(3, seed=9)
    rt.trajectory(4)
    rt.execute(3)
    assert sorted(k[:2] for k in rt._executables) == [("execute", 3), ("trajectory", 3), ("trajectory", 4)]


def test_runs_through_make_runtime():
    from recosim.core import make_runtime

    rt = make_runtime(counting_variables(), "jax", seed=0)
    assert isinstance(rt, JaxRuntime)
    assert int(rt.execute(2)["count"].get("n")) == 2

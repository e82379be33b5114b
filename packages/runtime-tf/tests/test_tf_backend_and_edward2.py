from functools import partial

import numpy as np
import pytest
import scipy.stats
import tensorflow as tf

from recosim.core.evaluation import initial_step
from recosim.core.network import Network
from recosim.core.random import rv, substitute, trace
from recosim.core.value import FieldSpec, Value, ValueSpec
from recosim.core.variable import Variable, value
from recosim.tf import _edward2_compat
from recosim.tf.backend import tf_backend
from recosim.tf.tracing import edward2, run_step, step_handlers

B = tf_backend()


def test_seeds_are_int32_pairs_and_deterministic():
    key = B.make_seed(2**40 + 5)
    assert key.dtype == tf.int32 and key.shape == (2,)
    assert np.array_equal(B.fold_in(key, 3), B.fold_in(key, 3))
    assert not np.array_equal(B.fold_in(key, 3), B.fold_in(key, 4))
    assert not np.array_equal(B.fold_in(B.make_seed(0), 3), B.fold_in(B.make_seed(1), 3))
    # a tensor and a Python int fold in the same way
    assert np.array_equal(B.fold_in(key, tf.constant(7)), B.fold_in(key, 7))
    d = B.tfd.Normal(tf.zeros(4), 1.0)
    assert np.array_equal(B.sample(d, (), B.fold_in(key, 1)), B.sample(d, (), B.fold_in(key, 1)))


def test_array_extras_match_numpy_semantics():
    x = B.np.asarray([1.0, 3.0, 3.0, 2.0], dtype="float32")
    values, idx = B.top_k(x, 3)
    assert idx.numpy().tolist() == [1, 2, 3] and values.numpy().tolist() == [3.0, 3.0, 2.0]
    out = B.scatter_add(B.np.zeros((3, 2), dtype="float32"), B.asarray([0, 2, 0], "int32"), B.np.ones((3, 2)))
    assert out.numpy().tolist() == [[2.0, 2.0], [0.0, 0.0], [1.0, 1.0]]
    assert B.one_hot(B.asarray([2, 0], "int32"), 3).numpy().tolist() == [[0, 0, 1], [1, 0, 0]]
    assert B.asarray(0.5).dtype == tf.float32
    assert B.cast(B.asarray([1.7]), "int32").dtype == tf.int32
    a = B.asarray([[2.0, 1.0], [1.0, 3.0]], "float32")
    sign, logdet = B.linalg.slogdet(a)
    assert float(sign) == 1.0 and np.isclose(float(logdet), np.log(5.0))
    assert np.allclose(B.linalg.solve(a, B.np.eye(2, dtype="float32")), np.linalg.inv(a.numpy()), atol=1e-6)
    assert np.allclose(B.logsumexp(B.asarray([0.0, 0.0])), np.log(2.0))
    assert B.owns(a) and B.owns(tf.Variable(1.0)) and not B.owns(np.zeros(2))
    # NumPy-style promotion on operators (see the backend's docstring)
    assert (B.asarray([1], "int32") * B.asarray([1.0], "float32")).dtype == tf.float64


def test_compat_gives_scipy_a_placeholder_sampler_and_imports_edward2():
    ed = _edward2_compat.import_edward2()
    assert hasattr(ed, "RandomVariable") and hasattr(ed, "tape")
    dm = scipy.stats.dirichlet_multinomial
    with pytest.raises(NotImplementedError, match="dirichlet_multinomial has no sampler"):
        dm.rvs([1.0, 1.0], 3)
    assert _edward2_compat.patch_scipy_for_edward2() == []  # already patched: nothing to do
    # distributions that had a sampler keep theirs
    assert scipy.stats.norm.rvs(size=2, random_state=0).shape == (2,)


def _model():
    x = Variable("x", ValueSpec(a=FieldSpec(shape=(2,), dtype="float32"), b=FieldSpec(dtype="float32")))

    def initial():
        b = tf_backend()
        a = rv("a", b.tfd.Normal(b.np.zeros(2, dtype="float32"), 1.0))
        return Value(a=a, b=b.tfd.Normal(b.np.sum(a), 2.0))

    x.initial_value = value(initial)
    return Network([x])


def test_edward2_tape_records_every_draw_by_name():
    ed = edward2()
    net = _model()
    with ed.tape() as tape, trace() as tr:
        step = run_step(partial(initial_step, net), seed=3)
    assert list(tape) == ["x/a", "x/b"]
    assert all(isinstance(r, ed.RandomVariable) for r in tape.values())
    assert np.array_equal(tape["x/a"].value, step["x"].get("a"))
    ed_lp = sum(float(tf.reduce_sum(r.distribution.log_prob(r.value))) for r in tape.values())
    assert np.isclose(ed_lp, float(tr.log_prob()), rtol=1e-6)
    # Edward2 sees substituted (observed) draws too
    with ed.tape() as tape, step_handlers(B.make_seed(0)), substitute({"x/a": tf.ones(2)}):
        initial_step(net)
    assert np.array_equal(tape["x/a"].value, [1.0, 1.0])


def test_edward2_condition_sets_the_value_the_model_sees():
    ed = edward2()
    net = _model()
    with ed.condition(**{"x/b": tf.constant(4.0)}):
        step = run_step(partial(initial_step, net), seed=3)
    assert float(step["x"].get("b")) == 4.0


def test_broadcast_substitution_is_scored_without_an_edward2_variable():
    ed = edward2()
    with ed.tape() as tape, trace() as tr, step_handlers(B.make_seed(0)), substitute({"x/a": tf.ones((4, 2))}):
        rv("x/a", B.tfd.Normal(tf.zeros(2), 1.0))
    assert "x/a" not in tape
    assert np.isclose(float(tr.log_prob()), 8 * -0.5 * (1 + np.log(2 * np.pi)), rtol=1e-6)


def test_scalar_uniform_is_the_compiled_threefry_draw():
    from recosim.tf.fast_ops import uniform as threefry_uniform

    seed = B.make_seed(11)
    for low, high in ((0.0, 1.0), (-2.0, 3.5)):
        uniform = B.tfd.Uniform(tf.constant(low), tf.constant(high))
        np.testing.assert_array_equal(B.sample(uniform, (6, 7), seed), threefry_uniform([6, 7], seed, low, high))
    batched = B.tfd.Uniform(tf.zeros(3), tf.ones(3))  # array bounds: TFP's own sampler
    np.testing.assert_array_equal(B.sample(batched, (2,), seed), batched.sample((2,), seed=seed))

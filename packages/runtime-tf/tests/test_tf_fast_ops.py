"""The TF backend's faster top-k and uniform draws give the results of the operations they replace."""

import numpy as np
import pytest
import scipy.stats
import tensorflow as tf

from recosim.core.backend import numpy_backend
from recosim.tf.backend import tf_backend
from recosim.tf.fast_ops import blocked_top_k, uniform, use_blocked_top_k

B = tf_backend()


def _tied_scores(shape, seed):
    """Scores with many ties (a few distinct values), some -inf, -0.0 and +0.0, and rows all equal."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-3, 4, size=shape).astype(np.float32)
    x[rng.random(shape) < 0.05] = -np.inf
    zeros = x == 0
    x[zeros & (rng.random(shape) < 0.5)] = -0.0
    x.reshape(-1, shape[-1])[0] = 1.0  # a row of equal values
    x.reshape(-1, shape[-1])[1] = -np.inf  # a row of -inf
    return x


@pytest.mark.parametrize(
    "shape, k",
    [
        ((40, 48), 1),
        ((40, 48), 3),
        ((30, 400), 1),
        ((30, 400), 3),
        ((30, 401), 2),  # padded last block
        ((30, 401), 8),
        ((6, 1000), 5),
        ((3, 5, 400), 3),  # two leading axes
    ],
)
def test_blocked_top_k_equals_tf_top_k_ties_included(shape, k):
    x = tf.constant(_tied_scores(shape, seed=shape[-1] + k))
    values, index = blocked_top_k(x, k)
    expected = tf.math.top_k(x, k)
    assert index.dtype == tf.int32 and index.shape == (*shape[:-1], k)
    np.testing.assert_array_equal(index.numpy(), expected.indices.numpy())
    np.testing.assert_array_equal(values.numpy(), expected.values.numpy())
    # the values keep their own bits (a -0.0 stays -0.0)
    assert np.array_equal(np.signbit(values.numpy()), np.signbit(expected.values.numpy()))
    # and the NumPy backend, the contract's reference, agrees
    np.testing.assert_array_equal(index.numpy(), numpy_backend().top_k(x.numpy(), k)[1])


def test_blocked_top_k_inside_a_function_with_an_unknown_batch_and_inside_xla():
    fn = tf.function(lambda x: blocked_top_k(x, 3), input_signature=[tf.TensorSpec([None, 400], tf.float32)])
    x = tf.constant(np.random.default_rng(0).normal(size=(7, 400)).astype(np.float32))
    expected = tf.math.top_k(x, 3)
    for compiled in (fn, tf.function(lambda x: blocked_top_k(x, 3), jit_compile=True)):
        values, index = compiled(x)
        np.testing.assert_array_equal(index.numpy(), expected.indices.numpy())
        np.testing.assert_array_equal(values.numpy(), expected.values.numpy())


def test_blocked_top_k_ranks_nan_first_and_never_leaves_the_row():
    x = np.random.default_rng(1).normal(size=(4, 401)).astype(np.float32)
    x[0, 7] = np.nan
    x[1, :] = -np.float32(np.nan)  # NaN with its sign bit set, as x86 makes it
    x[2, 399] = np.inf
    x[2, 400] = np.nan
    values, index = blocked_top_k(tf.constant(x), 3)
    index = index.numpy()
    assert index[0, 0] == 7 and np.isnan(values.numpy()[0, 0])
    assert index[1].tolist() == [0, 1, 2]  # all NaN: the first three
    assert index[2, :2].tolist() == [400, 399]
    assert ((index >= 0) & (index < 401)).all()
    assert all(len(set(row)) == 3 for row in index.tolist())


def test_blocked_top_k_refuses_bad_arguments():
    with pytest.raises(ValueError, match="k=0 must be between 1 and the last dimension 400"):
        blocked_top_k(tf.zeros((2, 400)), 0)
    with pytest.raises(TypeError, match="float32 scores, got float64"):
        blocked_top_k(tf.zeros((2, 400), tf.float64), 3)


def test_backend_top_k_chooses_the_blocked_path_only_where_it_applies_and_agrees_everywhere():
    rng = np.random.default_rng(2)
    cases = [
        (rng.normal(size=(5, 400)).astype(np.float32), 3, True),
        (rng.normal(size=(5, 40)).astype(np.float32), 3, False),  # short rows
        (rng.normal(size=(5, 400)).astype(np.float32), 20, False),  # large k
        (rng.normal(size=(5, 400)), 3, False),  # float64
        (rng.integers(0, 5, size=(5, 400)).astype(np.int32), 3, False),
    ]
    for x, k, blocked in cases:
        x = tf.constant(x)
        assert use_blocked_top_k(x, k) is blocked
        values, index = B.top_k(x, k)
        expected = tf.math.top_k(x, k)
        np.testing.assert_array_equal(index.numpy(), expected.indices.numpy())
        np.testing.assert_array_equal(values.numpy(), expected.values.numpy())


def test_uniform_is_the_same_eager_and_compiled_and_refuses_bad_arguments():
    seed = tf.constant([5, -7], tf.int32)
    eager = uniform([30, 40], seed, -1.0, 2.0)
    traced = tf.function(lambda s: uniform([30, 40], s, -1.0, 2.0))(seed)
    np.testing.assert_array_equal(traced.numpy(), eager.numpy())
    inside_xla = tf.function(lambda s: uniform([30, 40], s, -1.0, 2.0), jit_compile=True)(seed)
    np.testing.assert_array_equal(inside_xla.numpy(), eager.numpy())
    # bounds 0 and 1 give the unit draw itself, which the bounds scale
    np.testing.assert_allclose(eager.numpy(), -1.0 + 3.0 * uniform([30, 40], seed).numpy(), rtol=1e-6, atol=1e-6)
    assert uniform([3], seed, dtype="float64").dtype == tf.float64
    with pytest.raises(TypeError, match="float32 or float64, got int32"):
        uniform([3], seed, dtype="int32")
    with pytest.raises(ValueError, match="scalar bounds, got shapes"):
        uniform([3], seed, low=tf.zeros(3))


@pytest.mark.parametrize("low, high", [(0.0, 1.0), (-2.0, 3.0)])
def test_backend_uniform_draws_are_uniform_and_keyed_by_the_seed(low, high):
    d = B.tfd.Uniform(B.asarray(low, "float32"), B.asarray(high, "float32"))
    key = B.fold_in(B.make_seed(11), 3)
    draw = B.sample(d, (200, 100), key).numpy()
    assert draw.shape == (200, 100) and draw.dtype == np.float32
    assert draw.min() >= low and draw.max() < high
    # the formula TFP uses, low + (high - low) * u, on the unit draw for the same seed
    np.testing.assert_allclose(draw, low + (high - low) * uniform([200, 100], key).numpy(), rtol=1e-6, atol=1e-6)
    # same seed: same numbers; another step's seed: other numbers
    assert np.array_equal(draw, B.sample(d, (200, 100), key).numpy())
    other = B.sample(d, (200, 100), B.fold_in(B.make_seed(11), 4)).numpy()
    assert np.mean(draw == other) < 1e-3
    # the law: 20,000 draws, mean and variance within 4.5 standard errors, KS p-value above 1e-3
    n, width = draw.size, high - low
    assert abs(draw.mean() - (low + high) / 2) < 4.5 * width / np.sqrt(12 * n)
    assert abs(draw.var() - width**2 / 12) < 4.5 * width**2 * np.sqrt(1 / 180 / n)
    assert scipy.stats.kstest(draw.ravel(), scipy.stats.uniform(low, width).cdf).pvalue > 1e-3


def test_blocked_top_k_values_pass_gradients_to_the_chosen_entries():
    x = tf.Variable(np.random.default_rng(3).normal(size=(4, 400)).astype(np.float32))
    with tf.GradientTape() as tape:
        values, index = blocked_top_k(x, 3)
        total = tf.reduce_sum(values * tf.constant([3.0, 2.0, 1.0]))
    grad = tape.gradient(total, x).numpy()
    expected = np.zeros((4, 400), np.float32)
    np.put_along_axis(expected, index.numpy(), np.array([[3.0, 2.0, 1.0]] * 4, np.float32), axis=-1)
    np.testing.assert_array_equal(grad, expected)


def test_module_examples():
    import doctest

    import recosim.tf.fast_ops

    result = doctest.testmod(recosim.tf.fast_ops)
    assert result.attempted > 0 and result.failed == 0

"""Supports of distributions, checked mode's handler, carried dtypes and behaviour errors (NumPy backend).

The same rules run on every backend; packages/library/tests/test_trustworthy.py and
test_log_prob_fuzz.py run them on every installed runtime.
"""

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recosim.core import FieldSpec, NumpyRuntime, Value, ValueSpec, Variable, value
from recosim.core.backend import numpy_backend
from recosim.core.checks import checked
from recosim.core.errors import BehaviourError, SpecError, ValidationError
from recosim.core.evaluation import carried_dtype_problem
from recosim.core.random import rv, seed, substitute, trace
from recosim.core.support import in_support, log_prob_in_support, support_mask

B = numpy_backend()
tfd = B.tfd


def f32(x):
    return np.asarray(x, np.float32)


def score(d, x):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.asarray(log_prob_in_support(d, np.asarray(x), B))


@settings(max_examples=50, deadline=None)
@given(x=st.one_of(st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True, width=32)))
def test_a_categorical_scores_exactly_its_classes(x):
    d = tfd.Categorical(logits=f32([0.0, 1.0, 2.0]))
    lp = float(score(d, x))
    possible = not math.isnan(x) and float(x).is_integer() and 0 <= x < 3
    if possible:
        assert lp == pytest.approx(float(d.log_prob(np.int32(x))), rel=1e-6)
    else:
        assert lp == -math.inf


def test_wrappers_combine_their_parts_supports():
    ind = tfd.Independent(tfd.Categorical(logits=np.zeros((2, 3), np.float32)), reinterpreted_batch_ndims=1)
    assert score(ind, [0, 2]) == pytest.approx(2 * math.log(1 / 3), rel=1e-6)
    assert score(ind, [0, 3]) == -math.inf
    mix = tfd.MixtureSameFamily(tfd.Categorical(logits=f32([0.0, 0.0])),
                                tfd.Gamma(f32([1.0, 2.0]), f32([1.0, 1.0])))
    assert score(mix, [-1.0, 1.0]).tolist()[0] == -math.inf and np.isfinite(score(mix, [-1.0, 1.0])[1])
    sample = tfd.Sample(tfd.Poisson(f32(2.0)), sample_shape=3)
    assert score(sample, [1, 2, 3]) > -math.inf and score(sample, [1, 2.5, 3]) == -math.inf
    broad = tfd.BatchBroadcast(tfd.Bernoulli(probs=f32(0.5)), with_shape=[2])
    assert score(broad, [1, 2]).tolist() == [pytest.approx(math.log(0.5)), -math.inf]


def test_event_families():
    mvn = tfd.MultivariateNormalDiag(np.zeros(2, np.float32), np.ones(2, np.float32))
    assert score(mvn, [[0.0, 0.0], [math.nan, 0.0]]).tolist()[1] == -math.inf
    dirichlet = tfd.Dirichlet(f32([1.0, 1.0, 1.0]))
    assert np.isfinite(score(dirichlet, [0.2, 0.3, 0.5])) and score(dirichlet, [0.5, 0.6, -0.1]) == -math.inf
    assert score(dirichlet, [0.2, 0.2, 0.2]) == -math.inf  # does not sum to one
    one_hot = tfd.OneHotCategorical(logits=np.zeros(3, np.float32))
    assert np.isfinite(score(one_hot, [0, 1, 0])) and score(one_hot, [1, 1, 0]) == -math.inf
    multi = tfd.Multinomial(total_count=f32(4.0), probs=f32([0.5, 0.5]))
    assert np.isfinite(score(multi, [1.0, 3.0])) and score(multi, [1.0, 2.0]) == -math.inf


class _Own:
    """A distribution of its own kind that declares its support."""

    dtype = "int32"

    def log_prob(self, x):
        return np.zeros(np.shape(x), np.float32)

    def sample(self, sample_shape=(), seed=None):
        return np.zeros(sample_shape, np.int32)

    def in_support(self, x):
        return np.asarray(x) < 5


class _Unknown(_Own):
    in_support = None  # declares nothing: only NaN is impossible


def test_a_distribution_of_another_kind_declares_its_support_or_only_nan_is_impossible():
    assert score(_Own(), [1, 7]).tolist() == [0.0, -math.inf]
    assert in_support(_Unknown(), np.asarray([1.0]), B) is None
    assert support_mask(_Unknown(), np.asarray([1.0, math.nan]), B).tolist() == [True, False]
    assert score(_Unknown(), [1.0, math.nan]).tolist() == [0.0, -math.inf]


def test_sites_score_through_the_support():
    with trace() as tr, substitute({"x": 3}):
        rv("x", tfd.Categorical(logits=np.zeros(3, np.float32)))
    assert float(tr.log_prob()) == -math.inf


def test_checked_handler_names_variable_field_and_step():
    with pytest.raises(ValidationError, match="variable 'user', field 'mood', step 4: invalid arguments for Normal"):
        with seed(0, B), checked(step=4):
            rv("user/mood", tfd.Normal(f32(0.0), f32(-1.0)))
    with pytest.raises(ValidationError, match="variable 'user', field 'n', step 1: the draw from Normal is not finite"):
        with seed(0, B), checked(step=1):
            rv("user/n", tfd.Normal(f32(math.inf), f32(1.0)))
    with pytest.raises(ValidationError, match=r"field 'c', step 2: .*outside the support .*first at index \(1,\): 7"):
        with substitute({"user/c": np.asarray([0, 7])}), checked(step=2):
            rv("user/c", tfd.Categorical(logits=np.zeros(3, np.float32)))


@pytest.mark.parametrize("new, carried, weak, refused", [
    ("int32", "int32", False, False),
    ("float64", "float32", False, False),  # same kind: the runtime decides (NumPy widens, TF and JAX refuse)
    ("int32", "float32", True, False),     # an int literal into a float field: cast
    ("float32", "int32", True, True),      # a float literal into an int field: would truncate
    ("float64", "int32", False, True),
    ("int32", "float32", False, True),     # a strongly typed int array replacing floats
    ("bool", "int32", True, False),
])
def test_carried_dtype_rules(new, carried, weak, refused):
    assert (carried_dtype_problem(new, carried, weak=weak) is not None) == refused


def test_python_scalars_take_the_spec_dtype_or_a_clear_error():
    x = Variable("x", ValueSpec(v=FieldSpec(dtype="float32"), n=FieldSpec()))
    x.initial_value = value(lambda: Value(v=0, n=3))
    x.value = value(lambda p: Value(v=p.get("v") + 1, n=2**40), (x.previous,))
    rt = NumpyRuntime([x], seed=0)
    first = rt.execute(0)["x"]
    assert first.get("v").dtype == np.float32 and first.get("n").dtype == np.int32
    with pytest.raises(SpecError, match=r"variable 'x', field 'n', step 1: the Python int 1099511627776 does not "
                                        r"fit its dtype int32"):
        rt.trajectory(2)
    with pytest.raises(SpecError, match="the starting value of variable 'x', field 'n'.*does not fit"):
        rt.execute(1, starting_value={"x": Value(v=0.5, n=2**40)})


class _NeedsFiveArguments(Exception):
    def __init__(self, a, b, c, d, e):
        super().__init__(a)


def test_behaviour_errors_keep_the_original_class_where_they_can():
    wrapped = BehaviourError.wrapping(KeyError("k"), "variable 'x': raised KeyError: 'k'")
    assert isinstance(wrapped, KeyError) and str(wrapped) == "variable 'x': raised KeyError: 'k'"
    odd = BehaviourError.wrapping(_NeedsFiveArguments(1, 2, 3, 4, 5), "variable 'x': raised")
    assert type(odd) is BehaviourError and isinstance(odd.original, _NeedsFiveArguments)

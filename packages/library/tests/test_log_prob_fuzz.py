"""A fuzz test of the log-probability scorer: random families, shapes, dtypes and impossible values.

Whatever the data, scoring never crashes inside TensorFlow or JAX, never gives a
finite score to impossible data, and gives possible data its log-probability
(SciPy's, to float32 precision). Runs on every installed runtime (the ``runtime``
fixture), with a modest number of examples so it stays well under a minute each.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

from recosim.core import FieldSpec, Value, ValueSpec, Variable, get_backend, value
from recosim.core.testing import make_runtime_for

FLOATS, INTS = ("float32", "float64"), ("int32", "int64")


@dataclass(frozen=True)
class Family:
    build: Callable[[Any, tuple[int, ...]], Any]  # (backend, batch shape) -> distribution
    dtypes: tuple[str, ...]
    possible: Callable[[np.random.Generator, tuple[int, ...], str], np.ndarray]
    impossible_ints: tuple[float, ...]
    impossible_floats: tuple[float, ...]  # besides NaN, which is impossible for every family
    reference: Callable[[np.ndarray], np.ndarray]  # elementwise log-probability in float64


def _full(B: Any, shape: tuple[int, ...], x: float) -> Any:
    return B.np.full(shape, x, dtype="float32")


def _uniform_ints(low: int, high: int) -> Callable[[np.random.Generator, tuple[int, ...], str], np.ndarray]:
    return lambda rng, shape, dtype: rng.integers(low, high + 1, size=shape).astype(dtype)


def _uniform_floats(low: float, high: float) -> Callable[[np.random.Generator, tuple[int, ...], str], np.ndarray]:
    return lambda rng, shape, dtype: rng.uniform(low, high, size=shape).astype(dtype)


FAMILIES = {
    "categorical": Family(
        lambda B, s: B.tfd.Categorical(logits=B.np.zeros((*s, 3), dtype="float32")), FLOATS + INTS,
        _uniform_ints(0, 2), (3, 7, -1, -5, 1000), (0.5, 1.99, -0.25),
        lambda x: np.full(x.shape, math.log(1 / 3)),
    ),
    "bernoulli": Family(
        lambda B, s: B.tfd.Bernoulli(probs=_full(B, s, 0.3)), FLOATS + INTS,
        _uniform_ints(0, 1), (2, -1, 9), (0.5, 1.01),
        lambda x: stats.bernoulli(0.3).logpmf(x),
    ),
    "poisson": Family(
        lambda B, s: B.tfd.Poisson(rate=_full(B, s, 2.0)), FLOATS + INTS,
        _uniform_ints(0, 6), (-1, -4), (2.5, 0.1),
        lambda x: stats.poisson(2.0).logpmf(x),
    ),
    "gamma": Family(
        lambda B, s: B.tfd.Gamma(_full(B, s, 2.0), _full(B, s, 1.0)), FLOATS + INTS,
        _uniform_ints(1, 5), (-1, -3), (-0.01, -2.5),
        lambda x: stats.gamma(2.0).logpdf(x),
    ),
    "beta": Family(
        lambda B, s: B.tfd.Beta(_full(B, s, 2.0), _full(B, s, 2.0)), FLOATS,
        _uniform_floats(0.05, 0.95), (), (1.5, -0.5, 2.0),
        lambda x: stats.beta(2.0, 2.0).logpdf(x),
    ),
    "uniform": Family(
        lambda B, s: B.tfd.Uniform(_full(B, s, 0.0), _full(B, s, 1.0)), FLOATS,
        _uniform_floats(0.01, 0.99), (), (1.5, -0.5, 3.0),
        lambda x: np.zeros(x.shape),
    ),
    "exponential": Family(
        lambda B, s: B.tfd.Exponential(rate=_full(B, s, 1.5)), FLOATS + INTS,
        _uniform_ints(0, 5), (-1, -2), (-0.5, -1e-3),
        lambda x: stats.expon(scale=1 / 1.5).logpdf(x),
    ),
    "normal": Family(
        lambda B, s: B.tfd.Normal(_full(B, s, 0.0), _full(B, s, 1.0)), FLOATS + INTS,
        _uniform_ints(-3, 3), (), (),
        lambda x: stats.norm.logpdf(x),
    ),
}

_RUNTIMES: dict[tuple[str, str, tuple[int, ...]], Any] = {}


def _runtime(runtime: str, family: str, batch: tuple[int, ...]) -> Any:
    """One runtime per (runtime, family, batch shape): compiled scorers are reused across examples."""
    key = (runtime, family, batch)
    if key not in _RUNTIMES:
        build = FAMILIES[family].build
        var = Variable("obs", ValueSpec(x=FieldSpec()))
        var.initial_value = value(lambda: Value(x=build(get_backend(), batch)))
        var.value = value(lambda: Value(x=build(get_backend(), batch)))
        _RUNTIMES[key] = make_runtime_for(runtime, [var])
    return _RUNTIMES[key]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    family=st.sampled_from(sorted(FAMILIES)),
    batch=st.lists(st.integers(1, 3), max_size=2).map(tuple),
    steps=st.integers(1, 3),
    dtype_pick=st.integers(0, 3),
    impossible_share=st.sampled_from([0.0, 0.0, 0.1, 0.5, 1.0]),
    seed=st.integers(0, 2**32 - 1),
)
def test_scorer_never_crashes_and_never_scores_impossible_data_finite(
    runtime, family, batch, steps, dtype_pick, impossible_share, seed
):
    fam = FAMILIES[family]
    dtype = fam.dtypes[dtype_pick % len(fam.dtypes)]
    rng = np.random.default_rng(seed)
    shape = (steps, *batch)
    data = fam.possible(rng, shape, dtype)
    bad_values = fam.impossible_ints + ((*fam.impossible_floats, math.nan) if dtype in FLOATS else ())
    mask = (rng.uniform(size=shape) < impossible_share) if bad_values else np.zeros(shape, bool)
    if mask.any():
        data = np.where(mask, rng.choice(np.asarray(bad_values, dtype), size=shape), data).astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NumPy's log(0) and friends, masked to -inf
        score = float(np.asarray(_runtime(runtime, family, batch).log_probability({"obs": Value(x=data)})))
    if mask.any():
        assert score == -math.inf, (family, dtype, data[mask])
    else:
        expected = float(np.sum(fam.reference(data.astype(np.float32).astype(np.float64))))
        assert math.isfinite(score) and score == pytest.approx(expected, rel=1e-4, abs=1e-4), (family, dtype, data)

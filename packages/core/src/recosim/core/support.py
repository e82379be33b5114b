"""Supports of distributions: impossible data scores ``-inf`` on every backend.

A logged value outside its distribution's support has probability zero, so its
log-probability is ``-inf``. TensorFlow Probability does not promise that: a
categorical index past the last class scores ``0.0`` on NumPy and JAX and stops a
TensorFlow graph, a negative value under a Gamma scores a finite number, and a
float index ``1.99`` is truncated to ``1``. :func:`log_prob_in_support` scores a
value with backend operations only (no host round trip, so it runs inside
compiled functions): it tests the value against the family's support, scores a
harmless in-support stand-in where the test fails (so no framework ever sees an
impossible index), and puts ``-inf`` there.

>>> import numpy as np
>>> from recosim.core.backend import numpy_backend
>>> B = numpy_backend()
>>> d = B.tfd.Categorical(logits=np.zeros(3, np.float32))
>>> log_prob_in_support(d, np.array([0, 3, -1]), B).tolist()
[-1.0986123085021973, -inf, -inf]
>>> in_support(B.tfd.Gamma(np.float32(2.0), np.float32(1.0)), np.array([-1.0, 0.5]), B).tolist()
[False, True]

Families are recognised by class name, so the rules hold on every TFP substrate
(`SUPPORTS` lists them). A distribution of another kind may define
``in_support(value)`` (a boolean array shaped like ``log_prob(value)``) to take
part; otherwise only NaN data is treated as impossible. Wrappers
(``Independent``, ``Sample``, ``BatchBroadcast``, ``MixtureSameFamily``) combine
their parts' supports.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from recosim.core.backend import Backend
from recosim.core.value import dtype_name, shape_of

__all__ = [
    "SUPPORTS",
    "in_support",
    "is_integer_dtype",
    "log_prob_in_support",
    "num_categories",
    "support_mask",
    "value_is_finite",
    "whole_numbers",
]

Rule = Callable[[Any, Any, Backend], Any]
"""``rule(distribution, value, backend)``: elementwise support test of a scalar-event family."""


def is_integer_dtype(x: Any) -> bool:
    """Whether ``x`` has a boolean or integer dtype (its values are whole numbers by construction)."""
    return np.dtype(dtype_name(x)).kind in "biu"


def _as_float(x: Any, B: Backend) -> Any:
    return x if np.dtype(dtype_name(x)).kind == "f" else B.cast(x, "float32")


def _not_nan(x: Any, B: Backend) -> Any:
    if is_integer_dtype(x):
        return B.np.ones_like(x) > 0  # an array of True shaped like x (the other ops need no bool input)
    return B.np.equal(x, x)


def whole_numbers(x: Any, B: Backend) -> Any:
    """Elementwise: ``x`` is a whole number (not NaN, not infinite, no fractional part)."""
    if is_integer_dtype(x):
        return _not_nan(x, B)
    np_ = B.np
    finite = np_.isfinite(x)
    safe = np_.where(finite, x, np_.zeros_like(x))
    return finite & np_.equal(safe, np_.floor(safe))


def _param(d: Any, *names: str) -> Any:
    for name in names:
        value = getattr(d, name, None)
        if value is not None:
            return value
    return None


def _at_least(bound: float) -> Rule:
    def rule(d: Any, x: Any, B: Backend) -> Any:
        return _not_nan(x, B) & (x >= bound)

    return rule


def _real(d: Any, x: Any, B: Backend) -> Any:
    return _not_nan(x, B)


def _unit_interval(d: Any, x: Any, B: Backend) -> Any:
    return _not_nan(x, B) & (x >= 0) & (x <= 1)


def _uniform(d: Any, x: Any, B: Backend) -> Any:
    return _not_nan(x, B) & (x >= d.low) & (x <= d.high)


def _binary(d: Any, x: Any, B: Backend) -> Any:
    return _not_nan(x, B) & ((x == 0) | (x == 1))


def _counts(d: Any, x: Any, B: Backend) -> Any:
    return whole_numbers(x, B) & (x >= 0)


def _binomial(d: Any, x: Any, B: Backend) -> Any:
    return whole_numbers(x, B) & (x >= 0) & (x <= d.total_count)


def num_categories(d: Any) -> int | None:
    """The static number of classes of a categorical distribution (``None`` if unknown)."""
    params = _param(d, "logits", "probs")
    if params is None:
        return None
    last = shape_of(params)[-1:] or (None,)
    return None if last[0] is None else int(last[0])


def _categorical(d: Any, x: Any, B: Backend) -> Any:
    ok = whole_numbers(x, B) & (x >= 0)
    k = num_categories(d)
    if k is not None:
        return ok & (x < k)
    params = _param(d, "logits", "probs")
    return ok & (x < B.cast(B.np.asarray(B.np.sum(B.np.ones_like(params), axis=-1)), dtype_name(x)))


def _truncated(d: Any, x: Any, B: Backend) -> Any:
    return _not_nan(x, B) & (x >= d.low) & (x <= d.high)


SUPPORTS: dict[str, tuple[Rule, Any]] = {
    # real line: only NaN is impossible (TFP scores +-inf as -inf)
    "Normal": (_real, 0), "Gumbel": (_real, 0), "Logistic": (_real, 0), "Laplace": (_real, 0),
    "Cauchy": (_real, 0), "StudentT": (_real, 0), "SinhArcsinh": (_real, 0),
    # half line
    "Gamma": (_at_least(0), 1), "Exponential": (_at_least(0), 1), "Chi2": (_at_least(0), 1),
    "HalfNormal": (_at_least(0), 1), "LogNormal": (_at_least(0), 1), "InverseGamma": (_at_least(0), 1),
    "Weibull": (_at_least(0), 1),
    # intervals
    "Beta": (_unit_interval, 0.5), "Kumaraswamy": (_unit_interval, 0.5), "Uniform": (_uniform, None),
    "TruncatedNormal": (_truncated, None),
    # discrete
    "Bernoulli": (_binary, 0), "Categorical": (_categorical, 0), "Poisson": (_counts, 0),
    "Geometric": (_counts, 0), "NegativeBinomial": (_counts, 0), "Binomial": (_binomial, 0),
}  # fmt: skip
"""Scalar-event families by class name: ``(elementwise support rule, in-support stand-in)``.

The stand-in replaces impossible values before the distribution scores them (so
an index past the last class never reaches a framework's gather); ``None`` keeps
the value (the family scores impossible values as ``-inf`` or NaN by itself).
"""

_EVENT_FAMILIES = {
    "MultivariateNormalDiag", "MultivariateNormalTriL", "MultivariateNormalFullCovariance",
    "MultivariateNormalDiagPlusLowRank", "MultivariateNormalLinearOperator", "MultivariateStudentTLinearOperator",
}  # fmt: skip


def _all_last(ok: Any, n: int, B: Backend) -> Any:
    for _ in range(n):
        ok = B.np.sum(B.cast(~ok, "int32"), axis=-1) == 0
    return ok


def _event_ndims(d: Any) -> int:
    shape = getattr(d, "event_shape", ())
    try:
        return len(tuple(shape))
    except TypeError:  # unknown rank
        return 0


def in_support(distribution: Any, value: Any, backend: Backend) -> Any | None:
    """A boolean array, shaped like ``distribution.log_prob(value)``: whether each value is possible.

    ``None`` when nothing is known about the family beyond NaN being impossible
    (:func:`log_prob_in_support` then checks NaN alone).
    """
    B = backend
    own = getattr(distribution, "in_support", None)
    if callable(own):
        return own(value)
    name = type(distribution).__name__
    rule = SUPPORTS.get(name)
    if rule is not None:
        return rule[0](distribution, value, B)
    if name in _EVENT_FAMILIES:
        return _all_last(_not_nan(value, B), 1, B)
    if name == "Dirichlet":
        total = B.np.sum(_as_float(value, B), axis=-1)
        entries = _all_last(_not_nan(value, B) & (value >= 0) & (value <= 1), 1, B)
        return entries & (B.np.abs(total - 1.0) <= 1e-4)
    if name == "OneHotCategorical":
        entries = _all_last(_binary(distribution, value, B), 1, B)
        return entries & (B.np.sum(_as_float(value, B), axis=-1) == 1)
    if name == "Multinomial":
        entries = _all_last(_counts(distribution, value, B), 1, B)
        return entries & (B.np.sum(_as_float(value, B), axis=-1) == distribution.total_count)
    if name in ("Independent", "Sample"):  # event axes added to the inner distribution's (static ranks)
        inner = support_mask(distribution.distribution, value, B)
        return _all_last(inner, _event_ndims(distribution) - _event_ndims(distribution.distribution), B)
    if name == "BatchBroadcast":
        return support_mask(distribution.distribution, value, B)
    if name == "MixtureSameFamily":
        components = distribution.components_distribution
        expanded = B.np.expand_dims(value, -1 - _event_ndims(components))
        inner = support_mask(components, expanded, B)
        return B.np.sum(B.cast(inner, "int32"), axis=-1) > 0
    return None


def support_mask(distribution: Any, value: Any, backend: Backend) -> Any:
    """:func:`in_support`, with only NaN impossible where the family is unknown (never None)."""
    B = backend
    ok = in_support(distribution, value, B)
    if ok is None:
        ok = _all_last(_not_nan(value, B), _event_ndims(distribution), B)
    return ok


def log_prob_in_support(distribution: Any, value: Any, backend: Backend) -> Any:
    """``distribution.log_prob(value)``, ``-inf`` wherever ``value`` is outside the support.

    The value is cast to the distribution's dtype after the test (so an index
    ``1.99`` or ``2**32 + 1`` is impossible rather than truncated to a class), and
    impossible entries are replaced by an in-support stand-in before scoring. Uses
    backend operations only, so it runs inside compiled functions unchanged.
    """
    B = backend
    np_ = B.np
    value = B.asarray(value) if not hasattr(value, "dtype") else value
    ok = support_mask(distribution, value, B)
    rule = SUPPORTS.get(type(distribution).__name__)
    stand_in = None if rule is None else rule[1]
    if stand_in is not None:
        value = np_.where(ok, value, np_.full_like(value, stand_in))
    value = _cast_to(distribution, value, B)
    lp = distribution.log_prob(value)
    return np_.where(ok, lp, np_.full_like(lp, -np.inf))


def _cast_to(distribution: Any, value: Any, B: Backend) -> Any:
    """``value`` in the distribution's dtype when it has a single one and the value differs."""
    dtype = getattr(distribution, "dtype", None)
    try:
        want = np.dtype(getattr(dtype, "as_numpy_dtype", dtype))
    except TypeError:
        return value
    if dtype is None or want.kind not in "biufc" or dtype_name(value) == want.name:
        return value
    return B.cast(value, want.name)


def value_is_finite(x: Any) -> bool | None:
    """Whether every entry of a concrete array is finite (``None`` when ``x`` has no value yet)."""
    try:
        arr = np.asarray(x)
    except Exception:  # a traced value: nothing to check now
        return None
    if arr.dtype.kind not in "fc":
        return True if arr.dtype.kind in "biu" else None
    return bool(np.all(np.isfinite(arr)))

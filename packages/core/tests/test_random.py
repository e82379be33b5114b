"""The random-variable primitive and its handlers."""

import numpy as np
import pytest

from recosim.core import get_backend, rv
from recosim.core.errors import RandomVariableError
from recosim.core.random import block_unobserved, name_scope, seed, substitute, trace


def test_seed_is_deterministic_and_name_dependent():
    B = get_backend()
    d = B.tfd.Normal(np.zeros(3, np.float32), 1.0)
    with seed(7):
        a1, b1 = rv("a", d), rv("b", d)
    with seed(7):
        b2 = rv("b", d)  # drawing "b" alone does not shift it: keys are derived by name
        a2 = rv("a", d)
    np.testing.assert_array_equal(a1, a2)
    np.testing.assert_array_equal(b1, b2)
    assert not np.array_equal(a1, b1)


def test_substitute_trace_and_scopes():
    B = get_backend()
    with seed(0), substitute({"user/x": np.float32(1.5)}), trace() as tr:
        with name_scope("user"):
            x = rv("x", B.tfd.Normal(0.0, 1.0))
            y = rv("y", B.tfd.Normal(0.0, 1.0))
    assert x == 1.5 and set(tr.sites) == {"user/x", "user/y"}
    assert tr.sites["user/x"].observed and not tr.sites["user/y"].observed
    np.testing.assert_allclose(tr.log_prob(observed_only=True), -0.5 * 1.5**2 - 0.5 * np.log(2 * np.pi), rtol=1e-6)
    np.testing.assert_allclose(tr.log_prob(), tr.sites["user/x"].log_prob + tr.sites["user/y"].log_prob, rtol=1e-6)
    assert y is tr.sites["user/y"].value


def test_block_unobserved_and_duplicate_draws():
    B = get_backend()
    with pytest.raises(RandomVariableError, match="'z' is not observed"), block_unobserved():
        rv("z", B.tfd.Normal(0.0, 1.0))
    with pytest.raises(RandomVariableError, match="'w' was drawn twice"), seed(0), trace():
        rv("w", B.tfd.Normal(0.0, 1.0))
        rv("w", B.tfd.Normal(0.0, 1.0))


def test_handlers_must_nest():
    a, b = seed(0), trace()
    a.__enter__()
    b.__enter__()
    with pytest.raises(RuntimeError, match="reverse order"):
        a.__exit__(None, None, None)
    b.__exit__(None, None, None)
    a.__exit__(None, None, None)


def test_field_scope_matches_prefixed_fields_in_log_probabilities():
    from recosim.core import FieldSpec, Value, ValueSpec, Variable, log_probability_from_value_trajectory, value
    from recosim.core.random import field_scope
    from recosim.core.runtime import NumpyRuntime

    def sub_block():
        B = get_backend()
        x = rv("state", B.tfd.Normal(np.zeros(2, np.float32), 1.0))  # drawn inside: its value is needed here
        return Value(state=x, double=2 * x)

    def user_initial():
        with field_scope("interest"):
            inner = sub_block()
        return inner.prefixed_with("interest")

    user = Variable("user", ValueSpec({"interest.state": FieldSpec((2,)), "interest.double": FieldSpec((2,))}))
    user.initial_value = value(user_initial)
    traj = NumpyRuntime([user], seed=0).trajectory(1)
    x = traj["user"].get("interest.state")[0]
    expected = float(np.sum(-0.5 * x**2 - 0.5 * np.log(2 * np.pi)))
    assert float(log_probability_from_value_trajectory([user], traj)) == pytest.approx(expected, rel=1e-5)


def test_default_one_hot_uses_int32_comparisons():
    from recosim.core.backend import Backend, NumpyBackend

    out = Backend.one_hot(NumpyBackend(), np.array([2, 0], np.int64), 3, dtype="float32")
    assert out.dtype == np.float32 and out.tolist() == [[0, 0, 1], [1, 0, 0]]

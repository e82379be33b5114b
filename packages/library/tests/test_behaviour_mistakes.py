"""Common mistakes inside behaviours get a clear error naming the variable, on every runtime.

A draw made by calling a distribution's ``.sample()`` directly (not returned as a field, not
through ``rv``) would be unseeded and unscored; a Python ``if`` on a traced array cannot work
on a compiling runtime. Each test runs once per installed runtime.
"""

from __future__ import annotations

import numpy as np
import pytest

from recosim.core import FieldSpec, Value, ValueSpec, Variable, get_backend, value
from recosim.core.errors import BehaviourError, RandomVariableError
from recosim.core.testing import make_runtime_for, to_numpy


def _user(transition):
    var = Variable("user", ValueSpec(sat=FieldSpec()))
    var.initial_value = value(lambda: Value(sat=get_backend().np.zeros(3, dtype="float32")))
    var.value = value(transition, (var.previous,))
    return var


def _direct_sample(prev):
    B = get_backend()
    return Value(sat=prev.get("sat") + B.tfd.Normal(0.0, 0.1).sample(3))


def _seeded_field(prev):
    B = get_backend()
    return Value(sat=B.tfd.Normal(prev.get("sat"), 0.1))


@pytest.mark.parametrize("validate", [False, True])
def test_a_direct_sample_inside_a_behaviour_is_refused_naming_the_variable_and_line(runtime, validate):
    rt = make_runtime_for(runtime, [_user(_direct_sample)], seed=0, validate=validate)
    with pytest.raises(RandomVariableError, match=r"variable 'user': a distribution's \.sample\(\) was called "
                                                  r"directly .*test_behaviour_mistakes\.py:\d+: return Value\(sat=") as err:
        rt.trajectory(3)
    assert "B.tfd.Normal" in str(err.value) and "rv('field', distribution)" in str(err.value)
    # the same model written right: seeded (same numbers twice) and scored (a finite log-probability)
    right = [_user(_seeded_field)]
    first = make_runtime_for(runtime, right, seed=0, validate=validate).trajectory(3)
    again = to_numpy(make_runtime_for(runtime, right, seed=0, validate=validate).trajectory(3))
    np.testing.assert_array_equal(to_numpy(first)["user"]["sat"], again["user"]["sat"])
    lp = float(np.asarray(make_runtime_for(runtime, right, seed=0).log_probability(first)))
    assert np.isfinite(lp) and lp != 0.0
    # and scoring the right trajectory under the wrong model is refused too, never 0.0
    with pytest.raises(RandomVariableError, match="variable 'user'"):
        make_runtime_for(runtime, [_user(_direct_sample)], seed=0).log_probability(first)


def _python_if(prev):
    B = get_backend()
    s = prev.get("sat")
    if B.np.sum(s) > 1:
        s = s * 0.0
    return Value(sat=s + 1.0)


def test_a_python_if_on_an_array_works_eagerly_or_says_what_to_write_instead(runtime):
    rt = make_runtime_for(runtime, [_user(_python_if)], seed=0)
    try:
        got = to_numpy(rt.trajectory(4))["user"]["sat"]
    except BehaviourError as err:  # a compiling runtime traces the step: the advice is on the first line
        first = str(err).splitlines()[0]
        assert "variable 'user'" in first and "B.np.where(condition, a, b)" in first and "setting" in first
        assert not isinstance(err.original, AttributeError)
        return
    # eager (NumPy): the branch is taken on concrete values
    np.testing.assert_allclose(got[:, 0], [0.0, 1.0, 1.0, 1.0])
    assert runtime == "numpy", f"runtime {runtime} compiles its step and should have refused the Python if"


class _EdwardStyle:
    """What RecSim NG's ``ed.Normal(...)`` is: a value that carries its distribution (no sample/log_prob itself)."""

    def __init__(self, distribution):
        self.distribution = distribution
        self.sample_shape = ()


def test_a_recsim_ng_style_random_variable_field_says_what_to_write_instead(runtime):
    from recosim.core.errors import SpecError

    var = Variable("user", ValueSpec(sat=FieldSpec()))
    var.initial_value = value(lambda: Value(sat=_EdwardStyle(get_backend().tfd.Normal(0.0, 1.0))))
    with pytest.raises(SpecError, match=r"variable 'user', field 'sat' holds a random variable .* of a Normal.*"
                                        r"return the distribution itself: Value\(sat=B\.tfd\.Normal\(\.\.\.\)\)"):
        make_runtime_for(runtime, [var], seed=0).trajectory(2)

"""`BehaviourError.wrapping` wraps any exception, whatever its constructor takes."""

from __future__ import annotations

import pytest

from recosim.core.errors import BehaviourError, traced_value_advice


class TracerBoolConversionError(TypeError):
    """Stands in for a framework error whose constructor takes a traced array, not a message."""

    def __init__(self, tracer):
        super().__init__(f"Attempted boolean conversion of {tracer._error_repr()}")


class _Tracer:
    def _error_repr(self):
        return "traced array with shape bool[]"


def test_an_error_whose_constructor_takes_no_message_is_wrapped_with_advice():
    original = TracerBoolConversionError(_Tracer())
    wrapped = BehaviourError.wrapping(original, f"variable 'user': behaviour step raised {original}\nmore detail")
    assert type(wrapped) is BehaviourError  # its constructor takes an array: the plain class, no AttributeError
    assert wrapped.original is original
    first = str(wrapped).splitlines()[0]
    assert first.startswith("variable 'user': behaviour step raised Attempted boolean conversion")
    assert "B.np.where(condition, a, b)" in first and str(wrapped).endswith("\nmore detail")


@pytest.mark.parametrize("kind", [ValueError, KeyError, OSError, UnicodeDecodeError])
def test_ordinary_errors_are_wrapped_without_advice(kind):
    err = kind("utf-8", b"x", 0, 1, "bad") if kind is UnicodeDecodeError else kind("boom")
    wrapped = BehaviourError.wrapping(err, "variable 'x': raised")
    assert str(wrapped) == "variable 'x': raised" and wrapped.original is err
    assert traced_value_advice(err) == ""

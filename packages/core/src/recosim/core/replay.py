"""Data variables: replay a logged trajectory as a variable of the network.

A replayed variable emits, at step ``t``, the logged value of step ``t``. It
lets a model be driven by logged data (for example a logged recommender's slates)
while the rest of the network is simulated or scored.

>>> import numpy as np
>>> from recosim.core.runtime import NumpyRuntime
>>> slates = replay_variable("slates", Value(doc=np.array([[1, 2], [3, 4], [5, 6]])))
>>> NumpyRuntime(slates, seed=0).trajectory(3)["slates"].get("doc").tolist()
[[1, 2], [3, 4], [5, 6]]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from recosim.core.backend import get_backend
from recosim.core.errors import SpecError
from recosim.core.value import FieldSpec, Value, ValueSpec, dtype_name, shape_of
from recosim.core.variable import Variable, value

__all__ = ["replay_variable", "STEP_FIELD"]

STEP_FIELD = "replay_step"


def replay_variable(name: str, logged: Mapping[str, Any], *, spec: ValueSpec | None = None) -> list[Variable]:
    """A variable named ``name`` that replays ``logged`` (fields with a leading time axis).

    Returns ``[variable]``; its Value has the logged fields plus an int32 step
    counter ``replay_step``. Running past the end of the log is an error wherever
    the step is known when it runs (the NumPy runtime, eager modes); inside a
    compiled run it clamps to the last logged step.
    """
    logged_v = Value(logged)
    lengths = {k: shape_of(f)[0] for k, f in logged_v.items()}
    if len(set(lengths.values())) != 1:
        raise SpecError(f"replayed variable {name!r}: logged fields have different lengths {lengths}")
    (length,) = set(lengths.values())
    if length is None:
        raise SpecError(f"replayed variable {name!r}: logged fields of unknown length {lengths}; give concrete arrays")
    if spec is None:
        spec = ValueSpec({k: FieldSpec(shape=shape_of(f)[1:], dtype=dtype_name(f)) for k, f in logged_v.items()})
    spec = spec.union(ValueSpec({STEP_FIELD: FieldSpec(shape=(), dtype="int32")}))
    host = logged_v.map(np.asarray)

    def at(t: Any) -> Value:
        B = get_backend()
        step = B.static_value(t)
        if step is not None and int(step) >= length:
            raise IndexError(f"replayed variable {name!r} has {length} logged steps; step {int(step)} asked")
        t_c = B.np.minimum(t, length - 1)
        return host.map(lambda f: B.np.take(B.asarray(f), t_c, axis=0)).union(Value({STEP_FIELD: t}))

    def initial() -> Value:
        return at(get_backend().asarray(0, "int32"))

    def step(previous: Value) -> Value:
        return at(previous.get(STEP_FIELD) + 1)

    var = Variable(name, spec)
    var.initial_value = value(initial)
    var.value = value(step, (var.previous,))
    return [var]

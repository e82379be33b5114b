"""Evaluating one time slice of a `Network`: behaviours run under the random-variable handlers.

Each behaviour is called with its dependencies' values inside a name scope named
after its variable, so a draw ``rv("choice", ...)`` in the behaviour of ``"user
response"`` is the random variable ``"user response/choice"``; distribution-valued
fields are drawn under their field's name; every output is checked against the
variable's spec (unless the network was built with ``check_outputs=False``).
What a draw does (sample, substitute, score) is decided by the handlers the
caller opened, so the same functions serve every runtime and the log-probability
of logged data.

>>> from recosim.core.examples import counting_variables
>>> from recosim.core.network import Network
>>> net = Network(counting_variables())
>>> int(transition(net, initial_step(net))["count"].get("n"))
1

Carried dtypes
--------------
A field keeps one dtype from step to step, the same on every runtime: the dtype
its `FieldSpec` declares, else the dtype of its initial value, where a Python
``bool``, ``int`` or ``float`` becomes ``bool``, ``int32`` or ``float32`` (as on
TensorFlow and JAX). A Python scalar returned later takes the carried dtype; a
transition whose value changes kind (an integer field that becomes a float, a
float that would be truncated to an integer) is refused with a `SpecError`
naming the variable and field, instead of being truncated on one runtime and
promoted on another. Integers are fixed-width: ``int32`` arithmetic wraps at
``2**31`` on every runtime alike; declare ``int64`` for larger counts.

Errors inside behaviours
------------------------
An exception raised by a behaviour is re-raised as a `BehaviourError` naming the
variable, the behaviour and the step (where known), with the original chained;
the new error is also an instance of the original's class where that class
allows it (``except ValueError`` still works). recosim's own errors keep their
type and gain a note saying where they arose.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from recosim.core.backend import Backend, get_backend
from recosim.core.checks import active_check, step_number, where_text
from recosim.core.errors import BehaviourError, NetworkError, RecosimError, SpecError
from recosim.core.network import Network, NetworkValue
from recosim.core.random import name_scope, realize
from recosim.core.value import FieldSpec, Value, dtype_name, shape_of
from recosim.core.variable import Binding, Previous, Variable

__all__ = [
    "PYTHON_SCALAR_DTYPES",
    "carried_dtype_problem",
    "evaluate",
    "initial_step",
    "is_weakly_typed",
    "settle_field",
    "shape_problem",
    "transition",
]

PYTHON_SCALAR_DTYPES: dict[type, str] = {bool: "bool", int: "int32", float: "float32"}
"""The dtype a Python scalar takes when its field declares none (TensorFlow's and JAX's defaults)."""

_KIND_ORDER = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}


def _kind(dtype: str) -> int:
    return _KIND_ORDER.get(np.dtype(dtype).kind, 4)


def _is_python_scalar(x: Any) -> bool:
    return isinstance(x, (bool, int, float)) and not isinstance(x, np.generic)


def is_weakly_typed(x: Any) -> bool:
    """A Python scalar, or a framework value that adopts its partner's dtype (JAX's weak types)."""
    if _is_python_scalar(x):
        return True
    aval = getattr(x, "aval", None)
    return bool(getattr(aval, "weak_type", False)) if aval is not None else bool(getattr(x, "weak_type", False))


def carried_dtype_problem(new: str, carried: str, *, weak: bool) -> str | None:
    """Why a value of dtype ``new`` cannot continue a field that carries ``carried`` (None if it can).

    Same kind (a wider float, say) is left to the runtime; a weakly typed value of
    a lower kind (an ``int`` literal into a float field) is cast; any other change
    of kind is refused.
    """
    if new == carried or _kind(new) == _kind(carried) or (weak and _kind(new) < _kind(carried)):
        return None
    return (
        f"the transition returns dtype {new} but the field carries {carried}; "
        f"carrying it on would {'truncate' if _kind(new) > _kind(carried) else 'change'} its values. "
        f"Declare the dtype in the variable's FieldSpec (FieldSpec(dtype={new!r})) and give the initial "
        "value that dtype, or cast in the behaviour"
    )


def settle_field(x: Any, spec: FieldSpec | None, before: Any, B: Backend, where: str | Callable[[], str]) -> Any:
    """One output field in the dtype it is carried in (see the module's "Carried dtypes").

    ``before`` is the field's value at the previous step (None at step 0). Python
    scalars become arrays of the spec's dtype, else the carried dtype, else the
    default of `PYTHON_SCALAR_DTYPES`; a change of kind is a `SpecError` that
    starts with ``where`` (a string, or a function giving it, called only then).
    """
    declared = spec.dtype if spec is not None else None
    carried = dtype_name(before) if before is not None and hasattr(before, "dtype") else None
    if _is_python_scalar(x):
        target = declared or carried or PYTHON_SCALAR_DTYPES[type(x)]
        problem = carried_dtype_problem(PYTHON_SCALAR_DTYPES[type(x)], target, weak=True)
        if problem is None:
            try:
                return B.asarray(x, target)
            except (OverflowError, ValueError, TypeError) as err:
                problem = f"the Python {type(x).__name__} {x!r} does not fit its dtype {target} ({err})"
        raise SpecError(f"{where if isinstance(where, str) else where()}: {problem}")
    if carried is not None and hasattr(x, "dtype"):
        problem = carried_dtype_problem(dtype_name(x), carried, weak=is_weakly_typed(x))
        if problem is not None:
            raise SpecError(f"{where if isinstance(where, str) else where()}: {problem}")
    return x


def _phase(var: Variable, binding: Binding) -> str:
    return "initial value" if var.has_initial_value and binding is var.initial_value else "transition"


def evaluate(
    network: Network,
    var: Variable,
    binding: Binding,
    args: Sequence[Value],
    *,
    step: Any = None,
    previous: Value | None = None,
) -> Value:
    """Call one behaviour of ``var`` inside the variable's name scope and check what it returns.

    ``step`` (an int, or a value known only when traced) names the step in
    errors; ``previous`` is the variable's value one step back, whose dtypes a
    transition's outputs keep.
    """
    with name_scope(var.name):
        try:
            result = var.invoke(binding, args)
            if not isinstance(result, Mapping):
                raise NetworkError(
                    f"variable {var.name!r}: behaviour {binding.fn_name} returned {type(result).__name__}, "
                    "not a Value"
                )
            result = realize(result)
        except RecosimError as err:
            err.add_note(f"while evaluating the {_phase(var, binding)} of {where_text(var.name, None, step)}")
            raise
        except Exception as err:
            raise BehaviourError.wrapping(
                err,
                f"{where_text(var.name, None, step)}: behaviour {binding.fn_name} ({_phase(var, binding)}) "
                f"raised {type(err).__name__}: {err}",
            ) from err
    result = _settle(var, result, previous, step)
    if network.check_outputs:
        try:
            var.spec.check(result, where=f"variable {var.name!r} (behaviour {binding.fn_name})")
        except SpecError as err:
            number = step_number(step)
            if number is None:
                raise
            raise SpecError(f"{err} (at step {number})") from None
    check = active_check()
    if check is not None:
        check.check_outputs(var.name, result)
    return result


def _static_shape(x: Any) -> tuple[int | None, ...] | None:
    """The static shape of ``x`` (None where even its rank is unknown, as in some TensorFlow graphs)."""
    shape = getattr(x, "shape", None)
    if shape is not None and getattr(shape, "rank", 0) is None:
        return None
    return shape_of(x)


def shape_problem(new: Any, carried: Any, spec: FieldSpec | None) -> str | None:
    """Why a field of shape ``new`` cannot follow one of shape ``carried`` (None if it can).

    A field keeps its shape from step to step, on every runtime; only an axis its
    `FieldSpec` declares as ``None`` may change size (where the runtime allows it),
    and an axis not known until run time is not judged here.
    """
    a, b = _static_shape(new), _static_shape(carried)
    if a is None or b is None:
        return None
    free = spec.shape if spec is not None and spec.shape is not None and len(spec.shape) == len(b) else None
    if len(a) == len(b) and all(
        x is None or y is None or x == y or (free is not None and free[i] is None) for i, (x, y) in enumerate(zip(a, b))
    ):
        return None
    return (
        f"the transition returns shape {a} but the previous step holds shape {b}; a field keeps its shape "
        "from step to step (declare an axis that may change as None in the variable's FieldSpec)"
    )


def _settle(var: Variable, result: Value, previous: Value | None, step: Any) -> Value:
    """``result`` with every field settled in its carried dtype and checked to keep its shape.

    The same object is returned when nothing changed.
    """
    if previous is None and not any(_is_python_scalar(f) for f in result.values()):
        return result
    B = get_backend()
    specs = var.spec.as_dict
    before = previous.as_dict if previous is not None else {}

    def where(key: str) -> Callable[[], str]:
        return lambda: where_text(var.name, key, step)

    settled = {key: settle_field(f, specs.get(key), before.get(key), B, where(key)) for key, f in result.items()}
    for key, f in settled.items():
        if key in before:
            problem = shape_problem(f, before[key], specs.get(key))
            if problem is not None:
                raise SpecError(f"{where_text(var.name, key, step)}: {problem}")
    return result if all(settled[k] is f for k, f in result.items()) else Value(settled)


def initial_step(network: Network, *, step: Any = 0) -> NetworkValue:
    """Every variable's initial value, under whatever handlers are active."""
    out: NetworkValue = {}
    for var in network.initial_order:
        binding = var.initial_value
        args = [out[d.name] for d in binding.dependencies]  # only Variables at t=0
        out[var.name] = evaluate(network, var, binding, args, step=step)
    return out


def transition(network: Network, previous: Mapping[str, Value], *, step: Any = None) -> NetworkValue:
    """One transition from ``previous`` (a value for every variable); static variables keep theirs.

    ``step`` names the step in errors. Outputs keep the dtypes ``previous`` carries.
    """
    missing = [n for n in network.names if n not in previous]
    if missing:
        raise NetworkError(f"the previous value lacks the variable(s) {missing}")
    out: NetworkValue = {}
    for var in network.transition_order:
        binding = var.value
        if binding is None:
            out[var.name] = previous[var.name]
            continue
        args = [previous[d.name] if isinstance(d, Previous) else out[d.name] for d in binding.dependencies]
        out[var.name] = evaluate(network, var, binding, args, step=step, previous=Value(previous[var.name]))
    return out

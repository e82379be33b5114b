"""Data variables: a variable whose value at each step comes from a sequence of data.

A `DataSequence` is a source of data elements reached through a *data index*:
``first_index()`` gives the index of step 0, ``next_index(index)`` the index of
the next step, and ``get(index)`` the element there. :func:`data_variable` turns
a sequence into a `Variable` whose Value at step ``t`` is ``output_fn`` of the
``t``-th element; the index itself travels in the Value under the field
``data_index``, so the variable runs in compiled loops (TF, JAX) as well as in
the NumPy runtime, and a logged trajectory of the network can be scored with
``runtime.log_probability`` like any other.

The sequences written here hold NumPy arrays (or arrays of any backend) and slice
them with the backend of the runtime that runs them, so one model runs on every
runtime:

* `TimeSteps`: the numbers ``0, 1, 2, ...`` (int32);
* `SlicedValue`: the fields of a Value sliced along their leading axis;
* `ConstantSlice`: one slice of a Value, the same at every step.

>>> import numpy as np
>>> from recosim.core.runtime import NumpyRuntime
>>> from recosim.core.value import FieldSpec, ValueSpec
>>> logs = SlicedValue(Value(clicks=np.array([3, 1, 4], np.int32)))
>>> x = data_variable("x", ValueSpec(clicks=FieldSpec((), "int32")), logs)
>>> traj = NumpyRuntime([x], seed=0).trajectory(3)
>>> traj["x"].get("clicks").tolist(), traj["x"].get("data_index").tolist()
([3, 1, 4], [0, 1, 2])
>>> sorted(remove_data_index(traj["x"]).keys())
['clicks']

A logged ``tf.data.Dataset`` of ``n`` elements enters as arrays:
``SlicedValue(Value(dataset.batch(n).get_single_element()))``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from recosim.core.backend import get_backend
from recosim.core.errors import SpecError
from recosim.core.value import FieldSpec, Value, ValueSpec, dtype_name, shape_of
from recosim.core.variable import Variable, value

__all__ = [
    "DATA_INDEX_FIELD",
    "ConstantSlice",
    "DataSequence",
    "SlicedValue",
    "TimeSteps",
    "data_variable",
    "remove_data_index",
    "replace_data_sequence",
]

DATA_INDEX_FIELD = "data_index"
"""The field of a data variable's Value that holds its data index (an int32 scalar)."""


class DataSequence(ABC):
    """A source of data elements, reached step by step through a data index.

    The index is an array (an int32 scalar for the sequences here) because it is
    carried from step to step inside the variable's Value, also through compiled
    loops. ``length`` is the number of elements, or ``None`` when unbounded.
    """

    length: int | None = None

    @abstractmethod
    def first_index(self) -> Any:
        """The index of the element of step 0."""

    @abstractmethod
    def next_index(self, index: Any) -> Any:
        """The index of the element after the one at ``index``."""

    @abstractmethod
    def get(self, index: Any) -> Any:
        """The element at ``index`` (a `Value` for the default ``output_fn`` of `data_variable`)."""

    def element_spec(self) -> ValueSpec | None:
        """The `ValueSpec` of the elements when they are Values of known shape, else ``None``."""
        return None


def _int_index(i: int) -> Any:
    return get_backend().asarray(i, "int32")


class TimeSteps(DataSequence):
    """The sequence ``0, 1, 2, ...``: each element is its own index (an int32 scalar).

    >>> s = TimeSteps()
    >>> int(s.get(s.next_index(s.next_index(s.first_index()))))
    2
    """

    def first_index(self) -> Any:
        return _int_index(0)

    def next_index(self, index: Any) -> Any:
        return index + 1

    def get(self, index: Any) -> Any:
        return index


class SlicedValue(DataSequence):
    """The fields of ``data`` sliced along their leading (time) axis: element ``t`` is ``data[t]``.

    Every field needs the same leading length. Asking for an element past the end
    is an `IndexError` wherever the index is known when it runs (the NumPy
    runtime, eager modes); inside a compiled run, where it cannot be checked,
    floating-point fields past the end are NaN and other fields repeat the last
    element, so a run longer than the data does not pass for data.

    >>> s = SlicedValue(Value(a=np.array([1, 2, 3]), b=np.array([4, 5, 6])))
    >>> {k: int(v) for k, v in s.get(s.next_index(s.first_index())).items()}
    {'a': 2, 'b': 5}
    """

    def __init__(self, data: Mapping[str, Any]) -> None:
        fields = Value(data)
        if not len(fields):
            raise SpecError("SlicedValue needs at least one field to slice")
        lengths = {k: (shape_of(f)[0] if shape_of(f) else None) for k, f in fields.items()}
        scalars = sorted(k for k, n in lengths.items() if n is None)
        if scalars:
            raise SpecError(f"SlicedValue: the field(s) {scalars} have no leading axis to slice along")
        if len(set(lengths.values())) != 1:
            raise SpecError(f"SlicedValue: every field needs the same leading length; got {lengths}")
        (length,) = set(lengths.values())
        self.length = None if length is None else int(length)
        self.data = fields

    def first_index(self) -> Any:
        return _int_index(0)

    def next_index(self, index: Any) -> Any:
        return index + 1

    def element_spec(self) -> ValueSpec:
        return ValueSpec({k: FieldSpec(shape_of(f)[1:], dtype_name(f)) for k, f in self.data.items()})

    def get(self, index: Any) -> Value:
        B = get_backend()
        known = B.static_value(index)
        length = self.length
        assert length is not None
        if known is not None and not 0 <= int(known) < length:
            raise IndexError(f"SlicedValue holds {length} elements; element {int(known)} was asked for")
        inside = B.np.minimum(index, length - 1)
        in_range = index < length

        def slice_field(field: Any) -> Any:
            out = B.np.take(B.asarray(field), inside, axis=0)
            if known is None and np.dtype(dtype_name(field)).kind == "f":
                out = B.np.where(in_range, out, B.np.full_like(out, np.nan))
            return out

        return self.data.map(slice_field)

    def __repr__(self) -> str:
        return f"SlicedValue(fields={sorted(self.data.keys())}, length={self.length})"


class ConstantSlice(SlicedValue):
    """One element of ``data`` (default the first), the same at every step.

    >>> s = ConstantSlice(Value(a=np.array([7, 8])), element=1)
    >>> int(s.get(s.next_index(s.first_index())).get("a"))
    8
    """

    def __init__(self, data: Mapping[str, Any], element: int = 0) -> None:
        super().__init__(data)
        assert self.length is not None
        if not 0 <= int(element) < self.length:
            raise IndexError(f"ConstantSlice: element {element} asked of data with {self.length} elements")
        self.element = int(element)

    def first_index(self) -> Any:
        return _int_index(self.element)

    def next_index(self, index: Any) -> Any:
        return index


def _identity(element: Any) -> Value:
    return element  # type: ignore[no-any-return]


def data_variable(
    name: str,
    spec: ValueSpec | None,
    data_sequence: DataSequence,
    output_fn: Callable[[Any], Value] = _identity,
    *,
    index_field: str = DATA_INDEX_FIELD,
) -> Variable:
    """A variable whose Value at step ``t`` is ``output_fn`` of the ``t``-th element of ``data_sequence``.

    ``spec`` declares ``output_fn``'s fields (``None``: the sequence's element spec,
    for the default identity ``output_fn``); the variable's spec adds the int32
    field ``index_field`` that carries the data index. ``output_fn`` may return
    distributions or draw with ``rv``: the variable is then random, and its
    draws are scored by the log-probability functions like any other.

    >>> from recosim.core.backend import get_backend
    >>> noisy = data_variable(
    ...     "x", ValueSpec(a=FieldSpec()), TimeSteps(),
    ...     lambda t: Value(a=get_backend().tfd.Normal(get_backend().cast(t, "float32"), 1.0)))
    >>> sorted(noisy.spec.keys())
    ['a', 'data_index']
    """
    if not isinstance(data_sequence, DataSequence):
        raise TypeError(
            f"data variable {name!r}: data_sequence must be a DataSequence, got {type(data_sequence).__name__}"
        )
    if spec is None:
        spec = data_sequence.element_spec()
        if spec is None:
            raise SpecError(f"data variable {name!r}: give a spec; {type(data_sequence).__name__} declares none")
    if index_field in spec:
        raise SpecError(f"data variable {name!r}: its spec already has the field {index_field!r} that holds the index")
    var = Variable(name, spec.union(ValueSpec({index_field: FieldSpec((), "int32")})))
    replace_data_sequence(var, data_sequence, output_fn, index_field=index_field)
    return var


def replace_data_sequence(
    var: Variable,
    data_sequence: DataSequence,
    output_fn: Callable[[Any], Value] = _identity,
    *,
    index_field: str = DATA_INDEX_FIELD,
) -> None:
    """Bind ``var`` (made by `data_variable`) to a new ``data_sequence``: same spec, new data."""
    if index_field not in var.spec:
        raise SpecError(f"variable {var.name!r} has no field {index_field!r}; make it with data_variable")

    def at(index: Any) -> Value:
        out = output_fn(data_sequence.get(index))
        if not isinstance(out, Mapping):
            raise TypeError(f"data variable {var.name!r}: output_fn returned {type(out).__name__}, not a Value")
        return Value(out).union(Value({index_field: index}))

    def initial() -> Value:
        return at(data_sequence.first_index())

    def step(previous: Value) -> Value:
        return at(data_sequence.next_index(previous.get(index_field)))

    var.initial_value = value(initial)
    var.value = value(step, (var.previous,))


def remove_data_index(v: Mapping[str, Any], index_field: str = DATA_INDEX_FIELD) -> Value:
    """``v`` without its data-index field (``v`` unchanged when it has none).

    >>> remove_data_index(Value(a=1, data_index=0))
    Value(a=1)
    """
    if not isinstance(v, Mapping):
        raise TypeError(f"remove_data_index takes a Value, got {type(v).__name__}")
    return Value({k: f for k, f in Value(v).items() if k != index_field})

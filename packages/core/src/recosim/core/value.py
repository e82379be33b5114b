"""`Value`, `FieldSpec` and `ValueSpec`: the structured data that flows through a network.

A `Value` is an immutable mapping from dotted, hierarchical keys to field values
(arrays, scalars, or distributions that a runtime will sample). Nested Values are
flattened on construction, so ``Value(interest=Value(state=x))`` has the key
``"interest.state"`` and ``v.get("interest")`` returns ``Value(state=x)``.

>>> v = Value(a=1).union(Value(b=2).prefixed_with("user"))
>>> sorted(v.keys())
['a', 'user.b']
>>> v.get("user")
Value(b=2)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from recosim.core.errors import SpecError, ValueStructureError

__all__ = ["Value", "FieldSpec", "ValueSpec"]

_SEP = "."


def _check_key(key: object) -> str:
    if not isinstance(key, str) or not key:
        raise ValueStructureError(f"Value keys must be non-empty strings, got {key!r}")
    if any(not part for part in key.split(_SEP)):
        raise ValueStructureError(f"Value key {key!r} has an empty component between dots")
    return key


class Value(Mapping[str, Any]):
    """An immutable mapping of dotted keys to field values.

    Construct from keyword arguments, a mapping, or an iterable of ``(key, value)``
    pairs. Nested `Value` (or dict) fields are flattened with ``.`` separators.
    """

    __slots__ = ("_fields",)
    _fields: dict[str, Any]

    def __init__(
        self,
        mapping: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None,
        /,
        **fields: Any,
    ) -> None:
        flat: dict[str, Any] = {}
        items: list[tuple[str, Any]] = []
        if mapping is not None:
            items.extend(mapping.items() if isinstance(mapping, Mapping) else mapping)
        items.extend(fields.items())
        for key, field in items:
            _check_key(key)
            if isinstance(field, Mapping):
                nested = field if isinstance(field, Value) else Value(field)
                for sub_key, sub_field in nested._fields.items():
                    _add(flat, key + _SEP + sub_key, sub_field)
            else:
                _add(flat, key, field)
        object.__setattr__(self, "_fields", flat)

    @classmethod
    def from_flat(cls, fields: Mapping[str, Any]) -> Value:
        """Build from keys that are already flat and valid, without checks or flattening.

        For framework adapters (e.g. pytree unflattening) whose leaves may be
        placeholders; user code should call ``Value(...)``.
        """
        out = object.__new__(cls)
        object.__setattr__(out, "_fields", dict(fields))
        return out

    # -- Mapping protocol -------------------------------------------------
    def __getitem__(self, key: str) -> Any:
        return self.get(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        if key in self._fields:
            return True
        prefix = key + _SEP
        return any(k.startswith(prefix) for k in self._fields)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Value is immutable; use union, prefixed_with or map")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Mapping):
            return NotImplemented
        other_v = other if isinstance(other, Value) else Value(other)
        if set(self._fields) != set(other_v._fields):
            return False
        return all(_field_equal(self._fields[k], other_v._fields[k]) for k in self._fields)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        cls = type(self).__name__
        inner = ", ".join(f"{k}={_short_repr(v)}" for k, v in self._fields.items())
        if all(k.isidentifier() for k in self._fields):
            return f"{cls}({inner})"
        return f"{cls}({{{', '.join(f'{k!r}: {_short_repr(v)}' for k, v in self._fields.items())}}})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Value, (dict(self._fields),))

    # -- the Value algebra -------------------------------------------------
    def get(self, key: str, default: Any = ...) -> Any:  # type: ignore[override]
        """Return the field at ``key``, or the sub-`Value` of all fields under ``key.``.

        Raises `KeyError` naming the key and the available keys when neither exists
        and no ``default`` is given.
        """
        if key in self._fields:
            return self._fields[key]
        prefix = key + _SEP
        sub = {k[len(prefix) :]: v for k, v in self._fields.items() if k.startswith(prefix)}
        if sub:
            return Value(sub)
        if default is not ...:
            return default
        raise KeyError(f"Value has no field {key!r}; its fields are {sorted(self._fields)}")

    def at(self, *keys: str) -> Value:
        """The Value of only the fields at ``keys``, each a field or a prefix, keeping their full keys.

        >>> Value(x=Value(a=1, b=2), y=3).at("x")
        Value({'x.a': 1, 'x.b': 2})
        >>> Value(x=Value(a=1, b=2), y=3).at("x.b", "y")
        Value({'x.b': 2, 'y': 3})
        """
        if not keys:
            raise ValueStructureError("Value.at needs at least one field name")
        out: dict[str, Any] = {}
        for key in keys:
            _check_key(key)
            prefix = key + _SEP
            found = {k: v for k, v in self._fields.items() if k == key or k.startswith(prefix)}
            if not found:
                raise KeyError(f"Value.at: no field or prefix {key!r}; the fields are {sorted(self._fields)}")
            out.update(found)
        return Value.from_flat(out)

    def union(self, other: Mapping[str, Any]) -> Value:
        """Return a Value with the fields of both; overlapping keys are an error naming them."""
        other_v = other if isinstance(other, Value) else Value(other)
        clash = sorted(set(self._fields) & set(other_v._fields))
        clash += sorted(
            k
            for k in self._fields
            for o in other_v._fields
            if k != o and (k.startswith(o + _SEP) or o.startswith(k + _SEP))
        )
        if clash:
            raise ValueStructureError(f"Value.union: both operands define the field(s) {clash}")
        return Value({**self._fields, **other_v._fields})

    def prefixed_with(self, prefix: str) -> Value:
        """Return the same fields with ``prefix.`` in front of every key."""
        _check_key(prefix)
        return Value({prefix + _SEP + k: v for k, v in self._fields.items()})

    def map(self, fn: Callable[[Any], Any]) -> Value:
        """Apply ``fn`` to every field value and return the results as a Value."""
        return Value({k: fn(v) for k, v in self._fields.items()})

    def map_with_key(self, fn: Callable[[str, Any], Any]) -> Value:
        """Apply ``fn(key, field)`` to every field and return the results as a Value."""
        return Value({k: fn(k, v) for k, v in self._fields.items()})

    @property
    def as_dict(self) -> dict[str, Any]:
        """A new plain ``dict`` of the flattened fields."""
        return dict(self._fields)


def _add(flat: dict[str, Any], key: str, field: Any) -> None:
    if key in flat:
        raise ValueStructureError(f"Value: field {key!r} given twice")
    flat[key] = field


def _field_equal(a: Any, b: Any) -> bool:
    if a is b:
        return True
    try:
        return bool(np.array_equal(np.asarray(a), np.asarray(b)))
    except Exception:
        return bool(a == b)


def _short_repr(field: Any) -> str:
    if isinstance(field, FieldSpec):
        return repr(field)
    shape = getattr(field, "shape", None)
    dtype = getattr(field, "dtype", None)
    if shape is not None and len(tuple(shape)) > 0:
        return f"<{type(field).__name__} shape={tuple(shape)} dtype={getattr(dtype, 'name', dtype)}>"
    return repr(field)


def dtype_name(x: Any) -> str:
    """The canonical dtype name of an array-like of any backend (``'float32'`` ...)."""
    dtype = getattr(x, "dtype", None)
    if dtype is None:
        return np.asarray(x).dtype.name
    name = getattr(dtype, "name", None)
    if isinstance(name, str):
        return name
    return np.dtype(dtype).name


def shape_of(x: Any) -> tuple[int | None, ...]:
    """The static shape of an array-like of any backend, ``None`` for unknown dimensions."""
    shape = getattr(x, "shape", None)
    if shape is None:
        return tuple(np.shape(x))
    dims = getattr(shape, "as_list", None)
    if callable(dims):  # tf.TensorShape
        try:
            return tuple(dims())
        except ValueError:  # unknown rank
            return ()
    return tuple(shape)


class FieldSpec:
    """The domain of one field: its shape and dtype, each optional.

    ``None`` as a whole shape means "any shape"; ``None`` inside a shape means "any
    size along that axis". ``dtype`` is a NumPy dtype name (``"float32"``, ``"int32"``).

    >>> FieldSpec(shape=(3,), dtype="float32").check(np.zeros(3, np.float32), where="x")
    """

    __slots__ = ("dtype", "shape")

    def __init__(self, shape: Iterable[int | None] | None = None, dtype: str | np.dtype | type | None = None) -> None:
        self.shape = None if shape is None else tuple(shape)
        self.dtype = None if dtype is None else np.dtype(dtype).name

    def __repr__(self) -> str:
        return f"FieldSpec(shape={self.shape}, dtype={self.dtype!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FieldSpec) and (self.shape, self.dtype) == (other.shape, other.dtype)

    __hash__ = None  # type: ignore[assignment]

    def mismatch(self, x: Any) -> str | None:
        """Describe how ``x`` fails this spec, or return ``None`` when it conforms."""
        problems = []
        if self.shape is not None:
            actual = shape_of(x)
            ok = len(actual) == len(self.shape) and all(
                want is None or got is None or want == got for want, got in zip(self.shape, actual)
            )
            if not ok:
                problems.append(f"shape {actual} where the spec says {self.shape}")
        if self.dtype is not None:
            actual_dtype = dtype_name(x)
            if actual_dtype != self.dtype:
                problems.append(f"dtype {actual_dtype} where the spec says {self.dtype}")
        return " and ".join(problems) or None

    def check(self, x: Any, where: str) -> None:
        """Raise `SpecError` mentioning ``where`` unless ``x`` conforms."""
        problem = self.mismatch(x)
        if problem is not None:
            raise SpecError(f"{where} has {problem}")


class ValueSpec(Value):
    """A `Value` whose fields are `FieldSpec` objects: the domain of a variable.

    >>> spec = ValueSpec(n=FieldSpec(shape=(), dtype="int64"))
    >>> spec.check(Value(n=np.int64(3)), where="variable 'count'")
    """

    def __init__(
        self,
        mapping: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None,
        /,
        **fields: Any,
    ) -> None:
        super().__init__(mapping, **fields)
        for key, field in self._fields.items():
            if not isinstance(field, FieldSpec):
                raise SpecError(f"ValueSpec field {key!r} must be a FieldSpec, got {type(field).__name__}")

    def check(self, value: Mapping[str, Any], where: str, *, check_fields: bool = True) -> None:
        """Raise `SpecError` naming ``where`` and the field unless ``value`` conforms.

        Missing and undeclared fields are reported together; then each field's shape
        and dtype are checked (skipped when ``check_fields`` is false).
        """
        if not isinstance(value, Mapping):
            raise SpecError(f"{where} must return a Value, got {type(value).__name__}")
        got = set(value.keys())
        want = set(self.keys())
        missing, extra = sorted(want - got), sorted(got - want)
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"omits the declared field(s) {missing}")
            if extra:
                parts.append(f"returns the undeclared field(s) {extra}")
            raise SpecError(f"{where} " + " and ".join(parts) + f" (its spec declares {sorted(want)})")
        if check_fields:
            for key, spec in self._fields.items():
                spec.check(value[key], where=f"{where}, field {key!r},")

    def get(self, key: str, default: Any = ...) -> Any:  # type: ignore[override]
        """The `FieldSpec` at ``key``, or the sub-`ValueSpec` of the fields under ``key.``."""
        out = super().get(key, default)
        return ValueSpec(out) if isinstance(out, Value) and not isinstance(out, ValueSpec) else out

    def at(self, *keys: str) -> ValueSpec:
        return ValueSpec(super().at(*keys))

    def union(self, other: Mapping[str, Any]) -> ValueSpec:
        return ValueSpec(super().union(other))

    def prefixed_with(self, prefix: str) -> ValueSpec:
        return ValueSpec(super().prefixed_with(prefix))

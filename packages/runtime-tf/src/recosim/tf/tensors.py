"""Network values as TensorFlow tensors: what crosses a ``tf.function`` boundary.

A `Flat` value is plain nested dicts (variable -> field -> tensor), which
``tf.function`` and ``tf.nest`` handle natively; `as_values` turns it back into
`Value` s.

>>> flat = to_tensors({"count": {"n": 0}})
>>> flat["count"]["n"].dtype.name, as_values(flat)["count"].get("n").numpy()
('int32', 0)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import tensorflow as tf

from recosim.core.errors import SpecError
from recosim.core.network import NetworkValue
from recosim.core.value import FieldSpec, Value

__all__ = ["Flat", "to_tensors", "as_values", "field_spec"]

Flat = dict[str, dict[str, Any]]
"""A network value as plain nested dicts (variable -> field -> tensor): what crosses ``tf.function``."""

_DEFAULT_DTYPES = {bool: tf.bool, int: tf.int32, float: tf.float32}


def field_spec(network: Any, name: str, key: str) -> FieldSpec | None:
    """The `FieldSpec` that variable ``name`` of ``network`` declares for field ``key``, if any."""
    if name not in network:
        return None
    spec = network[name].spec
    return spec.as_dict.get(key)


def to_tensors(value: Mapping[str, Mapping[str, Any]], network: Any = None) -> Flat:
    """Convert every field to a tensor with a stable dtype.

    Python scalars take the dtype their variable's spec declares, else ``int32``,
    ``float32`` or ``bool``; NumPy arrays and tensors keep theirs. A field that
    cannot be converted is an error naming its variable and field.
    """
    out: Flat = {}
    for name, v in value.items():
        fields: dict[str, Any] = {}
        for key, x in Value(v).items():
            fields[key] = _to_tensor(x, name, key, network)
        out[name] = fields
    return out


def _to_tensor(x: Any, name: str, key: str, network: Any) -> Any:
    if isinstance(x, tf.Variable):
        return tf.convert_to_tensor(x)
    if tf.is_tensor(x):
        return x
    spec = field_spec(network, name, key) if network is not None else None
    try:
        if isinstance(x, (bool, int, float)) and not isinstance(x, np.generic):
            dtype = tf.as_dtype(spec.dtype) if spec is not None and spec.dtype else _DEFAULT_DTYPES[type(x)]
            return tf.constant(x, dtype=dtype)
        return tf.convert_to_tensor(np.asarray(x))
    except Exception as err:
        raise SpecError(
            f"variable {name!r}, field {key!r}: cannot convert {type(x).__name__} to a tensor ({err})"
        ) from None


def as_values(flat: Flat) -> NetworkValue:
    """``flat`` as a network value of `Value` s."""
    return {name: Value(fields) for name, fields in flat.items()}

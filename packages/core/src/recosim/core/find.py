"""Finding a field by name across the variables of a network value.

A network value (``runtime.execute(...)``, one step of a trajectory, or a whole
trajectory) maps variable names to Values. :func:`find_field` collects the
variables whose Value has a field (or prefix) of a given name; :func:`find_unique_field`
insists that exactly one does, which is how generic code (metrics, training
loops) reaches a quantity without knowing which variable holds it.

>>> from recosim.core.value import Value
>>> state = {"user": Value(reward=1.0), "metrics": Value(reward=3.0, clicks=2)}
>>> find_field(state, "reward")
{'user': 1.0, 'metrics': 3.0}
>>> find_unique_field(state, "clicks")
('metrics', 2)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from recosim.core.errors import NetworkError
from recosim.core.value import Value

__all__ = ["find_field", "find_unique_field"]


def find_field(network_value: Mapping[str, Mapping[str, Any]], field: str) -> dict[str, Any]:
    """Variable name -> the field (or sub-Value, for a prefix) ``field`` of each variable that has it.

    The result keeps the network's order and may be empty.
    """
    if not isinstance(field, str) or not field:
        raise ValueError(f"find_field needs a field name, got {field!r}")
    found: dict[str, Any] = {}
    for name, v in network_value.items():
        v = v if isinstance(v, Value) else Value(v)
        if field in v:
            found[name] = v.get(field)
    return found


def find_unique_field(network_value: Mapping[str, Mapping[str, Any]], field: str) -> tuple[str, Any]:
    """``(variable name, field value)`` of the one variable with field ``field``.

    Raises `NetworkError` naming the field and the variables when none or several have it.
    """
    found = find_field(network_value, field)
    if not found:
        raise NetworkError(f"no variable has a field {field!r}; the variables are {sorted(network_value)}")
    if len(found) > 1:
        raise NetworkError(f"the field {field!r} is not unique: the variables {list(found)} all have it")
    ((name, v),) = found.items()
    return name, v

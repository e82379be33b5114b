"""Parameters and shapes of blocks: the checks every block shares (backend-agnostic).

>>> as_float_param([1, 2], "weights").dtype
dtype('float32')
>>> batch_shape_tuple(3), static_shape(np.zeros((2, 5)))
((3,), (2, 5))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from recosim.core.value import shape_of

__all__ = [
    "as_float_param",
    "batch_shape_tuple",
    "check_last_dim",
    "known_shape",
    "ndim",
    "positive_float",
    "positive_int",
    "static_shape",
    "static_size",
]


def as_float_param(x: Any, name: str) -> Any:
    """Store a parameter: NumPy-like input becomes float32; framework arrays are kept as given."""
    if x is None:
        raise ValueError(f"parameter {name!r} is required")
    if isinstance(x, (int, float, list, tuple, np.ndarray, np.generic)):
        arr = np.asarray(x, dtype=np.float32)
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"parameter {name!r} has non-finite entries")
        return arr
    return x  # a framework array or variable: keep it (trainable parameters stay trainable)


def positive_int(x: Any, name: str) -> int:
    """``x`` as an int, or a ValueError naming ``name`` unless it is a whole number >= 1."""
    if isinstance(x, bool) or int(x) != x or int(x) < 1:
        raise ValueError(f"{name} must be a positive integer, got {x!r}")
    return int(x)


def positive_float(x: Any, name: str) -> float:
    """``x`` as a float, or a ValueError naming ``name`` unless it is > 0."""
    if not float(x) > 0.0:
        raise ValueError(f"{name} must be > 0, got {x!r}")
    return float(x)


def static_shape(x: Any) -> tuple[int | None, ...]:
    """The static shape of an array of any backend (``None`` for unknown sizes)."""
    return tuple(shape_of(x))


def static_size(x: Any, axis: int, what: str) -> int:
    """The size of axis ``axis`` of ``x``, which must be known before run time.

    Raises a ValueError naming ``what`` and its shape where that size is known only
    when the model runs (an unknown dimension of a traced array).

    >>> static_size(np.zeros((2, 5)), -1, "logits")
    5
    """
    shape = static_shape(x)
    size = shape[axis]
    if size is None:
        raise ValueError(f"{what} has shape {shape}; the size of its axis {axis} must be known before the model runs")
    return size


def known_shape(x: Any, what: str) -> tuple[int, ...]:
    """The shape of ``x`` where every size is known before run time; a ValueError naming ``what`` otherwise."""
    shape = static_shape(x)
    sizes = tuple(n for n in shape if n is not None)
    if len(sizes) != len(shape):
        raise ValueError(f"{what} has shape {shape}; every size must be known before the model runs")
    return sizes


def ndim(x: Any) -> int:
    return len(static_shape(x))


def check_last_dim(x: Any, size: int | None, what: str, expected: str) -> None:
    """Raise a ValueError naming ``what`` unless the last axis of ``x`` has ``size`` entries."""
    shape = static_shape(x)
    if not shape:
        raise ValueError(f"{what} must have at least one axis ({expected}), got a scalar")
    if size is not None and shape[-1] is not None and shape[-1] != size:
        raise ValueError(f"{what} has shape {shape}; its last axis must have {size} entries ({expected})")


def batch_shape_tuple(batch_shape: int | Sequence[int] | None, name: str = "batch_shape") -> tuple[int, ...]:
    """Normalise a population shape given as an int, a sequence or ``None`` (no population axis)."""
    if batch_shape is None:
        return ()
    if isinstance(batch_shape, (int, np.integer)):
        batch_shape = (int(batch_shape),)
    out = tuple(int(d) for d in batch_shape)
    if any(d <= 0 for d in out):
        raise ValueError(f"{name} must hold positive sizes, got {out}")
    return out

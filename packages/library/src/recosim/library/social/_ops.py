"""Array operations the social blocks need beyond the backend's portable subset, built from it.

Each takes and returns arrays of the active backend; integer results are int32 on
every backend (TensorFlow's NumPy API returns int64 from ``argsort`` and ``cumsum``).

>>> import numpy as np
>>> stable_argsort(np.array([3, 1, 2, 1], np.int32)).tolist()
[1, 3, 2, 0]
>>> exclusive_cumsum(np.array([1, 0, 2], np.int32)).tolist()
[0, 1, 1]
>>> inverse_permutation(np.array([2, 0, 1], np.int32)).tolist()
[1, 2, 0]
"""

from __future__ import annotations

from typing import Any

from recosim.core import get_backend
from recosim.library.params import static_shape, static_size

__all__ = ["int32", "stable_argsort", "exclusive_cumsum", "inverse_permutation", "take_rows", "flatten"]


def int32(x: Any) -> Any:
    """``x`` as an int32 array of the active backend."""
    B = get_backend()
    return B.cast(B.asarray(x), "int32")


def stable_argsort(x: Any) -> Any:
    """Indices that sort ``x`` along its last axis, equal keys kept in their original order (int32).

    NumPy and JAX spell stability ``stable=True``, TensorFlow's NumPy API ``kind="stable"``.
    """
    np_ = get_backend().np
    try:
        order = np_.argsort(x, axis=-1, stable=True)
    except TypeError:
        order = np_.argsort(x, axis=-1, kind="stable")
    return int32(order)


def exclusive_cumsum(x: Any, axis: int = -1) -> Any:
    """``cumsum(x) - x`` along ``axis`` as int32: the count of earlier entries."""
    x = int32(x)
    return int32(get_backend().np.cumsum(x, axis=axis)) - x


def inverse_permutation(perm: Any) -> Any:
    """The permutation ``inv`` with ``inv[perm[i]] = i`` (1-D, int32)."""
    B = get_backend()
    n = static_shape(perm)[-1]
    return int32(B.scatter_add(B.np.zeros((n,), dtype="int32"), int32(perm), B.np.arange(n, dtype="int32")))


def take_rows(table: Any, rows: Any) -> Any:
    """Rows ``table[rows]`` (``[..., K]``) with negative ``rows`` giving a row of ``-1``."""
    B = get_backend()
    np_ = B.np
    rows = int32(rows)
    n = static_size(table, 0, "table")
    picked = np_.take(table, np_.clip(rows, 0, n - 1), axis=0)
    return np_.where(np_.expand_dims(rows >= 0, -1), picked, -np_.ones_like(picked))


def flatten(x: Any) -> Any:
    """``x`` as a 1-D array."""
    return get_backend().np.reshape(x, (-1,))

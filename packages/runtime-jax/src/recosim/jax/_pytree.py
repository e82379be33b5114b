"""`Value` as a JAX pytree, so Values pass through jit, scan, vmap and grad.

Fields are flattened in sorted key order, so two Values with the same keys have
the same tree structure whatever order their fields were written in (a scan carry
built by the initial step matches the one a transition returns).
"""

from __future__ import annotations

from typing import Any

import jax

from recosim.core.value import Value

__all__ = ["register_value_pytree"]

_REGISTERED = False


def _flatten(v: Value) -> tuple[tuple[Any, ...], tuple[str, ...]]:
    keys = tuple(sorted(v.keys()))
    return tuple(v[k] for k in keys), keys


def _flatten_with_keys(v: Value) -> tuple[tuple[tuple[Any, Any], ...], tuple[str, ...]]:
    keys = tuple(sorted(v.keys()))
    return tuple((jax.tree_util.DictKey(k), v[k]) for k in keys), keys


def _unflatten(keys: tuple[str, ...], children: Any) -> Value:
    # Rebuild without the constructor: JAX may put placeholders (None, sentinels,
    # axis specs) where the fields were, and those must not be re-validated or
    # flattened further.
    out = Value.from_flat(dict(zip(keys, children)))
    return out


def register_value_pytree() -> None:
    """Register `Value` with ``jax.tree_util`` (idempotent)."""
    global _REGISTERED
    if _REGISTERED:
        return
    try:
        jax.tree_util.register_pytree_with_keys(Value, _flatten_with_keys, _unflatten, _flatten)
    except ValueError as err:  # registered earlier in this process by another import path
        if "Duplicate" not in str(err):
            raise
    _REGISTERED = True


register_value_pytree()

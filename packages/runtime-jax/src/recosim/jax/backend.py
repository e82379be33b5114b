"""`JaxBackend`: ``jax.numpy`` arrays and TensorFlow Probability's JAX substrate.

>>> B = JaxBackend()
>>> x = B.np.asarray([1.0, 3.0, 2.0], dtype="float32")
>>> [int(i) for i in B.top_k(x, 2)[1]]
[1, 2]
>>> key = B.fold_in(B.make_seed(0), 7)
>>> float(B.sample(B.tfd.Normal(0.0, 1.0), (), key)) == float(B.sample(B.tfd.Normal(0.0, 1.0), (), key))
True
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from numpy.typing import NDArray

from recosim.core.backend import Backend, Linalg, register_framework_backend
from recosim.jax._pytree import register_value_pytree

__all__ = ["JaxBackend", "jax_backend", "is_weakly_typed", "strong"]

register_value_pytree()

_U32 = 0xFFFFFFFF


class JaxBackend(Backend):
    """``jax.numpy`` arrays, raw ``uint32[2]`` PRNG keys and the JAX substrate of TFP."""

    name = "jax"
    framework = "jax"

    @property
    def np(self) -> Any:
        return jnp

    @cached_property
    def tfd(self) -> Any:
        return _import_jax_substrate().distributions

    @property
    def linalg(self) -> Any:
        return Linalg(jnp.linalg)

    # -- keys --------------------------------------------------------------------
    def make_seed(self, seed: int) -> Any:
        """``jax.random.PRNGKey`` of the low 32 bits, with the high 32 bits folded in when set."""
        s = int(seed) & 0xFFFFFFFFFFFFFFFF
        key = jax.random.PRNGKey(np.uint32(s & _U32))
        return key if s >> 32 == 0 else jax.random.fold_in(key, np.uint32(s >> 32))

    def fold_in(self, seed: Any, data: int | Any) -> Any:
        if isinstance(data, (int, np.integer)):
            data = np.uint32(int(data) & _U32)
        return jax.random.fold_in(seed, data)

    # -- operations ---------------------------------------------------------------
    def asarray(self, x: Any, dtype: Any = None) -> Any:
        return jnp.asarray(x, dtype=dtype)

    def top_k(self, x: Any, k: int) -> tuple[Any, Any]:
        return jax.lax.top_k(jnp.asarray(x), int(k))

    def stop_gradient(self, x: Any) -> Any:
        return jax.lax.stop_gradient(x)

    def scatter_add(self, x: Any, indices: Any, updates: Any) -> Any:
        return jnp.asarray(x).at[jnp.asarray(indices)].add(updates)

    def one_hot(self, indices: Any, depth: int, dtype: Any = "float32") -> Any:
        return jax.nn.one_hot(jnp.asarray(indices), int(depth), dtype=dtype)

    def log_sigmoid(self, x: Any) -> Any:
        return jax.nn.log_sigmoid(x)

    def static_value(self, x: Any) -> NDArray[Any] | None:
        """None for tracers (inside jit, scan, vmap or grad); the value otherwise."""
        return None if isinstance(x, jax.core.Tracer) else np.asarray(x)

    def logsumexp(self, x: Any, axis: int = -1, keepdims: bool = False) -> Any:
        return jax.nn.logsumexp(x, axis=axis, keepdims=keepdims)

    def log_softmax(self, x: Any, axis: int = -1) -> Any:
        return jax.nn.log_softmax(x, axis=axis)

    def softmax(self, x: Any, axis: int = -1) -> Any:
        return jax.nn.softmax(x, axis=axis)

    def sigmoid(self, x: Any) -> Any:
        return jax.nn.sigmoid(x)

    def owns(self, x: Any) -> bool:
        """JAX arrays, including tracers inside jit, scan, vmap and grad."""
        return isinstance(x, (jax.Array, jax.core.Tracer))


def _import_jax_substrate() -> Any:
    """TFP's JAX substrate, imported without TensorFlow (see core's helper for why)."""
    from recosim.jax._tfp_compat import import_substrate_without_tensorflow

    return import_substrate_without_tensorflow("jax")


_SHARED: JaxBackend | None = None


def jax_backend() -> JaxBackend:
    """The shared `JaxBackend` (its distributions module is imported once)."""
    global _SHARED
    if _SHARED is None:
        _SHARED = JaxBackend()
    return _SHARED


register_framework_backend("jax", jax_backend)


def is_weakly_typed(x: Any) -> bool:
    """Whether ``x`` is a Python scalar or a weakly typed JAX value (adopts its partner's dtype)."""
    if isinstance(x, (bool, int, float, complex)):
        return True
    aval = getattr(x, "aval", None)
    if aval is not None:
        return bool(getattr(aval, "weak_type", False))
    return bool(getattr(x, "weak_type", False))


def strong(x: Any, dtype: Any = None) -> Any:
    """``x`` as a strongly typed JAX array (of ``dtype`` when given): stable in scan carries."""
    if dtype is None:
        dtype = jax.dtypes.canonicalize_dtype(x.dtype) if hasattr(x, "dtype") else jnp.asarray(x).dtype
    return jnp.asarray(x, dtype=dtype)

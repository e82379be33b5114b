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

from recosim.core.backend import Backend, Linalg, guard_substrate, register_framework_backend
from recosim.jax._pytree import register_value_pytree
from recosim.jax.sampling import sample_categorical, sample_uniform

__all__ = [
    "config_value",
    "JaxBackend",
    "jax_backend",
    "is_weakly_typed",
    "strong",
    "materialize",
    "MATERIALIZED_DRAW",
    "blocked_top_k",
]

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

    def sample(self, distribution: Any, sample_shape: Any, seed: Any) -> Any:
        """A draw of ``distribution``; ``Uniform`` and ``Categorical`` through `recosim.jax.sampling`.

        Those two are drawn by this package's samplers (a ``Uniform`` draw is the one
        TFP makes for the same key, a ``Categorical`` draw has the same law); every
        other distribution by its own ``sample``. Inside a trace, a draw of fewer than
        `MATERIALIZED_DRAW` elements is materialised (see `materialize`).
        """
        kind = type(distribution)
        if kind is self.tfd.Uniform:
            draw = sample_uniform(distribution, sample_shape, seed)
        elif kind is self.tfd.Categorical:
            draw = sample_categorical(distribution, sample_shape, seed)
        else:
            draw = distribution.sample(tuple(sample_shape), seed=seed)
        if isinstance(draw, jax.core.Tracer) and draw.size < MATERIALIZED_DRAW:
            draw = materialize(draw, seed)
        return draw

    # -- operations ---------------------------------------------------------------
    def asarray(self, x: Any, dtype: Any = None) -> Any:
        return jnp.asarray(x, dtype=dtype)

    def top_k(self, x: Any, k: int) -> tuple[Any, Any]:
        """The ``k`` largest along the last axis, best first; ties keep the lower index first.

        Long rows and small ``k`` go through `blocked_top_k` (the same result, a
        fraction of the time of ``lax.top_k`` on CPU).
        """
        x = jnp.asarray(x)
        k = int(k)
        if x.ndim >= 1 and k * BLOCKED_TOP_K_RATIO <= x.shape[-1]:
            return blocked_top_k(x, k)
        return jax.lax.top_k(x, k)

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


MATERIALIZED_DRAW = 2**16
"""Traced draws with fewer elements than this are materialised by `JaxBackend.sample`."""


def materialize(x: Any, key: Any) -> Any:
    """``x`` unchanged, computed once: XLA will not recompute it inside the loops that read it.

    XLA on CPU fuses a producer into every consumer loop, and for a small array
    read through a broadcast (the features of 400 documents, read once for each of
    2000 users) that repeats the producer's whole computation, a sampler included,
    for every element of the consumer. Neither an optimisation barrier nor a copy
    stops it on CPU; a conditional does, so ``x`` passes through a ``lax.cond``
    whose predicate (from the draw's key) is always true but not known to XLA.
    Under ``vmap`` with batched keys the conditional becomes a select and nothing
    is gained or lost.
    """
    word = jnp.ravel(jnp.asarray(key))[0].astype(jnp.uint32)
    always = (word | np.uint32(1)) != np.uint32(0)
    return jax.lax.cond(always, lambda v: v, lambda v: jax.tree.map(jnp.zeros_like, v), x)


BLOCKED_TOP_K_RATIO = 16
"""`JaxBackend.top_k` uses `blocked_top_k` for rows at least this many times longer than ``k``."""


def blocked_top_k(x: Any, k: int) -> tuple[Any, Any]:
    """``lax.top_k(x, k)`` computed from blocks: equal values and indices, ties included.

    The row is cut into blocks of about ``sqrt(n)`` entries (padded with the lowest
    value at the end). The ``k`` largest entries lie in the ``k`` blocks with the
    largest maxima (each block holding one of them has a maximum at least as large
    as it), so only those ``k`` blocks, taken in index order so that ties still go
    to the lower index, are searched. On CPU a block maximum is a cheap reduction
    while ``lax.top_k`` of a 400-long row costs about five times as much as the
    three reductions. Inside a trace ``x`` is materialised first (see
    `materialize`), so the scores are computed once, not once per reader.

    >>> x = jnp.asarray([[3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0] * 8])
    >>> [int(i) for i in blocked_top_k(x, 3)[1][0]] == [int(i) for i in jax.lax.top_k(x, 3)[1][0]]
    True
    """
    n = x.shape[-1]
    if not 0 < k <= n:
        raise ValueError(f"top_k: k={k} must be between 1 and the last dimension {n}")
    if isinstance(x, jax.core.Tracer) and x.size:
        x = materialize(x, jax.lax.bitcast_convert_type(jnp.ravel(x)[0:1].astype(jnp.float32), jnp.uint32))
    size = max(k, int(np.ceil(np.sqrt(n))))
    count = -(-n // size)
    pad = count * size - n
    if pad:
        lowest = -jnp.inf if jnp.issubdtype(x.dtype, jnp.floating) else jnp.iinfo(x.dtype).min
        x = jnp.concatenate([x, jnp.full((*x.shape[:-1], pad), lowest, x.dtype)], axis=-1)
    blocks = x.reshape(*x.shape[:-1], count, size)
    _, best_blocks = jax.lax.top_k(jnp.max(blocks, axis=-1), k)
    best_blocks = jnp.sort(best_blocks, axis=-1)  # index order: ties go to the lower index
    candidates = jnp.take_along_axis(blocks, best_blocks[..., None], axis=-2)
    values, where = jax.lax.top_k(candidates.reshape(*x.shape[:-1], k * size), k)
    index = jnp.take_along_axis(best_blocks, where // size, axis=-1) * size + where % size
    return values, index.astype(jnp.int32)


def _import_jax_substrate() -> Any:
    """TFP's JAX substrate, imported without TensorFlow (see core's helper for why)."""
    from recosim.jax._tfp_compat import import_substrate_without_tensorflow

    module = import_substrate_without_tensorflow("jax")
    guard_substrate(module)
    return module


_SHARED: JaxBackend | None = None


def jax_backend() -> JaxBackend:
    """The shared `JaxBackend` (its distributions module is imported once)."""
    global _SHARED
    if _SHARED is None:
        _SHARED = JaxBackend()
    return _SHARED


register_framework_backend("jax", jax_backend)


def config_value(name: str) -> Any:
    """The current value of JAX's configuration option ``name`` (e.g. ``"jax_enable_x64"``)."""
    return getattr(jax.config, name)


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

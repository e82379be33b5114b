"""Faster samplers for the JAX backend's draws: the same distributions, cheaper to compute.

`JaxBackend.sample` draws two distributions itself, because their TFP samplers
dominate compiled simulation steps on CPU:

* ``Uniform``: ``low + (high - low) * u`` with ``u`` made from `random_bits`,
  Threefry-2x32 written out round by round. The bits are exactly those of
  ``jax.random.bits`` (JAX's default, partitionable layout), so a draw equals
  TFP's own ``Uniform.sample`` for the same key; but ``jax.random`` lowers
  Threefry on CPU as a rolled loop over materialised arrays, while the unrolled
  form fuses into the loop that uses the draw (about 2.5 times less time for the
  score noise of 2000 users x 400 documents).
* ``Categorical``: inversion of the cumulative probabilities with one uniform per
  draw, instead of a Gumbel variate per category and an ``argmax``. The law of
  the outcome is the same (up to float32 rounding of the cumulative sum, about
  1e-7 relative), but the draws differ from TFP's for the same key.

>>> import jax
>>> key = jax.random.PRNGKey(0)
>>> bool((random_bits(key, (3, 5)) == jax.random.bits(key, (3, 5))).all())
True
"""

from __future__ import annotations

from collections.abc import Sequence
from math import prod
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["random_bits", "uniform_01", "sample_uniform", "sample_categorical", "MAX_DRAWS"]

_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_PARITY = np.uint32(0x1BD11BDA)

MAX_DRAWS = 2**32
"""The largest draw these samplers make in one call (one 32-bit counter per word)."""


def _rotl(x: Any, r: int) -> Any:
    return (x << np.uint32(r)) | (x >> np.uint32(32 - r))


def _threefry2x32(key: Any, x0: Any, x1: Any) -> tuple[Any, Any]:
    """Threefry-2x32 with 20 rounds (Salmon et al., 2011) of the counter pair ``(x0, x1)``, unrolled."""
    k0, k1 = key[0], key[1]
    ks = (k0, k1, k0 ^ k1 ^ _PARITY)
    x0 = x0 + ks[0]
    x1 = x1 + ks[1]
    for i in range(5):
        for r in _ROTATIONS[i % 2]:
            x0 = x0 + x1
            x1 = _rotl(x1, r) ^ x0
        x0 = x0 + ks[(i + 1) % 3]
        x1 = x1 + ks[(i + 2) % 3] + np.uint32(i + 1)
    return x0, x1


def random_bits(key: Any, shape: Sequence[int]) -> Any:
    """``uint32`` words of ``shape`` from the raw key ``key`` (``uint32[2]``), equal to ``jax.random.bits``.

    Word ``i`` (row-major) is the XOR of the two output words of Threefry-2x32 on
    the counter pair ``(0, i)``; fewer than `MAX_DRAWS` words per call.
    """
    shape = tuple(int(n) for n in shape)
    if prod(shape) >= MAX_DRAWS:
        raise ValueError(f"random_bits draws fewer than 2**32 words at once, asked for shape {shape}")
    counter = jax.lax.iota(jnp.uint32, prod(shape)).reshape(shape)
    high, low = _threefry2x32(jnp.asarray(key, jnp.uint32), jnp.zeros_like(counter), counter)
    return high ^ low


def uniform_01(key: Any, shape: Sequence[int], dtype: Any = jnp.float32) -> Any:
    """``jax.random.uniform(key, shape, dtype)`` for float32: 23 random mantissa bits on ``[0, 1)``."""
    if jnp.dtype(dtype) != jnp.float32:
        return jax.random.uniform(key, tuple(shape), dtype)
    bits = random_bits(key, shape)
    one_to_two = jax.lax.bitcast_convert_type((bits >> np.uint32(9)) | np.uint32(0x3F800000), jnp.float32)
    return jnp.maximum(np.float32(0.0), one_to_two - np.float32(1.0))


def sample_uniform(distribution: Any, sample_shape: Sequence[int], key: Any) -> Any:
    """A draw of a TFP ``Uniform(low, high)``: ``low + (high - low) * u``, as TFP computes it."""
    low = jnp.asarray(distribution.low, distribution.dtype)
    high = jnp.asarray(distribution.high, distribution.dtype)
    shape = (*tuple(sample_shape), *jnp.broadcast_shapes(low.shape, high.shape))
    return low + (high - low) * uniform_01(key, shape, distribution.dtype)


def sample_categorical(distribution: Any, sample_shape: Sequence[int], key: Any) -> Any:
    """A draw of a TFP ``Categorical`` by inverting its cumulative probabilities.

    Outcome ``i`` is drawn when ``cdf[i-1] <= u * cdf[-1] < cdf[i]``, so categories of
    probability zero are never drawn.
    """
    if distribution.logits is not None:
        logits = jnp.asarray(distribution.logits, jnp.float32)
        weights = jnp.exp(logits - jnp.max(logits, axis=-1, keepdims=True))
    else:
        weights = jnp.asarray(distribution.probs, jnp.float32)
    cdf = jnp.cumsum(weights, axis=-1)
    sample_shape = tuple(sample_shape)
    batch = cdf.shape[:-1]
    u = uniform_01(key, (*sample_shape, *batch))
    target = u * cdf[..., -1]
    below = cdf <= target[..., None]
    index = jnp.sum(below, axis=-1, dtype=jnp.int32)
    return jnp.minimum(index, cdf.shape[-1] - 1).astype(distribution.dtype)

"""`TFBackend`: TensorFlow tensors, ``tf.experimental.numpy`` and TFP distributions.

>>> B = tf_backend()
>>> x = B.np.asarray([1.0, 3.0, 2.0], dtype="float32")
>>> B.top_k(x, 2)[1].numpy().tolist()
[1, 2]
>>> key = B.fold_in(B.make_seed(0), 7)
>>> d = B.tfd.Normal(0.0, 1.0)
>>> float(B.sample(d, (), key)) == float(B.sample(d, (), key))
True

NumPy behaviour
---------------
The first use of ``B.np`` (and every `TFRuntime`, and every evaluation under
``recosim.tf.tracing.step_handlers``) calls
``tf.experimental.numpy.experimental_enable_numpy_behavior(prefer_float32=True)``,
once per process; merely creating the backend (as ``backend_for`` does to
recognise tensors) does not. Blocks are written against NumPy semantics (see
docs/writing-blocks.md), and without this switch TensorFlow operators refuse to
mix dtypes (``int32_tensor * float32_tensor`` raises) where NumPy promotes.
The "legacy" promotion mode is used because it is NumPy's own (an ``int32``
times a ``float32`` is ``float64`` on both, so a block that leaks ``float64`` fails
its spec on the NumPy runtime and on this one alike); the newer modes return
weakly typed tensors that TensorFlow Probability rejects. ``prefer_float32``
makes Python floats become ``float32`` (``B.np.asarray(0.5)``), the project's
float type, instead of ``float64``.

The switch is global and cannot be undone: in the same process, every
``tf.Tensor`` gains NumPy methods (``.reshape``, ``.astype``, ``.T``) and
operators promote mixed dtypes as NumPy does, for all TensorFlow code, not only
recosim's. Code that relied on TensorFlow raising on mixed dtypes will instead
compute in the promoted dtype.
"""

from __future__ import annotations

import threading
from functools import cached_property
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow.experimental.numpy as tnp
import tensorflow_probability as tfp
from numpy.typing import NDArray

from recosim.core.backend import Backend, Linalg, guard_substrate, register_framework_backend
from recosim.tf.fast_ops import blocked_top_k, uniform, use_blocked_top_k

__all__ = ["TFBackend", "tf_backend", "enable_numpy_behavior", "SEED_ALGORITHM"]

SEED_ALGORITHM = "philox"
"""The stateless RNG algorithm used for keys (fixed, so keys are the same on every device)."""

_ENABLED = False
_LOCK = threading.Lock()


def enable_numpy_behavior() -> None:
    """Switch on TensorFlow's NumPy behaviour (legacy promotion, ``float32`` floats) once."""
    global _ENABLED
    with _LOCK:
        if not _ENABLED:
            tnp.experimental_enable_numpy_behavior(prefer_float32=True, dtype_conversion_mode="legacy")
            _ENABLED = True


def _tf_dtype(dtype: Any) -> tf.DType:
    if isinstance(dtype, tf.DType):
        return dtype
    return tf.as_dtype(np.dtype(dtype))


class TFBackend(Backend):
    """TensorFlow tensors, ``int32[2]`` stateless seeds and TensorFlow Probability.

    Sampling is stateless: the same seed tensor always gives the same draw, eager
    or inside ``tf.function``. Under XLA (``jit_compile=True``) TensorFlow's
    samplers transform the same random bits differently, so XLA-compiled runs are
    reproducible among themselves but differ from non-XLA runs (except for the
    scalar-bound ``Uniform`` draws of `sample`, always compiled with XLA).
    """

    name = "tf"
    framework = "tensorflow"

    @property
    def np(self) -> Any:
        enable_numpy_behavior()
        return tnp

    @cached_property
    def tfd(self) -> Any:
        guard_substrate(tfp)
        return tfp.distributions

    @property
    def linalg(self) -> Any:
        return Linalg(tf.linalg)

    # -- seeds ----------------------------------------------------------------
    def make_seed(self, seed: int) -> Any:
        """The 64 bits of ``seed`` as an ``int32[2]`` tensor (low word first)."""
        s = int(seed) & 0xFFFFFFFFFFFFFFFF
        words = np.array([s & 0xFFFFFFFF, s >> 32], dtype=np.uint32).view(np.int32)
        return tf.constant(words, dtype=tf.int32)

    def fold_in(self, seed: Any, data: int | Any) -> Any:
        """A new ``int32[2]`` seed: Philox bits keyed by ``seed`` with ``data`` mixed into it.

        ``tf.random.experimental.stateless_fold_in`` is not used because its result
        keeps only 32 bits of the parent seed (its second word is ``data`` itself),
        which makes collisions likely over long runs.
        """
        seed = tf.convert_to_tensor(seed, dtype=tf.int32)
        if isinstance(data, (int, np.integer)):
            data = np.array(int(data) & 0xFFFFFFFF, dtype=np.uint32).view(np.int32)
        data = tf.cast(data, tf.int32)
        mixed = tf.stack([tf.bitwise.bitwise_xor(seed[0], data), seed[1]])
        return tf.random.stateless_uniform(
            [2], seed=mixed, minval=None, maxval=None, dtype=tf.int32, alg=SEED_ALGORITHM
        )

    def sample(self, distribution: Any, sample_shape: Any, seed: Any) -> Any:
        """A draw of ``distribution``; a ``Uniform`` with scalar bounds through `recosim.tf.fast_ops.uniform`.

        TFP draws ``Uniform(low, high)`` as ``low + (high - low) * u``, with ``u`` from
        TensorFlow's Philox kernel and three passes over the draw. With scalar
        bounds and a static shape the same formula is computed in one XLA-compiled
        loop from Threefry bits keyed by ``seed``: the same law and the same
        reproducibility (same seed, same numbers, compiled or eager), other numbers.
        """
        if type(distribution) is self.tfd.Uniform:
            low = tf.convert_to_tensor(distribution.low)
            high = tf.convert_to_tensor(distribution.high)
            if low.shape.rank == 0 and high.shape.rank == 0 and low.dtype in (tf.float32, tf.float64):
                shape = tf.TensorShape(tuple(sample_shape))
                if shape.is_fully_defined():
                    return uniform(shape.as_list(), seed, low, high, low.dtype)
        return distribution.sample(tuple(sample_shape), seed=seed)

    # -- operations -------------------------------------------------------------
    def asarray(self, x: Any, dtype: Any = None) -> Any:
        if dtype is None:
            if isinstance(x, tf.Variable):
                return tf.convert_to_tensor(x)
            return tf.convert_to_tensor(x) if tf.is_tensor(x) else self.np.asarray(x)
        dtype = _tf_dtype(dtype)
        if tf.is_tensor(x) or isinstance(x, tf.Variable):
            x = tf.convert_to_tensor(x)
            return x if x.dtype == dtype else tf.cast(x, dtype)
        return self.np.asarray(x, dtype=dtype)

    def cast(self, x: Any, dtype: Any) -> Any:
        return tf.cast(x, _tf_dtype(dtype))

    def top_k(self, x: Any, k: int) -> tuple[Any, Any]:
        """The ``k`` largest along the last axis, best first; ties keep the lower index first, as on NumPy.

        Long ``float32`` rows and small ``k`` go through `recosim.tf.fast_ops.blocked_top_k`
        (the same values and indices in a fraction of ``tf.math.top_k``'s time on CPU).
        """
        x = tf.convert_to_tensor(x)
        k = int(k)
        if use_blocked_top_k(x, k):
            return blocked_top_k(x, k)
        out = tf.math.top_k(x, k=k, sorted=True)
        return out.values, out.indices

    def stop_gradient(self, x: Any) -> Any:
        return tf.stop_gradient(x)

    def scatter_add(self, x: Any, indices: Any, updates: Any) -> Any:
        x = tf.convert_to_tensor(x)
        indices = tf.convert_to_tensor(indices)
        updates = tf.cast(updates, x.dtype)
        return tf.tensor_scatter_nd_add(x, indices[..., None], tf.broadcast_to(updates, _scatter_shape(x, indices)))

    def one_hot(self, indices: Any, depth: int, dtype: Any = "float32") -> Any:
        dtype = _tf_dtype(dtype)
        if dtype == tf.bool:
            return tf.one_hot(tf.cast(indices, tf.int32), int(depth), on_value=True, off_value=False, dtype=tf.bool)
        return tf.one_hot(tf.cast(indices, tf.int32), int(depth), dtype=dtype)

    def log_sigmoid(self, x: Any) -> Any:
        return tf.math.log_sigmoid(x)

    def static_value(self, x: Any) -> NDArray[Any] | None:
        """The value of an eager tensor (or one TensorFlow can fold while tracing); None otherwise."""
        value = tf.get_static_value(x)
        return None if value is None else np.asarray(value)

    def logsumexp(self, x: Any, axis: int = -1, keepdims: bool = False) -> Any:
        return tf.reduce_logsumexp(x, axis=axis, keepdims=keepdims)

    def log_softmax(self, x: Any, axis: int = -1) -> Any:
        return tf.nn.log_softmax(x, axis=axis)

    def softmax(self, x: Any, axis: int = -1) -> Any:
        return tf.nn.softmax(x, axis=axis)

    def sigmoid(self, x: Any) -> Any:
        return tf.math.sigmoid(x)

    def owns(self, x: Any) -> bool:
        """TensorFlow tensors (eager or symbolic) and variables."""
        return isinstance(x, tf.Variable) or tf.is_tensor(x)


def _scatter_shape(x: Any, indices: Any) -> Any:
    return tf.concat([tf.shape(indices), tf.shape(x)[1:]], axis=0)


_SHARED: TFBackend | None = None


def tf_backend() -> TFBackend:
    """The shared `TFBackend`."""
    global _SHARED
    if _SHARED is None:
        _SHARED = TFBackend()
    return _SHARED


register_framework_backend("tensorflow", tf_backend)

"""Backends: the array operations and distributions a runtime lends to behaviours.

Library blocks never import a framework. They ask for the active backend and use
its NumPy-like namespace ``B.np``, its TensorFlow Probability distributions
``B.tfd``, its batched ``B.linalg``, and the handful of operations on the backend
object itself whose spelling differs between NumPy, TensorFlow and JAX.

The *backend contract* is the part of those namespaces that blocks may use:
`NUMPY_FUNCTIONS`, `DISTRIBUTIONS`, `LINALG_FUNCTIONS` and `OPERATIONS`. Every
backend must provide all of it with NumPy's meaning; `recosim.core.conformance`
checks that on any backend, and a test checks that the library uses nothing else.

>>> B = get_backend()          # NumPy unless a runtime has activated another
>>> B.name
'numpy'
>>> B.np.asarray(B.softmax(B.np.zeros(2))).tolist()
[0.5, 0.5]

A runtime activates its backend with :func:`using_backend` around every call of a
behaviour, so the same model code runs on every runtime.
"""

from __future__ import annotations

import functools
import sys
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "DISTRIBUTIONS",
    "LINALG_FUNCTIONS",
    "NUMPY_FUNCTIONS",
    "OPERATIONS",
    "Backend",
    "BackendFactory",
    "Linalg",
    "NumpyBackend",
    "add_backend_directory",
    "add_unseeded_draw_check",
    "guard_substrate",
    "backend_for",
    "get_backend",
    "numpy_backend",
    "register_framework_backend",
    "using_backend",
]


NUMPY_FUNCTIONS: frozenset[str] = frozenset(
    {
        "abs", "all", "any", "arange", "argmax", "argsort", "asarray", "broadcast_to", "clip", "concatenate",
        "cumsum", "einsum", "equal", "exp", "expand_dims", "eye", "floor", "full", "full_like", "isfinite", "log",
        "log1p", "matmul", "max", "maximum", "mean", "minimum", "ones", "ones_like", "power", "reshape", "sort", "sqrt",
        "squeeze", "stack", "sum", "swapaxes", "take", "take_along_axis", "tanh", "transpose", "where", "zeros",
        "zeros_like",
    }
)  # fmt: skip
"""Functions of ``B.np`` that blocks may call, with NumPy's signature and meaning."""

DISTRIBUTIONS: frozenset[str] = frozenset(
    {
        "BatchBroadcast", "Bernoulli", "Beta", "Categorical", "Deterministic", "Geometric", "Gumbel",
        "Independent", "Logistic", "LogNormal", "MixtureSameFamily", "MultivariateNormalDiag", "MultivariateNormalTriL",
        "NegativeBinomial", "Normal", "OrderedLogistic", "Uniform",
    }
)  # fmt: skip
"""TensorFlow Probability distributions of ``B.tfd`` that blocks may build."""

LINALG_FUNCTIONS: frozenset[str] = frozenset({"inv", "solve", "cholesky", "det", "slogdet"})
"""Functions of ``B.linalg`` (batched over leading axes)."""

OPERATIONS: frozenset[str] = frozenset(
    {
        "asarray", "cast", "top_k", "stop_gradient", "scatter_add", "one_hot", "logsumexp", "log_softmax",
        "softmax", "sigmoid", "log_sigmoid", "norm", "static_value", "make_seed", "fold_in", "sample",
    }
)  # fmt: skip
"""Methods of the backend object that blocks may call (their spelling differs between frameworks)."""


class Backend(ABC):
    """The operations a runtime provides to model code.

    Subclasses set ``name`` and ``framework`` (the top-level module whose arrays they
    own, or ``None`` for NumPy) and implement the abstract members. Arrays may be
    given as NumPy arrays or Python scalars anywhere; results are the backend's arrays.
    """

    name: str = ""
    framework: str | None = None

    # -- namespaces ----------------------------------------------------------
    @property
    @abstractmethod
    def np(self) -> Any:
        """A NumPy-compatible namespace (``numpy``, ``jax.numpy``, ``tf.experimental.numpy``)."""

    @property
    @abstractmethod
    def tfd(self) -> Any:
        """``tensorflow_probability.distributions`` on this backend's substrate."""

    @property
    @abstractmethod
    def linalg(self) -> Any:
        """A namespace with ``inv``, ``solve``, ``cholesky``, ``det`` and ``slogdet`` (batched)."""

    # -- seeds ----------------------------------------------------------------
    @abstractmethod
    def make_seed(self, seed: int) -> Any:
        """Turn an integer into this backend's stateless seed (a key)."""

    @abstractmethod
    def fold_in(self, seed: Any, data: int | Any) -> Any:
        """A new seed derived deterministically from ``seed`` and the integer ``data``."""

    def sample(self, distribution: Any, sample_shape: Sequence[int], seed: Any) -> Any:
        """Draw ``distribution.sample(sample_shape, seed=seed)``."""
        return distribution.sample(tuple(sample_shape), seed=seed)

    # -- operations whose spelling differs between frameworks -----------------
    @abstractmethod
    def asarray(self, x: Any, dtype: Any = None) -> Any:
        """Convert ``x`` to this backend's array type (optionally casting)."""

    def cast(self, x: Any, dtype: Any) -> Any:
        """Cast ``x`` to ``dtype`` (a NumPy dtype or its name)."""
        return self.asarray(x, dtype)

    @abstractmethod
    def top_k(self, x: Any, k: int) -> tuple[Any, Any]:
        """The ``k`` largest entries along the last axis, in decreasing order: ``(values, indices)``."""

    @abstractmethod
    def stop_gradient(self, x: Any) -> Any:
        """``x``, through which no gradient flows."""

    @abstractmethod
    def scatter_add(self, x: Any, indices: Any, updates: Any) -> Any:
        """``x`` with ``updates`` added at ``indices`` along axis 0 (repeated indices accumulate)."""

    def one_hot(self, indices: Any, depth: int, dtype: Any = "float32") -> Any:
        """One-hot encode integer ``indices`` along a new last axis of size ``depth``.

        Indices outside ``[0, depth)`` (such as a "no choice" index) give all zeros;
        ``dtype="bool"`` gives the mask itself.
        """
        np_ = self.np
        idx = self.cast(self.asarray(indices), "int32")
        mask = np_.expand_dims(idx, -1) == np_.arange(int(depth), dtype="int32")
        return mask if np.dtype(dtype) == np.bool_ else self.cast(mask, dtype)

    def logsumexp(self, x: Any, axis: int = -1, keepdims: bool = False) -> Any:
        """``log(sum(exp(x)))`` along ``axis``, computed stably."""
        np_ = self.np
        m = self.stop_gradient(np_.max(x, axis=axis, keepdims=True))
        m = np_.where(np_.isfinite(m), m, np_.zeros_like(m))
        out = np_.log(np_.sum(np_.exp(x - m), axis=axis, keepdims=True)) + m
        return out if keepdims else np_.squeeze(out, axis=axis)

    def log_softmax(self, x: Any, axis: int = -1) -> Any:
        """``x - logsumexp(x)`` along ``axis``."""
        return x - self.logsumexp(x, axis=axis, keepdims=True)

    def softmax(self, x: Any, axis: int = -1) -> Any:
        """Normalised exponentials along ``axis``."""
        return self.np.exp(self.log_softmax(x, axis=axis))

    def sigmoid(self, x: Any) -> Any:
        """The logistic function."""
        np_ = self.np
        return 1.0 / (1.0 + np_.exp(-x))

    def log_sigmoid(self, x: Any) -> Any:
        """``log(sigmoid(x))`` without overflow: ``-softplus(-x)``."""
        np_ = self.np
        return -(np_.maximum(-x, 0.0) + np_.log1p(np_.exp(-np_.abs(x))))

    def static_value(self, x: Any) -> NDArray[Any] | None:
        """``x`` as a NumPy array if its value is known now, else None (inside a compiled trace).

        Lets a block check a value (an index past the end of a log, say) wherever it
        can be checked, without branching on which backend runs it.
        """
        return np.asarray(x)

    def norm(self, x: Any, axis: int = -1, keepdims: bool = False) -> Any:
        """Euclidean norm along ``axis``."""
        np_ = self.np
        return np_.sqrt(np_.sum(x * x, axis=axis, keepdims=keepdims))

    def owns(self, x: Any) -> bool:
        """Whether ``x`` is an array of this backend's framework."""
        return False

    def __repr__(self) -> str:
        return f"<recosim backend {self.name!r}>"


class Linalg:
    """The batched linear algebra a backend lends: ``inv``, ``solve``, ``cholesky``, ``det``, ``slogdet``.

    Built from any module with those names and NumPy's meaning (``numpy.linalg``,
    ``jax.numpy.linalg``, ``tf.linalg``); ``solve(a, b)`` solves ``a @ x = b`` for
    matrices ``b``.
    """

    def __init__(self, module: Any) -> None:
        self.inv = module.inv
        self.solve = module.solve
        self.cholesky = module.cholesky
        self.det = module.det
        self.slogdet = module.slogdet


class NumpyBackend(Backend):
    """NumPy arrays and the NumPy substrate of TensorFlow Probability."""

    name = "numpy"
    framework = None

    @property
    def np(self) -> Any:
        return np

    @cached_property
    def tfd(self) -> Any:
        return _import_numpy_substrate().distributions

    @cached_property
    def linalg(self) -> Any:
        return Linalg(np.linalg)

    def make_seed(self, seed: int) -> Any:
        return np.random.SeedSequence(int(seed) & 0xFFFFFFFFFFFFFFFF).generate_state(2, np.uint32)

    def fold_in(self, seed: Any, data: int | Any) -> Any:
        words = [int(w) for w in np.asarray(seed, np.uint32).ravel()] + [int(data) & 0xFFFFFFFF]
        return np.random.SeedSequence(words).generate_state(2, np.uint32)

    def sample(self, distribution: Any, sample_shape: Sequence[int], seed: Any) -> Any:
        """Draw from ``distribution``; categoricals use a vectorised Gumbel-max sampler.

        The NumPy substrate of TFP samples categoricals row by row in Python, which
        dominates large populations; Gumbel-max gives the same distribution.
        """
        if type(distribution) is self.tfd.Categorical:
            logits = np.asarray(distribution.logits_parameter())
            rng = np.random.default_rng(np.asarray(seed, np.uint32))
            gumbel = rng.gumbel(size=tuple(sample_shape) + logits.shape).astype(logits.dtype, copy=False)
            return np.argmax(logits + gumbel, axis=-1).astype(distribution.dtype)
        return distribution.sample(tuple(sample_shape), seed=seed)

    def asarray(self, x: Any, dtype: Any = None) -> Any:
        return np.asarray(x, dtype=dtype)

    def logsumexp(self, x: Any, axis: int = -1, keepdims: bool = False) -> Any:
        with np.errstate(divide="ignore"):  # a row of -inf is -inf, not a warning
            return super().logsumexp(x, axis=axis, keepdims=keepdims)

    def top_k(self, x: Any, k: int) -> tuple[Any, Any]:
        """The ``k`` largest along the last axis in decreasing order; ties keep the lower index first.

        Linear in the row length: a partition finds the ``k``-th largest value, every
        larger entry and the lowest-indexed ties are kept, and only those are sorted.
        """
        x = np.asarray(x)
        n = x.shape[-1]
        if not 0 < k <= n:
            raise ValueError(f"top_k: k={k} must be between 1 and the last dimension {n}")
        flat = x.reshape(-1, n)
        if k < n:
            kth = -np.partition(-flat, k - 1, axis=-1)[:, k - 1 : k]
            greater, tied = flat > kth, flat == kth
            room = k - greater.sum(axis=-1, keepdims=True)
            chosen = greater | (tied & (np.cumsum(tied, axis=-1) <= room))
            if int(chosen.sum()) == flat.shape[0] * k:
                idx = (np.flatnonzero(chosen) % n).reshape(-1, k)
            else:  # NaN scores: fall back to a full stable sort
                idx = np.argsort(-flat, axis=-1, kind="stable")[:, :k]
        else:
            idx = np.broadcast_to(np.arange(n), flat.shape)
        vals = np.take_along_axis(flat, idx, axis=-1)
        order = np.lexsort((idx, -vals), axis=-1)  # value descending, then index ascending
        shape = (*x.shape[:-1], k)
        vals = np.take_along_axis(vals, order, axis=-1).reshape(shape)
        return vals, np.take_along_axis(idx, order, axis=-1).reshape(shape)

    def stop_gradient(self, x: Any) -> Any:
        return x

    def scatter_add(self, x: Any, indices: Any, updates: Any) -> Any:
        out = np.array(x, copy=True)
        np.add.at(out, np.asarray(indices), np.asarray(updates))
        return out

    def owns(self, x: Any) -> bool:
        return isinstance(x, (np.ndarray, np.generic))


_TF_MODULES = ("tensorflow", "tensorflow.python", "tensorflow.python.ops", "tensorflow.compat")
# TFP's internal NumPy backend: the NumPy and JAX substrates import it, and so does TFP-on-TensorFlow.
_SHARED_TFP_BACKEND = "tensorflow_probability.python.internal.backend.numpy"


def import_substrate_without_tensorflow(substrate: str) -> Any:
    """Import ``tensorflow_probability.substrates.<substrate>`` without importing TensorFlow.

    When TensorFlow is installed, TFP's NumPy and JAX substrates import it only to
    copy docstrings, which costs seconds and drags a framework into runs that do not
    use it. Hiding it for the duration of the import makes the substrate take its
    TensorFlow-free path. TFP's internal NumPy backend, imported along the way, is
    then forgotten again: built without TensorFlow, its function signatures differ
    from TensorFlow's, and TFP-on-TensorFlow (the TF runtime, perhaps later in the
    same process) checks them when it imports that backend itself. The substrate
    keeps its own references, so it goes on working.
    """
    import importlib

    from recosim.core._tfp_install import warn_if_two_tfp_distributions

    warn_if_two_tfp_distributions()
    before = set(sys.modules)
    hidden = [m for m in _TF_MODULES if m not in sys.modules]
    for m in hidden:
        sys.modules[m] = None  # type: ignore[assignment]
    try:
        module = importlib.import_module(f"tensorflow_probability.substrates.{substrate}")
        module.distributions.Normal  # noqa: B018 - load the lazy module while TensorFlow is hidden
    finally:
        for m in hidden:
            if sys.modules.get(m, 0) is None:
                del sys.modules[m]
        if hidden:
            _forget_new_modules(_SHARED_TFP_BACKEND, before)
    return module


def _forget_new_modules(package: str, before: set[str]) -> None:
    """Drop ``package`` and its submodules from ``sys.modules`` if they were imported after ``before``."""
    if package in before:
        return
    for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
        if name not in before:
            del sys.modules[name]
    parent, _, child = package.rpartition(".")
    parent_module = sys.modules.get(parent)
    if parent_module is not None and hasattr(parent_module, child):
        delattr(parent_module, child)


def _import_numpy_substrate() -> Any:
    module = import_substrate_without_tensorflow("numpy")
    guard_substrate(module)
    return module


_DRAW_CHECKS: list[Callable[[], None]] = []


def add_unseeded_draw_check(check: Callable[[], None]) -> None:
    """Call ``check()`` before every unseeded draw (``seed=None``) of a guarded substrate; it may raise.

    `recosim.core.random` adds the check that refuses such draws inside a behaviour.
    """
    if check not in _DRAW_CHECKS:
        _DRAW_CHECKS.append(check)


def guard_substrate(substrate: Any) -> None:
    """Run the unseeded-draw checks before every unseeded draw of a TFP substrate.

    ``substrate`` is ``tensorflow_probability`` itself or one of its ``substrates``
    modules; each backend calls this once, when it first lends its distributions.
    Every ``Distribution.sample`` goes through the base class's ``_call_sample_n``,
    and TFP routes seeds through ``internal.samplers``' ``sanitize_seed`` (or first
    its ``is_stateful_seed``, where it keeps a stateful path); those are wrapped.
    """
    import importlib

    root = substrate.__name__
    internal = "python.internal" if root == "tensorflow_probability" else "internal"
    samplers = importlib.import_module(f"{root}.{internal}.samplers")
    for name in ("sanitize_seed", "is_stateful_seed"):
        _wrap(samplers, name, lambda seed, *a, **k: seed)
    _wrap(substrate.distributions.Distribution, "_call_sample_n", lambda self, shape, seed, *a, **k: seed)


def _wrap(owner: Any, name: str, seed_of: Callable[..., Any]) -> None:
    original = getattr(owner, name, None)
    if original is None or getattr(original, "_recosim_guarded", False):
        return

    @functools.wraps(original)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if _DRAW_CHECKS and seed_of(*args, **kwargs) is None:
            for check in _DRAW_CHECKS:
                check()
        return original(*args, **kwargs)

    guarded._recosim_guarded = True  # type: ignore[attr-defined]
    setattr(owner, name, guarded)


_NUMPY = NumpyBackend()


def numpy_backend() -> NumpyBackend:
    """The (shared) NumPy backend."""
    return _NUMPY


class _Active(threading.local):
    def __init__(self) -> None:
        self.stack: list[Backend] = []


_ACTIVE = _Active()


def get_backend() -> Backend:
    """The backend activated by the innermost :func:`using_backend` (NumPy by default)."""
    return _ACTIVE.stack[-1] if _ACTIVE.stack else _NUMPY


@contextmanager
def using_backend(backend: Backend) -> Iterator[Backend]:
    """Make ``backend`` the one :func:`get_backend` returns inside the block."""
    if not isinstance(backend, Backend):
        raise TypeError(f"using_backend needs a recosim Backend, got {type(backend).__name__}")
    _ACTIVE.stack.append(backend)
    try:
        yield backend
    finally:
        _ACTIVE.stack.pop()


BackendFactory = Callable[[], Backend]
"""A zero-argument callable returning a (shared) backend."""

_FRAMEWORK_BACKENDS: dict[str, BackendFactory] = {}
_DIRECTORIES: list[Callable[[], Mapping[str, BackendFactory]]] = []


def register_framework_backend(framework: str, factory: BackendFactory) -> None:
    """Tell :func:`backend_for` that arrays of the top-level module ``framework`` belong to ``factory()``.

    A backend module calls this when it is imported (``recosim.jax.backend`` for
    ``"jax"``), so its arrays are recognised without any lookup.
    """
    _FRAMEWORK_BACKENDS[framework] = factory


def add_backend_directory(directory: Callable[[], Mapping[str, BackendFactory]]) -> None:
    """Let a higher layer list backends (``framework -> factory``) that :func:`backend_for` may ask.

    The plugin manager adds one listing every installed runtime's backend, so arrays
    of an installed framework are recognised even before its backend module is
    imported. ``directory`` is called only when arrays of an imported framework are
    seen, and a backend is created only when its framework is already imported.
    """
    _DIRECTORIES.append(directory)


def backend_for(*arrays: Any) -> Backend:
    """The backend owning ``arrays`` (einops-style: only frameworks already imported are asked).

    ``arrays`` may be arrays or mappings of arrays (Values). Falls back to the active
    backend when no array belongs to a loaded framework.
    """
    leaves = [a for arr in arrays for a in (arr.values() if isinstance(arr, Mapping) else [arr])]
    if all(isinstance(leaf, (np.ndarray, np.generic, int, float, bool)) for leaf in leaves):
        return get_backend()
    candidates = dict(_FRAMEWORK_BACKENDS)
    for directory in _DIRECTORIES:
        for framework, factory in directory().items():
            candidates.setdefault(framework, factory)
    for framework, factory in candidates.items():
        if framework not in sys.modules:
            continue
        backend = factory()
        if any(backend.owns(leaf) for leaf in leaves):
            return backend
    return get_backend()

"""Settings: named numeric values that behaviours read and runtimes pass in per call.

A platform knob that a study sweeps (a recommender's boost cap, a moderation
threshold) is a *setting*: behaviours read it with :func:`setting`, a runtime
declares it with a default (``settings={"boost_cap": 1.2}`` on its constructor),
and each call may override it (``rt.run_many(..., settings={"boost_cap": 0.0})``).
Compiled runtimes pass the values as arguments of the compiled program, so a
new value of the same dtype and shape runs the same compiled code: a sweep over
one knob compiles once.

Inside a run, :func:`setting` returns the backend's array (a NumPy array, a
traced JAX argument, a ``tf.function`` argument). Outside any run, or where the
runtime declares no such setting, it returns ``default`` as an array of the
active backend; with no default it raises a `SettingError` naming the setting
and the settings in force.

>>> setting("rate", default=0.5).dtype
dtype('float32')
>>> with using_settings({"rate": np.float32(2.0)}):
...     float(setting("rate", default=0.5))
2.0

Values are carried in fixed dtypes so that every runtime computes alike: Python
and NumPy floats become float32, Python and NumPy integers int32, booleans stay
bool (an array of another dtype keeps it). Every value must be finite.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import numpy as np

from recosim.core.backend import get_backend
from recosim.core.errors import RecosimError

__all__ = ["SettingError", "Settings", "setting", "using_settings", "active_settings", "as_setting_array"]


class SettingError(RecosimError, ValueError):
    """A setting is unknown, missing, or given a value of the wrong dtype, shape or finiteness."""


_ACTIVE: ContextVar[Mapping[str, Any] | None] = ContextVar("recosim_settings", default=None)
_MISSING: Any = object()

# dtypes that every runtime carries alike (JAX without 64-bit mode has no 64-bit arrays)
_NARROW = {"float64": "float32", "int64": "int32", "uint64": "uint32", "complex128": "complex64"}


def as_setting_array(value: Any, name: str) -> np.ndarray:
    """``value`` as the NumPy array a setting holds (narrowed to 32 bits, finite), or a `SettingError`.

    >>> as_setting_array(1.2, "cap").dtype, as_setting_array([1, 2], "ks").dtype
    (dtype('float32'), dtype('int32'))
    """
    try:
        arr = np.asarray(value)
    except Exception as err:  # a framework array that cannot be read here, a ragged list
        raise SettingError(f"setting {name!r}: {type(value).__name__} is not a numeric array ({err})") from None
    if arr.dtype.kind not in "biufc":
        raise SettingError(f"setting {name!r}: expected a number or numeric array, got dtype {arr.dtype.name}")
    arr = arr.astype(_NARROW.get(arr.dtype.name, arr.dtype.name))
    if arr.dtype.kind in "fc" and not np.all(np.isfinite(arr)):
        raise SettingError(f"setting {name!r}: every value must be finite, got {value!r}")
    return arr


def _describe(arr: np.ndarray) -> str:
    return f"{arr.dtype.name}{list(arr.shape)}"


class Settings(Mapping[str, np.ndarray]):
    """The settings a runtime declares: name -> default value (a read-only mapping of NumPy arrays).

    :meth:`resolve` merges a call's overrides, checking that each names a declared
    setting and keeps its dtype kind and shape.

    >>> s = Settings({"boost_cap": 1.2})
    >>> float(s.resolve({"boost_cap": 0})["boost_cap"])
    0.0
    >>> try:
    ...     s.resolve({"boost_kap": 0.0})
    ... except SettingError as err:
    ...     print(err)
    unknown setting 'boost_kap'; this runtime declares ['boost_cap']
    """

    def __init__(self, values: Mapping[str, Any] | None = None) -> None:
        values = {} if values is None else values
        if not isinstance(values, Mapping):
            raise SettingError(f"settings must be a mapping of names to values, got {type(values).__name__}")
        for name in values:
            if not isinstance(name, str) or not name:
                raise SettingError(f"setting names must be non-empty strings, got {name!r}")
        self._defaults = {name: as_setting_array(v, name) for name, v in values.items()}

    def __getitem__(self, name: str) -> np.ndarray:
        return self._defaults[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._defaults)

    def __len__(self) -> int:
        return len(self._defaults)

    def resolve(self, overrides: Mapping[str, Any] | None = None) -> dict[str, np.ndarray]:
        """Every declared setting's value for one call: the defaults with ``overrides`` applied (checked).

        An override must name a declared setting, keep its dtype kind (an integer
        may stand for a float) and its shape, and be finite.
        """
        out = dict(self._defaults)
        if not overrides:
            return out
        if not isinstance(overrides, Mapping):
            raise SettingError(f"settings must be a mapping of names to values, got {type(overrides).__name__}")
        unknown = [n for n in overrides if n not in self._defaults]
        if unknown:
            declared = sorted(self._defaults)
            which = "unknown setting " + ", ".join(repr(n) for n in unknown)
            raise SettingError(
                f"{which}; this runtime declares {declared}"
                + ("" if declared else " (declare settings with settings={...} when building the runtime)")
            )
        for name, value in overrides.items():
            ref = self._defaults[name]
            got = as_setting_array(value, name)
            same_kind = got.dtype.kind == ref.dtype.kind or (ref.dtype.kind == "f" and got.dtype.kind in "iu")
            if not same_kind or got.shape != ref.shape:
                raise SettingError(
                    f"setting {name!r}: expected {_describe(ref)} (as declared), got {_describe(got)}; "
                    "a setting keeps its dtype kind and shape from call to call"
                )
            out[name] = got.astype(ref.dtype)
        return out

    def __repr__(self) -> str:
        inner = ", ".join(f"{n}={v.tolist()!r}" for n, v in self._defaults.items())
        return f"Settings({inner})"


@contextmanager
def using_settings(values: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Make ``values`` (name -> backend array) the settings that :func:`setting` reads, within the block.

    Runtimes open it around a run (compiled runtimes again inside the traced
    function, with the traced arguments); open it yourself to give settings to
    free functions such as log-probabilities evaluated outside a runtime.
    """
    token = _ACTIVE.set(dict(values))
    try:
        yield values
    finally:
        _ACTIVE.reset(token)


def active_settings() -> Mapping[str, Any] | None:
    """The settings in force (name -> value), or None outside any run."""
    return _ACTIVE.get()


def setting(name: str, default: Any = _MISSING) -> Any:
    """The value of setting ``name`` in the running runtime, or ``default`` as an array of the active backend.

    Raises a `SettingError` naming ``name`` and the settings in force when there is
    neither a value nor a default.
    """
    values = _ACTIVE.get()
    if values is not None and name in values:
        return values[name]
    if default is _MISSING:
        if values is None:
            where = "no run is active, so no settings are in force"
        elif values:
            where = f"the runtime declares {sorted(values)}"
        else:
            where = "the runtime declares no settings"
        raise SettingError(
            f"setting {name!r} has no value and no default: {where}; declare it with "
            f"settings={{{name!r}: ...}} when building the runtime, or give setting() a default"
        )
    B = get_backend()
    if not isinstance(default, (np.ndarray, np.generic)) and B.owns(default):
        # already the backend's array (a traced parameter, say): used as it is
        return default
    return B.asarray(as_setting_array(default, name))

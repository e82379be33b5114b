"""Which runtimes the inference methods run on, and each one's framework operations.

The one place that asks the plugin registry (runtimes declaring the ``differentiable``
capability) and imports a per-framework module (`recosim.inference._jax`, `_tf`).
"""

from __future__ import annotations

import importlib

from recosim.core.errors import UnknownPluginError
from recosim.core.plugins import DIFFERENTIABLE, get_plugins
from recosim.inference import engines
from recosim.inference.problem import InferenceError

__all__ = ["FRAMEWORK_RUNTIMES", "differentiable_runtimes", "framework"]

_EXTRA = {"jax": "blackjax, optax, arviz", "tf": "tensorflow, tensorflow-probability, arviz"}
_MODULES = {"jax": ("recosim.inference._jax", "JAX"), "tf": ("recosim.inference._tf", "TF")}
FRAMEWORK_RUNTIMES = tuple(_MODULES)
"""The runtimes this package has framework operations for."""


def differentiable_runtimes() -> list[str]:
    """The runtimes the inference methods run on: those that can differentiate a model's log-probability.

    Those of `FRAMEWORK_RUNTIMES` that the plugin registry lists as declaring the
    ``differentiable`` capability.
    """
    able = set(get_plugins().runtimes_with(DIFFERENTIABLE))
    return [r for r in _MODULES if r in able]


def framework(runtime: str, method: str) -> engines.Framework:
    """The runtime's framework operations (imported now), or an error naming the method and runtime."""
    runtimes = differentiable_runtimes()
    if runtime not in runtimes:
        installed = get_plugins().runtime_names()
        if runtime in installed:
            raise InferenceError(f"{method} runs on the runtimes {runtimes}, not on {runtime!r}")
        raise InferenceError(
            f"unknown runtime {runtime!r} for {method}; {method} runs on {runtimes} (installed runtimes: {installed})"
        )
    try:
        get_plugins().get_runtime(runtime)
    except UnknownPluginError as err:
        raise InferenceError(f"{method} on {runtime!r} needs recosim-runtime-{runtime}: {err}") from None
    module, attribute = _MODULES[runtime]
    try:
        return getattr(importlib.import_module(module), attribute)  # type: ignore[no-any-return]
    except ImportError as err:
        raise InferenceError(
            f"{method} on {runtime!r} needs {_EXTRA[runtime]} (pip install 'recosim-inference[{runtime}]'): {err}"
        ) from None

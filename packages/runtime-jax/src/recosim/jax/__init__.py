"""recosim.jax: the JAX runtime of recosim.

jit-compiled steps, ``lax.scan`` over time, explicit PRNG keys, many runs in one
vmapped call, and compiled, differentiable log-probabilities of trajectories.

Importing this package is cheap: JAX is imported when one of the names below is
first used (the plugin module ``recosim.jax.plugin`` never imports it).
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "JaxBackend",
    "JaxRuntime",
    "RunSummary",
    "log_probability_from_value_trajectory",
    "make_log_probability_fn",
    "replace_fields",
    "import_substrate_without_tensorflow",
    "summarize",
]

_WHERE = {
    "JaxBackend": "recosim.jax.backend",
    "JaxRuntime": "recosim.jax.runtime",
    "RunSummary": "recosim.core.summary",
    "summarize": "recosim.core.summary",
    "log_probability_from_value_trajectory": "recosim.jax.log_probability",
    "make_log_probability_fn": "recosim.jax.log_probability",
    "replace_fields": "recosim.jax.log_probability",
    "import_substrate_without_tensorflow": "recosim.jax._tfp_compat",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'recosim.jax' has no attribute {name!r}")
    obj = getattr(importlib.import_module(module), name)
    globals()[name] = obj
    return obj


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])

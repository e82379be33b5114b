"""The built-in plugin of the NumPy runtime (and its log-probability functions)."""

from __future__ import annotations

from typing import Any

from recosim.core.plugins.hookspecs import hookimpl


@hookimpl
def recosim_add_runtimes(registry: Any) -> None:
    registry.add(
        "numpy",
        "recosim.core.runtime:NumpyRuntime",
        backend="recosim.core.backend:numpy_backend",
        framework=None,
        summary="ancestral sampling in a Python loop over NumPy arrays",
    )


@hookimpl
def recosim_add_inference_methods(registry: Any) -> None:
    registry.add(
        "log_probability",
        "recosim.core.log_probability:log_probability_from_value_trajectory",
        runtimes=(),
        summary="log-probability of a value trajectory (any runtime)",
    )

"""The built-in plugin of the NumPy runtime and its log-probability functions."""

from __future__ import annotations

from recosim.core.plugins.hookspecs import hookimpl
from recosim.core.plugins.registry import InferenceMethodRegistrar, RuntimeRegistrar


@hookimpl
def recosim_add_runtimes(registry: RuntimeRegistrar) -> None:
    registry.add(
        "numpy",
        "recosim.core.runtime:NumpyRuntime",
        backend="recosim.core.backend:numpy_backend",
        framework=None,
        summary="ancestral sampling in a Python loop over NumPy arrays",
        capabilities=(),
    )


@hookimpl
def recosim_add_inference_methods(registry: InferenceMethodRegistrar) -> None:
    registry.add(
        "log_probability",
        implementations={"numpy": "recosim.core.log_probability:log_probability_from_value_trajectory"},
        summary="log-probability of a logged value trajectory: fn(model, trajectory, num_steps=None, *, seed=None)",
    )
    registry.add(
        "log_probability_fn",
        implementations={"numpy": "recosim.core.log_probability:make_log_probability_fn"},
        summary="log-probability as a function of held-out latent entries (an MCMC target): "
        "fn(model, trajectory, latent, num_steps=None, *, seed=None)",
    )

"""The recosim plugin of recosim-runtime-jax: registers the ``jax`` runtime.

Loading this module imports no JAX; the runtime, its backend and the inference
methods are registered as import strings and imported when first used.
"""

from __future__ import annotations

from typing import Any

from recosim.core.plugins import hookimpl


@hookimpl
def recosim_add_runtimes(registry: Any) -> None:
    registry.add(
        "jax",
        "recosim.jax.runtime:JaxRuntime",
        backend="recosim.jax.backend:jax_backend",
        framework="jax",
        summary="jit-compiled steps scanned over time, explicit PRNG keys, vmapped runs, gradients",
    )


@hookimpl
def recosim_add_inference_methods(registry: Any) -> None:
    registry.add(
        "jax_log_probability",
        "recosim.jax.log_probability:log_probability_from_value_trajectory",
        runtimes=("jax",),
        summary="compiled, differentiable log-probability of a value trajectory on JAX",
    )
    registry.add(
        "jax_log_probability_fn",
        "recosim.jax.log_probability:make_log_probability_fn",
        runtimes=("jax",),
        summary="log-probability as a function of held-out latent fields (an MCMC target) on JAX",
    )

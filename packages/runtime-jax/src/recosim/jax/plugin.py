"""The recosim plugin of recosim-runtime-jax: registers the ``jax`` runtime and its inference methods.

Loading this module imports no JAX; the runtime, its backend and the inference
methods are registered as import strings and imported when first used.
"""

from __future__ import annotations

from recosim.core.plugins import (
    COMPILES,
    DIFFERENTIABLE,
    SHARDS,
    VECTORISES,
    InferenceMethodRegistrar,
    RuntimeRegistrar,
    hookimpl,
)


@hookimpl
def recosim_add_runtimes(registry: RuntimeRegistrar) -> None:
    registry.add(
        "jax",
        "recosim.jax.runtime:JaxRuntime",
        backend="recosim.jax.backend:jax_backend",
        framework="jax",
        summary="jit-compiled scanned steps, explicit PRNG keys, vmapped runs, gradients, sharded populations",
        capabilities=(COMPILES, VECTORISES, DIFFERENTIABLE, SHARDS),
    )


@hookimpl
def recosim_add_inference_methods(registry: InferenceMethodRegistrar) -> None:
    registry.add(
        "log_probability",
        implementations={"jax": "recosim.jax.log_probability:log_probability_from_value_trajectory"},
    )
    registry.add(
        "log_probability_fn",
        implementations={"jax": "recosim.jax.log_probability:make_log_probability_fn"},
    )

"""The recosim plugin of recosim-runtime-tf: registers the ``tf`` runtime and its inference methods.

Loading this module imports no TensorFlow: the runtime, its backend and the
inference methods are registered as import strings, imported when first used.
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
        "tf",
        "recosim.tf.runtime:TFRuntime",
        backend="recosim.tf.backend:tf_backend",
        framework="tensorflow",
        summary="the simulation compiled into one TensorFlow graph (tf.while_loop, optional XLA), Edward2 draws",
        capabilities=(COMPILES, VECTORISES, DIFFERENTIABLE, SHARDS),
    )


@hookimpl
def recosim_add_inference_methods(registry: InferenceMethodRegistrar) -> None:
    registry.add(
        "log_probability",
        implementations={"tf": "recosim.tf.log_probability:log_probability_from_value_trajectory"},
    )
    registry.add(
        "log_probability_fn",
        implementations={"tf": "recosim.tf.log_probability:make_log_probability_fn"},
    )
    registry.add(
        "run_distributed",
        implementations={"tf": "recosim.tf.distribute:run_distributed"},
        summary="independent simulation runs over a tf.distribute strategy's replicas, with mean and standard error",
    )

"""The recosim plugin of recosim-runtime-tf: registers the ``tf`` runtime.

Loading this module imports no TensorFlow: the runtime, its backend and the
inference methods are registered as import strings, imported when first used.
"""

from __future__ import annotations

from typing import Any

from recosim.core.plugins import hookimpl


@hookimpl
def recosim_add_runtimes(registry: Any) -> None:
    registry.add(
        "tf",
        "recosim.tf.runtime:TFRuntime",
        backend="recosim.tf.backend:tf_backend",
        framework="tensorflow",
        summary="the simulation compiled into one TensorFlow graph (tf.while_loop, optional XLA), Edward2 draws",
    )


@hookimpl
def recosim_add_inference_methods(registry: Any) -> None:
    registry.add(
        "tf_log_probability",
        "recosim.tf.log_probability:log_probability_from_value_trajectory",
        runtimes=("tf",),
        summary="compiled, differentiable log-probability of a value trajectory on TensorFlow",
    )
    registry.add(
        "tf_log_probability_fn",
        "recosim.tf.log_probability:make_log_probability_fn",
        runtimes=("tf",),
        summary="log-probability as a function of held-out latent fields (a tfp.mcmc target)",
    )
    registry.add(
        "tf_run_distributed",
        "recosim.tf.distribute:run_distributed",
        runtimes=("tf",),
        summary="independent simulation runs over a tf.distribute strategy's replicas, mean and stderr",
    )

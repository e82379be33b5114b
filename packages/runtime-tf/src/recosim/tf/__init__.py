"""recosim.tf: the TensorFlow runtime of recosim.

Importing this package imports no TensorFlow; the names below are loaded on
first use: `TFRuntime`, `TFBackend`, `tf_backend`, `story_with_trainable_variables`,
`trainable_variables_of`, `run_distributed`, and the modules
``recosim.tf.log_probability`` and ``recosim.tf.tracing``.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "TFRuntime",
    "TFBackend",
    "tf_backend",
    "story_with_trainable_variables",
    "trainable_variables_of",
    "run_distributed",
    "DistributedResult",
    "log_probability_from_value_trajectory",
    "make_log_probability_fn",
]

_LAZY = {
    "TFRuntime": "recosim.tf.runtime",
    "TFBackend": "recosim.tf.backend",
    "tf_backend": "recosim.tf.backend",
    "story_with_trainable_variables": "recosim.tf.trainable",
    "trainable_variables_of": "recosim.tf.trainable",
    "run_distributed": "recosim.tf.distribute",
    "DistributedResult": "recosim.tf.distribute",
    "log_probability_from_value_trajectory": "recosim.tf.log_probability",
    "make_log_probability_fn": "recosim.tf.log_probability",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'recosim.tf' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])

"""Helpers shared by the use cases' tests: per-variable log-probabilities and gradients on TF and JAX, PNG sizes."""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from recosim.core import Value, get_plugins, using_backend
from recosim.core.log_probability import step_log_probabilities
from recosim.core.runtime import slice_step
from recosim.core.story import network_from_story


def variable_log_probability(model: Any, trajectory: Mapping[str, Value], name: str, runtime: str) -> Any:
    """Sum over the steps of ``trajectory`` of the log-probability of variable ``name``'s draws.

    Evaluated step by step with the backend of ``runtime``, so it is differentiable
    there (inside a TF gradient tape or ``jax.grad``).
    """
    network = network_from_story(model)
    backend = get_plugins().get_backend(runtime)
    length = int(np.shape(next(iter(Value(trajectory[name]).values())))[0])
    total: Any = 0.0
    previous = None
    with using_backend(backend):
        for t in range(length):
            current = slice_step(trajectory, t)
            total = total + step_log_probabilities(network, current, previous, backend=backend)[name]
            previous = current
    return total


def gradients(runtime: str, loss: Callable[[Any], Any], params: Mapping[str, Any]) -> tuple[float, Any]:
    """``(loss(params), d loss / d params)`` as NumPy values, on the ``tf`` or ``jax`` runtime."""
    if runtime == "jax":
        import jax
        import jax.numpy as jnp

        value, grads = jax.value_and_grad(loss)(jax.tree.map(jnp.asarray, params))
        return float(value), jax.tree.map(np.asarray, grads)
    if runtime == "tf":
        import tensorflow as tf

        variables = tf.nest.map_structure(tf.Variable, params)
        with tf.GradientTape() as tape:
            value = loss(variables)
        grads = tape.gradient(value, variables)
        return float(value), tf.nest.map_structure(
            lambda g: None if g is None else tf.convert_to_tensor(g).numpy(), grads
        )
    raise ValueError(f"no gradients on runtime {runtime!r}")


def leaves(tree: Any) -> list[Any]:
    """The leaves of a nested dict, in key order."""
    if isinstance(tree, Mapping):
        return [leaf for key in sorted(tree) for leaf in leaves(tree[key])]
    return [tree]


def png_size(path: Path) -> tuple[int, int]:
    """``(width, height)`` of the PNG at ``path``; fails the test when it is not a PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])

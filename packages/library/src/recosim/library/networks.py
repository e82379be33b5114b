"""Small neural networks written in backend operations, with parameters as plain dicts of arrays.

A network here is a pair of functions: ``init_*(rng, ...)`` returns NumPy initial
values (a possibly nested ``dict`` of float32 arrays) and an apply function maps
``(params, inputs)`` to outputs using only the active backend's operations
(``B.np``). Parameters are never stored on an object, so the same model code is
differentiable on every runtime: JAX passes a pytree of traced arrays, TensorFlow
passes ``tf.Variable`` s, NumPy passes the arrays themselves.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> layer = init_dense(rng, 3, 2)
>>> sorted(layer), layer["kernel"].shape
(['bias', 'kernel'], (3, 2))
>>> dense(layer, np.ones((5, 3), np.float32)).shape
(5, 2)

`HistoryScorer` is the recommender network of the RecSim NG paper's partially
observable use case (section 4.1): it encodes a user's history of consumed items
and scores every item by an inner product with learned item embeddings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from recosim.core import get_backend
from recosim.library.params import static_shape

__all__ = [
    "glorot_uniform",
    "truncated_normal",
    "init_dense",
    "init_embedding",
    "dense",
    "leaky_relu",
    "embed",
    "HistoryScorer",
]

Params = Mapping[str, Any]


def glorot_uniform(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Uniform on ``±sqrt(6 / (fan_in + fan_out))`` (Glorot and Bengio, 2010), float32."""
    fan_in, fan_out = int(shape[0]), int(shape[1])
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=(fan_in, fan_out)).astype(np.float32)


def init_dense(rng: np.random.Generator, num_inputs: int, num_outputs: int) -> dict[str, np.ndarray]:
    """``{"kernel": [num_inputs, num_outputs] (Glorot uniform), "bias": zeros [num_outputs]}``."""
    _positive(num_inputs, "num_inputs")
    _positive(num_outputs, "num_outputs")
    return {
        "kernel": glorot_uniform(rng, (num_inputs, num_outputs)),
        "bias": np.zeros((num_outputs,), np.float32),
    }


def truncated_normal(rng: np.random.Generator, shape: tuple[int, ...], scale: float = 1.0) -> np.ndarray:
    """``N(0, scale^2)`` draws redrawn until within two standard deviations of 0, float32."""
    out = rng.normal(0.0, 1.0, size=shape)
    outside = np.abs(out) > 2.0
    while outside.any():
        out[outside] = rng.normal(0.0, 1.0, size=int(outside.sum()))
        outside = np.abs(out) > 2.0
    return (scale * out).astype(np.float32)


def init_embedding(rng: np.random.Generator, num_rows: int, dim: int, scale: float = 1.0) -> np.ndarray:
    """An embedding table ``[num_rows, dim]``: `truncated_normal` with standard deviation ``scale``."""
    _positive(num_rows, "num_rows")
    _positive(dim, "dim")
    return truncated_normal(rng, (num_rows, dim), scale)


def dense(params: Params, x: Any) -> Any:
    """``x @ kernel + bias`` over the last axis of ``x``."""
    B = get_backend()
    kernel = B.asarray(params["kernel"])
    bias = B.asarray(params["bias"])
    want = static_shape(kernel)[0]
    got = static_shape(x)[-1] if static_shape(x) else None
    if want is not None and got is not None and want != got:
        raise ValueError(f"dense: the input's last axis has {got} entries but the kernel expects {want}")
    return B.np.matmul(x, kernel) + bias


def leaky_relu(x: Any, negative_slope: float = 0.3) -> Any:
    """``x`` where positive, ``negative_slope * x`` elsewhere."""
    np_ = get_backend().np
    return np_.where(x > 0, x, negative_slope * x)


def embed(table: Any, ids: Any) -> Any:
    """The rows of ``table`` (``[num_rows, dim]``) at integer ``ids`` (any shape): ``[*ids.shape, dim]``."""
    B = get_backend()
    return B.np.take(B.asarray(table), B.cast(ids, "int32"), axis=0)


class HistoryScorer:
    """Scores every item from a user's history of consumed items and a value per item.

    The history is ``item_ids [..., H]`` (int; ``1..num_items``, ``0`` for an empty
    slot) and ``values [..., H]`` (float, e.g. the time spent on each item). The
    network embeds each id (``history_embeddings [num_items + 1, E]``), appends its
    value, flattens the ``H * (E + 1)`` numbers, and encodes them with ``dense
    (hidden_units) -> leaky ReLU -> dense (E)`` into a user embedding; the score of
    item ``i`` (``0..num_items - 1``, i.e. the item with id ``i + 1``) is its inner
    product with ``item_embeddings[i]`` (``[num_items, E]``, separate from the
    history table).

    >>> scorer = HistoryScorer(num_items=5, history_length=3, embedding_dim=4, hidden_units=8)
    >>> params = scorer.init_params(seed=0)
    >>> ids = np.array([[0, 2, 5]], np.int32)
    >>> scorer.scores(params, ids, np.array([[0.0, 1.5, 0.3]], np.float32)).shape
    (1, 5)
    """

    block_name = "history_scorer"
    block_kind = "network"

    def __init__(
        self,
        num_items: int,
        history_length: int,
        *,
        embedding_dim: int = 32,
        hidden_units: int = 32,
        negative_slope: float = 0.3,
    ) -> None:
        self.num_items = _positive(num_items, "num_items")
        self.history_length = _positive(history_length, "history_length")
        self.embedding_dim = _positive(embedding_dim, "embedding_dim")
        self.hidden_units = _positive(hidden_units, "hidden_units")
        self.negative_slope = float(negative_slope)

    def param_shapes(self) -> dict[str, Any]:
        """The shape of every parameter, in the nesting of ``init_params``."""
        n, h, e, u = self.num_items, self.history_length, self.embedding_dim, self.hidden_units
        return {
            "history_embeddings": (n + 1, e),
            "encoder_1": {"kernel": (h * (e + 1), u), "bias": (u,)},
            "encoder_2": {"kernel": (u, e), "bias": (e,)},
            "item_embeddings": (n, e),
        }

    def init_params(self, seed: int) -> dict[str, Any]:
        """NumPy initial values: embeddings `truncated_normal` (standard deviation 1, as in the reference
        implementation), dense kernels Glorot uniform, zero biases."""
        rng = np.random.default_rng(seed)
        n, h, e, u = self.num_items, self.history_length, self.embedding_dim, self.hidden_units
        return {
            "history_embeddings": init_embedding(rng, n + 1, e),
            "encoder_1": init_dense(rng, h * (e + 1), u),
            "encoder_2": init_dense(rng, u, e),
            "item_embeddings": init_embedding(rng, n, e),
        }

    def check_params(self, params: Params) -> None:
        """Raise a ValueError naming the parameter whose shape differs from `param_shapes`."""
        _check_tree(params, self.param_shapes(), "params")

    def user_embeddings(self, params: Params, item_ids: Any, values: Any) -> Any:
        """The encoded histories ``[..., E]``."""
        B = get_backend()
        np_ = B.np
        ids_shape = static_shape(item_ids)
        if not ids_shape or ids_shape[-1] != self.history_length:
            raise ValueError(
                f"HistoryScorer: item_ids must have shape [..., {self.history_length}] (the history length), "
                f"got {ids_shape}"
            )
        if static_shape(values) != ids_shape:
            raise ValueError(
                f"HistoryScorer: values must have the shape of item_ids {ids_shape}, got {static_shape(values)}"
            )
        emb = embed(params["history_embeddings"], item_ids)  # [..., H, E]
        feats = np_.concatenate([emb, np_.expand_dims(B.cast(values, "float32"), -1)], axis=-1)
        flat = np_.reshape(feats, (*ids_shape[:-1], self.history_length * (self.embedding_dim + 1)))
        hidden = leaky_relu(dense(params["encoder_1"], flat), self.negative_slope)
        return dense(params["encoder_2"], hidden)

    def scores(self, params: Params, item_ids: Any, values: Any) -> Any:
        """Scores ``[..., num_items]``: user embeddings times item embeddings."""
        B = get_backend()
        users = self.user_embeddings(params, item_ids, values)
        items = B.asarray(params["item_embeddings"])
        return B.np.matmul(users, B.np.swapaxes(items, 0, 1))


def _positive(x: Any, name: str) -> int:
    if isinstance(x, bool) or int(x) != x or int(x) < 1:
        raise ValueError(f"{name} must be a positive integer, got {x!r}")
    return int(x)


def _check_tree(params: Any, shapes: Any, where: str) -> None:
    if isinstance(shapes, dict):
        if not isinstance(params, Mapping):
            raise ValueError(f"{where} must be a dict with keys {sorted(shapes)}, got {type(params).__name__}")
        missing, extra = sorted(set(shapes) - set(params)), sorted(set(params) - set(shapes))
        if missing or extra:
            raise ValueError(f"{where}: missing keys {missing}, unexpected keys {extra}")
        for key, sub in shapes.items():
            _check_tree(params[key], sub, f"{where}[{key!r}]")
        return
    got = static_shape(params)
    if got != tuple(shapes):
        raise ValueError(f"{where} has shape {got}; expected {tuple(shapes)}")

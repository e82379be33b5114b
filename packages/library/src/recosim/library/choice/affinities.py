"""Affinity models: a score for every item on a slate, from an agent's target point.

An affinity model turns a target point (a user's interest vector, say) and item
feature vectors into one score per item, over any leading batch dimensions. The
scores then parametrise a choice model (`recosim.library.choice.selectors`).

>>> import numpy as np
>>> model = TargetPointSimilarity(similarity_type="negative_euclidean")
>>> out = model.affinities(np.zeros(2, np.float32), np.array([[3.0, 4.0], [0.0, 1.0]], np.float32))
>>> out.get("affinities").tolist()
[-5.0, -1.0]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from recosim.core import Entity, Value, get_backend
from recosim.library.params import as_float_param, ndim, static_shape

__all__ = ["TargetPointSimilarity", "SIMILARITY_TYPES", "similarity"]

SIMILARITY_TYPES = ("negative_euclidean", "inverse_euclidean", "dot", "negative_cosine", "single_peaked")
"""The similarity types `TargetPointSimilarity` understands."""


def similarity(similarity_type: str, target: Any, items: Any, *, epsilon: float = 1e-6) -> Any:
    """Affinity of ``target`` (``[..., d]``) for each of ``items`` (``[..., n, d]``): ``[..., n]``.

    With ``t`` the target, ``x`` an item and ``dist = ||t - x||``:

    * ``negative_euclidean``: ``-dist``;
    * ``inverse_euclidean``: ``1 / (dist + epsilon)``;
    * ``dot``: ``t . x``;
    * ``negative_cosine``: minus the cosine distance, ``cos(t, x) - 1`` (in ``[-2, 0]``;
      ``epsilon`` guards zero vectors);
    * ``single_peaked``: ``sum_j (t_j - |t_j - x_j|)``: along every axis the affinity
      peaks (at height ``t_j``) where the item meets the target and falls linearly
      on both sides.
    """
    B = get_backend()
    np_ = B.np
    if similarity_type not in SIMILARITY_TYPES:
        raise ValueError(f"similarity_type must be one of {SIMILARITY_TYPES}, got {similarity_type!r}")
    if ndim(target) < 1:
        raise ValueError("target must have a feature axis (shape [..., d]), got a scalar")
    if ndim(items) < 2:
        raise ValueError(f"items must have shape [..., n_items, d], got rank {ndim(items)}")
    t = np_.expand_dims(target, -2)  # [..., 1, d]
    if similarity_type == "dot":
        return _feature_sum(np_, t, items, lambda a, b: a * b)
    if similarity_type == "single_peaked":
        return _feature_sum(np_, t, items, lambda a, b: a - np_.abs(a - b))
    if similarity_type == "negative_cosine":
        num = _feature_sum(np_, t, items, lambda a, b: a * b)
        t_norm = np_.sqrt(_feature_sum(np_, t, t, lambda a, _: a * a))
        x_norm = np_.sqrt(_feature_sum(np_, items, items, lambda a, _: a * a))
        return num / np_.maximum(t_norm * x_norm, epsilon) - 1.0
    dist = np_.sqrt(_feature_sum(np_, t, items, lambda a, b: (a - b) * (a - b)))
    if similarity_type == "negative_euclidean":
        return -dist
    return 1.0 / (dist + epsilon)


UNROLLED_FEATURES = 16
"""Feature axes up to this (static) length are summed coordinate by coordinate.

XLA on CPU reduces a short trailing axis slowly: ``sum((t - x) ** 2, axis=-1)``
over 2 topics for 2000 users x 400 documents takes about ten times as long as
``(t0 - x0) ** 2 + (t1 - x1) ** 2``, which also never builds the ``[..., n, d]``
difference array.
"""


def _feature_sum(np_: Any, a: Any, b: Any, term: Callable[[Any, Any], Any]) -> Any:
    """``sum_j term(a[..., j], b[..., j])`` over the feature axis (``term`` is elementwise).

    Unrolled over the coordinates when the feature axis is static and at most
    `UNROLLED_FEATURES` long (the same sum, in the same order, without a reduction).
    """
    d = static_shape(b)[-1]
    if d is None or d != static_shape(a)[-1] or d > UNROLLED_FEATURES:
        return np_.sum(term(a, b), axis=-1)
    total = term(a[..., 0], b[..., 0])
    for j in range(1, d):
        total = total + term(a[..., j], b[..., j])
    return total


class TargetPointSimilarity(Entity):
    """Affinities of an agent's target point for slate items.

    Args:
      similarity_type: one of `SIMILARITY_TYPES` (see `similarity` for the formulas).
      no_choice_affinity: optional score of abstaining; when given (a scalar, or one
        value per batch element) it is appended as a last column, so the output has
        ``n_items + 1`` columns and index ``n_items`` means "no choice".
      epsilon: guard against division by zero for ``inverse_euclidean`` and ``negative_cosine``.

    >>> import numpy as np
    >>> m = TargetPointSimilarity("dot", no_choice_affinity=0.5)
    >>> m.affinities(np.ones((1, 2), np.float32), np.eye(2, dtype=np.float32)).get("affinities").tolist()
    [[1.0, 1.0, 0.5]]
    """

    block_name = "target_point_similarity"
    block_kind = "choice"

    def __init__(
        self,
        similarity_type: str = "negative_euclidean",
        *,
        no_choice_affinity: Any = None,
        epsilon: float = 1e-6,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        if similarity_type not in SIMILARITY_TYPES:
            raise ValueError(f"similarity_type must be one of {SIMILARITY_TYPES}, got {similarity_type!r}")
        if not epsilon > 0:
            raise ValueError(f"epsilon must be positive, got {epsilon!r}")
        self.similarity_type = similarity_type
        self.no_choice_affinity = (
            None if no_choice_affinity is None else as_float_param(no_choice_affinity, "no_choice_affinity")
        )
        self.epsilon = float(epsilon)

    def affinities(self, target: Any, items: Any, *, no_choice_affinity: Any = None) -> Value:
        """``Value(affinities=[..., n_items (+1)])`` for ``target [..., d]`` and ``items [..., n_items, d]``.

        ``items`` may omit batch dimensions that ``target`` has (a slate shared by
        everyone). ``no_choice_affinity`` here overrides the constructor's.
        """
        B = get_backend()
        target = B.asarray(target)
        items = B.asarray(items)
        aff = similarity(self.similarity_type, target, items, epsilon=self.epsilon)
        aff = B.cast(aff, "float32")
        extra = no_choice_affinity if no_choice_affinity is not None else self.no_choice_affinity
        if extra is not None:
            aff = append_no_choice(aff, extra)
        return Value(affinities=aff)


def append_no_choice(scores: Any, no_choice: Any) -> Any:
    """Append ``no_choice`` (a scalar or one value per batch element) as a last column of ``scores``."""
    B = get_backend()
    np_ = B.np
    column = np_.zeros_like(scores[..., :1]) + np_.expand_dims(B.cast(no_choice, "float32"), -1)
    return np_.concatenate([scores, column], axis=-1)

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

from typing import Any

from recosim.core import Entity, Value, get_backend
from recosim.library.params import as_float_param, ndim

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
        return np_.sum(t * items, axis=-1)
    if similarity_type == "single_peaked":
        return np_.sum(t - np_.abs(t - items), axis=-1)
    if similarity_type == "negative_cosine":
        num = np_.sum(t * items, axis=-1)
        den = B.norm(t, axis=-1) * B.norm(items, axis=-1)
        return num / np_.maximum(den, epsilon) - 1.0
    dist = B.norm(t - items, axis=-1)
    if similarity_type == "negative_euclidean":
        return -dist
    return 1.0 / (dist + epsilon)


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

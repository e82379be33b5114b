"""A rate limiter: at most ``limit`` actions per account per step, the rest blocked.

Attempts are given either as a mask over an account's candidate actions in the
order it would make them (``[..., M]``, :meth:`RateLimiter.allow`) or as counts
(:meth:`RateLimiter.allow_count`). ``used`` counts actions already spent this step
from the same budget (camouflage, say), so several kinds of action can share one
limit. Deterministic: it adds nothing to a trajectory's log-probability.

>>> import numpy as np
>>> limiter = RateLimiter(limit=2)
>>> out = limiter.allow(np.array([[1, 1, 0, 1], [0, 1, 0, 0]]), used=np.array([0, 2]))
>>> out.get("allowed").astype(int).tolist(), out.get("blocked").tolist()
([[1, 1, 0, 0], [0, 0, 0, 0]], [1, 1])
>>> limiter.allow_count(np.array([5, 1])).get("sent").tolist()
[2, 1]
"""

from __future__ import annotations

from typing import Any

from recosim.core import Entity, Value, get_backend
from recosim.library.params import as_float_param
from recosim.library.social._ops import int32

__all__ = ["RateLimiter"]


class RateLimiter(Entity):
    """A per-account, per-step cap on actions.

    Args:
      limit: actions allowed per account per step: a scalar or one per account
        (broadcast against the batch shape); a parameter array may be given (it
        is compared, never branched on), so a sweep can vary it without rebuilding.
    """

    block_name = "rate_limiter"
    block_kind = "mechanism"

    def __init__(self, limit: Any, name: str | None = None) -> None:
        super().__init__(name=name)
        self.limit = as_float_param(limit, "limit")
        if hasattr(self.limit, "shape") and not hasattr(self.limit, "dtype"):
            raise TypeError("limit must be a number or an array")

    def budget(self, used: Any = 0) -> Any:
        """Actions still allowed after ``used`` (never negative), as float32."""
        B = get_backend()
        used = B.cast(B.asarray(used), "float32")
        return B.np.maximum(B.asarray(self.limit) - used, 0.0)

    def allow(self, attempts: Any, used: Any = 0) -> Value:
        """The first attempts of each row that fit the budget.

        Returns ``Value(allowed=bool[..., M], sent=int32[...], blocked=int32[...])``.
        """
        B = get_backend()
        np_ = B.np
        attempts = B.asarray(attempts) != 0
        rank = int32(np_.cumsum(int32(attempts), axis=-1))  # 1 for the first attempt, 2 for the second ...
        budget = np_.expand_dims(self.budget(used), -1)
        allowed = attempts & (B.cast(rank, "float32") <= budget)
        sent = int32(np_.sum(int32(allowed), axis=-1))
        return Value(allowed=allowed, sent=sent, blocked=int32(np_.sum(int32(attempts), axis=-1)) - sent)

    def allow_count(self, wanted: Any, used: Any = 0) -> Value:
        """``Value(sent=min(wanted, budget), blocked=wanted - sent)`` for counts of wanted actions (int32)."""
        B = get_backend()
        np_ = B.np
        wanted = int32(wanted)
        sent = np_.minimum(wanted, int32(np_.floor(self.budget(used))))
        return Value(sent=sent, blocked=wanted - sent)

"""What a bot detector sees of an account's activity, and a detector that decides every few actions.

`activity_counts` turns one step of actions (an activity per account, follow
requests sent and rejected) into the per-step counts `ThresholdDetector`
discounts and scores: ``post``, ``repost``, ``reply``, ``mention``, ``actions``,
``requests`` and ``rejected``. `DETECTOR_TERMS` and `DETECTOR_WEIGHTS` are the
default score: the share of posts and of mentions among the recent actions
(both shrunk towards 0 with a prior of 2 actions), the discounted number of follow
requests and the share of them rejected.

`PeriodicDetector` wraps a `ThresholdDetector` (its counts, discounting and
score unchanged) and lets it suspend only every ``every`` steps (each account
acts once a step, so every ``every`` actions): between decisions the counts
accumulate and the score is kept up to date, but nobody is suspended.

>>> import numpy as np
>>> from recosim.core import Value
>>> from recosim.library.social import ThresholdDetector
>>> inner = ThresholdDetector(2, counts=("x",), weights={"x": 1.0}, threshold=1.5, decay=1.0)
>>> d = PeriodicDetector(inner, every=2)
>>> s = d.next_state(d.initial_state(), Value(x=np.array([2.0, 0.0])))   # step 1: no decision
>>> s.get("suspended").tolist()
[False, False]
>>> s = d.next_state(s, Value(x=np.array([0.0, 1.0])))                    # step 2: decide
>>> s.get("suspended").tolist(), s.get("suspended_at").tolist()
([True, False], [2, -1])
"""

from __future__ import annotations

from typing import Any

from recosim.core import Entity, Value, ValueSpec, get_backend
from recosim.library.social import ThresholdDetector

__all__ = [
    "ACTIVITIES",
    "DETECTOR_COUNTS",
    "DETECTOR_TERMS",
    "DETECTOR_WEIGHTS",
    "PeriodicDetector",
    "activity_counts",
    "bot_detector",
]

ACTIVITIES = ("post", "repost", "reply", "mention")
"""What an account does in a step: one of these (index into the tuple)."""
DETECTOR_COUNTS = (*ACTIVITIES, "actions", "requests", "rejected")
"""The per-step counts the detector observes."""
DETECTOR_TERMS: dict[str, tuple[str, str, float]] = {
    "post_share": ("post", "actions", 2.0),
    "mention_share": ("mention", "actions", 2.0),
    "reject_rate": ("rejected", "requests", 1.0),
}
"""Ratio terms: name -> (numerator count, denominator count, prior)."""
DETECTOR_WEIGHTS: dict[str, float] = {"post_share": 3.0, "mention_share": 3.0, "requests": 0.4, "reject_rate": 1.0}
"""The default score's weights."""


def bot_detector(
    num_accounts: int,
    threshold: Any,
    *,
    decay: float = 0.8,
    weights: dict[str, Any] | None = None,
    name: str | None = None,
) -> ThresholdDetector:
    """A `ThresholdDetector` over `DETECTOR_COUNTS` with the ratio terms `DETECTOR_TERMS` (default weights)."""
    return ThresholdDetector(
        num_accounts,
        counts=DETECTOR_COUNTS,
        ratios=DETECTOR_TERMS,
        weights=dict(DETECTOR_WEIGHTS if weights is None else weights),
        threshold=threshold,
        decay=decay,
        name=name,
    )


def activity_counts(activity: Any, acted: Any, requests: Any, accepted: Any) -> Value:
    """The detector's counts of one step (float32, one per account).

    ``activity`` (int32, an index into `ACTIVITIES`), ``acted`` (bool: the account
    acted at all), ``requests`` (bool: it sent a follow request) and ``accepted``
    (bool: the request was accepted). Accounts that did not act count nothing.
    """
    B = get_backend()
    np_ = B.np
    acted = B.asarray(acted) != 0
    onehot = B.one_hot(B.cast(B.asarray(activity), "int32"), len(ACTIVITIES), dtype="float32")
    onehot = onehot * B.cast(acted, "float32")[..., None]
    sent = (B.asarray(requests) != 0) & acted
    rejected = sent & ~(B.asarray(accepted) != 0)
    counts = {name: onehot[..., i] for i, name in enumerate(ACTIVITIES)}
    return Value(
        counts,
        actions=B.cast(acted, "float32"),
        requests=B.cast(sent, "float32"),
        rejected=B.cast(rejected, "float32") + np_.zeros_like(onehot[..., 0]),
    )


class PeriodicDetector(Entity):
    """A `ThresholdDetector` that suspends only at steps that are multiples of ``every``.

    Args:
      detector: the detector whose counts, discount, score and threshold are used.
      every: steps between decisions (an int or an int32 setting; 1 decides every step).
    """

    block_name = "periodic_detector"
    block_kind = "mechanism"

    def __init__(self, detector: ThresholdDetector, every: Any = 1, name: str | None = None) -> None:
        super().__init__(name=name)
        if isinstance(every, (int, float)) and (isinstance(every, bool) or int(every) != every or int(every) < 1):
            raise ValueError(f"every must be a whole number >= 1, got {every!r}")
        self.detector = detector
        self.every = every

    @property
    def num_accounts(self) -> int:
        return self.detector.num_accounts

    def specs(self) -> ValueSpec:
        """The wrapped detector's state (`ThresholdDetector.specs`)."""
        return self.detector.specs()

    def initial_state(self) -> Value:
        return self.detector.initial_state()

    def next_state(self, previous_state: Value, observations: Value) -> Value:
        """The wrapped detector's update, with suspensions kept only at decision steps."""
        B = get_backend()
        np_ = B.np
        state = self.detector.next_state(previous_state, observations)
        step = B.cast(state.get("step"), "int32")
        every = B.cast(B.asarray(self.every), "int32")
        decide = (step % np_.maximum(every, 1)) == 0
        was = previous_state.get("suspended")
        now = was | (state.get("suspended") & decide)
        before = B.cast(B.asarray(previous_state.get("suspended_at")), "int32")
        at = np_.where(now & ~was, np_.zeros_like(before) + step, before)
        return Value({**{k: state[k] for k in state}, "suspended": now, "suspended_at": at})

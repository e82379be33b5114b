"""A threshold detector: scores accounts from their recent behaviour and suspends those above a threshold.

Each step the detector receives per-account counts (requests sent, requests
rejected, reports received, ...). It keeps a discounted sum of each,
``s <- decay * s + count`` (a memory of about ``1 / (1 - decay)`` steps), forms
*terms* from them, either a discounted count itself or a ratio
``s_num / (s_den + prior)`` (an acceptance or report rate shrunk towards 0 for
accounts with little activity), and scores each account by a weighted sum of
its terms. An account whose score exceeds ``threshold`` is suspended from the
next step on, for good. Everything is deterministic given the counts, so the
detector adds nothing to a trajectory's log-probability.

>>> import numpy as np
>>> d = ThresholdDetector(2, counts=("rejected", "reports", "messages"),
...                       ratios={"report_rate": ("reports", "messages", 1.0)},
...                       weights={"rejected": 1.0, "report_rate": 4.0}, threshold=2.5, decay=0.5)
>>> obs = Value(rejected=np.array([3.0, 0.0]), reports=np.array([0.0, 2.0]), messages=np.array([0.0, 1.0]))
>>> s = d.next_state(d.initial_state(), obs)
>>> s.get("score").tolist(), s.get("suspended").tolist()
([3.0, 4.0], [True, True])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from recosim.core import Entity, FieldSpec, Value, ValueSpec, get_backend
from recosim.library.params import as_float_param, positive_int
from recosim.library.social._ops import int32

__all__ = ["ThresholdDetector"]


class ThresholdDetector(Entity):
    """Suspends accounts whose weighted behaviour score exceeds a threshold.

    Args:
      num_accounts: accounts scored.
      counts: names of the per-step counts the detector observes (``next_state``'s fields).
      weights: term name -> weight; a term is one of ``counts`` or one of ``ratios``.
      ratios: term name -> ``(numerator count, denominator count, prior)``.
      threshold: the score above which an account is suspended (a scalar or one
        per account; may be a parameter array of a differentiable model).
      decay: discount of the counts per step, in ``[0, 1]``.
    """

    block_name = "threshold_detector"
    block_kind = "mechanism"

    def __init__(
        self,
        num_accounts: int,
        *,
        counts: Sequence[str],
        weights: Mapping[str, Any],
        ratios: Mapping[str, tuple[str, str, float]] | None = None,
        threshold: Any = 1.0,
        decay: float = 0.8,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.num_accounts = positive_int(num_accounts, "num_accounts")
        self.counts = tuple(counts)
        if not self.counts or len(set(self.counts)) != len(self.counts):
            raise ValueError(f"counts must name distinct observed counts, got {list(counts)}")
        for c in self.counts:
            if not isinstance(c, str) or not c.isidentifier():
                raise ValueError(f"count names must be identifiers (they become fields), got {c!r}")
        self.ratios = {k: (str(v[0]), str(v[1]), float(v[2])) for k, v in (ratios or {}).items()}
        for term, (num, den, prior) in self.ratios.items():
            missing = [c for c in (num, den) if c not in self.counts]
            if missing:
                raise ValueError(f"ratio {term!r} uses {missing}, which are not among the counts {list(self.counts)}")
            if prior < 0:
                raise ValueError(f"ratio {term!r}: the prior must be >= 0, got {prior}")
        unknown = sorted(set(weights) - set(self.counts) - set(self.ratios))
        if unknown:
            raise ValueError(
                f"weights name unknown term(s) {unknown}; terms are the counts {list(self.counts)} "
                f"and the ratios {sorted(self.ratios)}"
            )
        if not weights:
            raise ValueError("weights must give at least one term a weight")
        self.weights = {k: as_float_param(w, f"weights[{k!r}]") for k, w in weights.items()}
        self.threshold = as_float_param(threshold, "threshold")
        if not 0.0 <= float(decay) <= 1.0:
            raise ValueError(f"decay must be in [0, 1], got {decay!r}")
        self.decay = float(decay)

    def specs(self) -> ValueSpec:
        """``totals.<count>`` (discounted counts), ``score``, ``suspended``, ``suspended_at`` and ``step``."""
        n = self.num_accounts
        fields = {f"totals.{c}": FieldSpec((n,), "float32") for c in self.counts}
        fields.update(
            score=FieldSpec((n,), "float32"),
            suspended=FieldSpec((n,), "bool"),
            suspended_at=FieldSpec((n,), "int32"),
            step=FieldSpec((), "int32"),
        )
        return ValueSpec(fields)

    def initial_state(self) -> Value:
        """Nothing observed, nobody suspended (``suspended_at`` is -1 for accounts never suspended)."""
        np_ = get_backend().np
        n = self.num_accounts
        zeros = np_.zeros((n,), dtype="float32")
        return Value(
            {f"totals.{c}": zeros for c in self.counts},
            score=zeros,
            suspended=np_.zeros((n,), dtype="bool"),
            suspended_at=-np_.ones((n,), dtype="int32"),
            step=np_.zeros((), dtype="int32"),
        )

    def terms(self, totals: Value) -> dict[str, Any]:
        """The value of every weighted term for the discounted ``totals``."""
        B = get_backend()
        out = {}
        for term in self.weights:
            if term in self.ratios:
                num, den, prior = self.ratios[term]
                out[term] = totals.get(num) / (totals.get(den) + prior)
            else:
                out[term] = totals.get(term)
        return {k: B.cast(v, "float32") for k, v in out.items()}

    def score(self, totals: Value) -> Any:
        """``sum_term weight * term`` per account."""
        B = get_backend()
        total: Any = B.np.zeros((self.num_accounts,), dtype="float32")
        for term, value in self.terms(totals).items():
            total = total + B.asarray(self.weights[term]) * value
        return total

    def next_state(self, previous_state: Value, observations: Value) -> Value:
        """Add this step's ``observations`` (one field per count, one entry per account) and re-score."""
        missing = [c for c in self.counts if c not in observations]
        if missing:
            raise KeyError(
                f"{self.name}: the observations lack the count(s) {missing}; they have {sorted(observations.keys())}"
            )
        B = get_backend()
        np_ = B.np
        totals = Value(
            {
                c: self.decay * previous_state.get(f"totals.{c}") + B.cast(B.asarray(observations.get(c)), "float32")
                for c in self.counts
            }
        )
        score = self.score(totals)
        was = previous_state.get("suspended")
        step = int32(previous_state.get("step")) + 1
        now = was | (score > B.asarray(self.threshold))
        before = int32(previous_state.get("suspended_at"))
        at = np_.where(now & ~was, np_.zeros_like(before) + step, before)
        return Value(totals.prefixed_with("totals"), score=score, suspended=now, suspended_at=int32(at), step=step)

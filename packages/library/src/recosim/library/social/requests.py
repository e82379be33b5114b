"""Contact requests and their acceptance on a `SparseSocialGraph`.

A request from ``sender`` to ``target`` is accepted with probability
``sigmoid(base_logit + mutual_weight * log(1 + mutual) + extra_logit)``, where
``mutual`` is the number of contacts the two share and ``extra_logit`` carries
whatever else the model lets matter (the target's credulity, the sender's
profile). Requests not sent are declined with probability one, so their log-probability
is 0. Accepted requests become edges with `SparseSocialGraph.add_edges`.

>>> import numpy as np
>>> from recosim.core.random import seed
>>> from recosim.library.social.graph import SparseSocialGraph
>>> g = SparseSocialGraph(4, 3)
>>> state = g.initial_state(np.array([0, 1]), np.array([2, 2]))
>>> cr = ContactRequests(g, base_logit=0.0, mutual_weight=1.0)
>>> d = cr.acceptance(state, np.array([0, 0]), np.array([1, 3]), sent=np.array([True, False]))
>>> [round(float(p), 4) for p in d.probs_parameter()]  # one mutual contact: sigmoid(log 2)
[0.6667, 0.0]
"""

from __future__ import annotations

from typing import Any

from recosim.core import Entity, Value, get_backend, rv
from recosim.library.params import as_float_param
from recosim.library.social._ops import int32
from recosim.library.social.graph import SparseSocialGraph

__all__ = ["ContactRequests"]

_NEVER = -1.0e4  # a logit whose probability is exactly 0 in float32 (and whose log-probability of 0 is exactly 0)


class ContactRequests(Entity):
    """Requests answered with a probability rising with mutual contacts; accepted ones become edges.

    Args:
      graph: the `SparseSocialGraph` the requests are made on.
      base_logit: the acceptance logit of a request between accounts without mutual contacts.
      mutual_weight: how much each doubling-ish of shared contacts adds (the logit
        rises by ``mutual_weight * log(1 + mutual)``); positive means more mutual
        contacts, more acceptance.
      field: the output field the acceptance draw is filed under (its random-variable name).
    """

    block_name = "contact_requests"
    block_kind = "social"

    def __init__(
        self,
        graph: SparseSocialGraph,
        *,
        base_logit: Any = -1.0,
        mutual_weight: Any = 1.0,
        field: str = "accepted",
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        if not isinstance(graph, SparseSocialGraph):
            raise TypeError(f"ContactRequests needs a SparseSocialGraph, got {type(graph).__name__}")
        self.graph = graph
        self.base_logit = as_float_param(base_logit, "base_logit")
        self.mutual_weight = as_float_param(mutual_weight, "mutual_weight")
        if not isinstance(field, str) or not field or "/" in field:
            raise ValueError(f"field must be a field name without '/', got {field!r}")
        self.field = field

    def acceptance_logits(self, state: Value, sender: Any, target: Any, extra_logit: Any = 0.0) -> tuple[Any, Any]:
        """``(logits, mutual)`` of the requests ``sender -> target`` on the graph ``state``."""
        B = get_backend()
        np_ = B.np
        mutual = self.graph.mutual_contacts(state, sender, target)
        logits = (
            B.asarray(self.base_logit)
            + B.asarray(self.mutual_weight) * np_.log1p(B.cast(mutual, "float32"))
            + B.cast(B.asarray(extra_logit), "float32")
        )
        return logits, mutual

    def acceptance(self, state: Value, sender: Any, target: Any, sent: Any, extra_logit: Any = 0.0) -> Any:
        """The Bernoulli (int32) acceptance of each request; requests not ``sent`` are declined surely."""
        B = get_backend()
        np_ = B.np
        logits, _ = self.acceptance_logits(state, sender, target, extra_logit)
        return B.tfd.Bernoulli(logits=np_.where(B.asarray(sent) != 0, logits, _NEVER), dtype="int32")

    def respond(self, state: Value, sender: Any, target: Any, sent: Any, extra_logit: Any = 0.0) -> Value:
        """Draw the answers (named ``field``) and return ``Value(<field>=int32 answers, mutual=...)``.

        File the result under the variable's fields as returned, so that a logged
        trajectory holds the answers under the draw's name.
        """
        B = get_backend()
        np_ = B.np
        logits, mutual = self.acceptance_logits(state, sender, target, extra_logit)
        answers = rv(self.field, B.tfd.Bernoulli(logits=np_.where(B.asarray(sent) != 0, logits, _NEVER), dtype="int32"))
        return Value({self.field: int32(answers), "mutual": mutual})

    def apply(self, state: Value, sender: Any, target: Any, accepted: Any) -> tuple[Value, Any, Any]:
        """Add the accepted requests as edges: ``(new_state, added, overflow)`` as in `SparseSocialGraph.add_edges`."""
        return self.graph.add_edges(state, sender, target, accepted)

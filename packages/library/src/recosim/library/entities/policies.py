"""Recommenders whose slates are draws from a parameterised policy.

`HistoryPolicyRecommender` remembers, per user, the last ``history_length``
documents the user consumed and a value of each consumption (e.g. the time spent);
a scoring function (any callable, typically a network whose parameters the caller
owns, see `recosim.library.networks`) turns that history into a score for every
available document, and the slate is an iterated multinomial-logit draw from those
scores. The slate's ``doc_index`` field is that draw, so the log-probability of a
logged slate is defined and differentiable with respect to the scorer's parameters:
the policy of a policy-gradient trainer is the ``"slate"`` variable.

>>> import numpy as np
>>> from recosim.core import Value
>>> from recosim.core.testing import run_block
>>> from recosim.library.entities._util import spec_like
>>> docs = Value(doc_id=np.arange(1, 5, dtype=np.int32), quality=np.zeros(4, np.float32))
>>> rec = HistoryPolicyRecommender(
...     num_users=2, slate_size=2, document_spec=spec_like(docs), history_length=3,
...     scorer=lambda state, observation, documents: np.zeros((2, 4), np.float32))
>>> slate = run_block("numpy", lambda: rec.slate(rec.initial_state(), Value(), docs))
>>> slate["doc_index"].shape, slate["doc_id"].shape
((1, 2, 2), (1, 2, 2))
>>> state = rec.next_state(
...     rec.initial_state(),
...     Value(choice=np.array([1, 2], np.int32), consumed_time=np.array([0.7, 0.0], np.float32)),
...     Value(doc_id=np.array([[3, 1], [2, 4]], np.int32)))
>>> state.get("doc_id").tolist(), state.get("consumed_time").tolist()     # user 1 did not click
([[0, 0, 1], [0, 0, 0]], [[0.0, 0.0, 0.699999988079071], [0.0, 0.0, 0.0]])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from recosim.core import FieldSpec, Value, ValueSpec, get_backend, rv
from recosim.library.choice import IteratedMultinomialLogit, get_chosen
from recosim.library.entities._util import positive_int
from recosim.library.entities.recommenders import SlateRecommender
from recosim.library.params import static_shape
from recosim.library.state.dynamic import NoOpOrContinue
from recosim.library.state.estimation import FiniteHistory

__all__ = ["HistoryPolicyRecommender", "Scorer"]

Scorer = Callable[[Value, Value, Value], Any]
"""``scorer(recommender_state, user_observation, available_documents) -> scores [num_users, num_docs]``."""


class HistoryPolicyRecommender(SlateRecommender):
    """Slates sampled by iterated multinomial logit from scores of the recommender's own history.

    State (per user, oldest entry first, all zeros at the start): ``<id_field>``
    ``[num_users, history_length]`` int32, the ids of the last consumed documents
    (``0`` marks an empty slot, so document ids should start at 1);
    ``<value_field>`` ``[num_users, history_length]`` float32, the response's
    ``value_field`` for each of them; and ``count`` ``[num_users]`` int32, how
    many entries are real. The history moves only when the user chose a slate
    item (``choice < slate_size``; the library's no-choice index is ``slate_size``).

    Slate: ``doc_index ~ IteratedMultinomialLogit(scorer(state, user_observation,
    available_documents), slate_size)``, then every document field gathered
    (`SlateRecommender.serve`). The documents must have the int field ``id_field``.

    Args:
      scorer: a callable returning float scores ``[num_users, num_docs]``; it may
        close over parameters (``make_model(params)``) in backend arrays.
    """

    block_name = "history_policy_recommender"
    block_kind = "prototype"

    def __init__(
        self,
        num_users: int,
        slate_size: int,
        document_spec: ValueSpec,
        history_length: int,
        scorer: Scorer,
        *,
        id_field: str = "doc_id",
        value_field: str = "consumed_time",
        name: str | None = None,
    ) -> None:
        super().__init__(num_users, slate_size, document_spec, name)
        if not callable(scorer):
            raise TypeError(
                f"scorer must be callable as (state, user_observation, documents) -> scores, got {scorer!r}"
            )
        if id_field not in document_spec:
            raise ValueError(
                f"id_field {id_field!r} is not a document field; the documents have {sorted(document_spec)}"
            )
        if value_field in (id_field, "count"):
            raise ValueError(f"value_field must differ from id_field and 'count', got {value_field!r}")
        self.history_length = positive_int(history_length, "history_length")
        self.scorer = scorer
        self.id_field = id_field
        self.value_field = value_field
        self._ids = NoOpOrContinue(FiniteHistory(self.history_length, (), self.num_users, dtype="int32"))
        self._values = NoOpOrContinue(FiniteHistory(self.history_length, (), self.num_users, dtype="float32"))

    def specs(self) -> ValueSpec:
        history = (self.num_users, self.history_length)
        state = ValueSpec(
            {
                self.id_field: FieldSpec(history, "int32"),
                self.value_field: FieldSpec(history, "float32"),
                "count": FieldSpec((self.num_users,), "int32"),
            }
        )
        return ValueSpec(state=state, slate=super().specs().get("slate"))

    def initial_state(self) -> Value:
        ids = self._ids.initial_state()
        values = self._values.initial_state()
        return self._state(ids, values)

    def _state(self, ids: Value, values: Value) -> Value:
        fields = {self.id_field: ids.get("state"), self.value_field: values.get("state"), "count": ids.get("count")}
        return Value(fields)

    def scores(self, state: Value, user_observation: Value, available_documents: Value) -> Any:
        """The scorer's output, checked to be ``[num_users, num_docs]``."""
        B = get_backend()
        scores = B.cast(self.scorer(state, user_observation, available_documents), "float32")
        want = (self.num_users, self.num_docs)
        if static_shape(scores) != want:
            raise ValueError(
                f"{type(self).__name__}: the scorer returned shape {static_shape(scores)}; expected {want}"
            )
        return scores

    def slate(self, state: Value, user_observation: Value, available_documents: Value) -> Value:
        scores = self.scores(state, user_observation, available_documents)
        doc_index = rv("doc_index", IteratedMultinomialLogit(scores, self.slate_size))
        return self.serve(doc_index, available_documents)

    def next_state(self, previous_state: Value, response: Value, slate: Value) -> Value:
        B = get_backend()
        for field, where in (("choice", response), (self.value_field, response), (self.id_field, slate)):
            if field not in where:
                what = "slate" if where is slate else "response"
                raise KeyError(
                    f"{type(self).__name__} reads the {what} field {field!r}; the {what} has {sorted(where.keys())}"
                )
        choice = B.cast(response.get("choice"), "int32")
        skipped = B.cast(choice >= self.slate_size, "int32")
        chosen_id = get_chosen(Value(id=slate.get(self.id_field)), choice).get("id")
        count = previous_state.get("count")
        ids = self._ids.next_state(
            Value(state=previous_state.get(self.id_field), count=count), Value(input=chosen_id, no_op=skipped)
        )
        values = self._values.next_state(
            Value(state=previous_state.get(self.value_field), count=count),
            Value(input=response.get(self.value_field), no_op=skipped),
        )
        return self._state(ids, values)

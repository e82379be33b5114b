"""Simple recommenders: uniformly random slates, and top-k by affinity to the observed user.

Both are built from the spec of the documents they recommend (a corpus's
``spec("available_documents")``); their slates carry every document field,
gathered to ``[num_users, slate_size, ...]``, plus the int32 ``doc_index``.

>>> import numpy as np
>>> from recosim.core import Value
>>> from recosim.library.entities._util import spec_like
>>> docs = Value(features=np.array([[0.0], [1.0], [5.0]], np.float32))
>>> rec = TopKAffinityRecommender(num_users=1, slate_size=2, document_spec=spec_like(docs))
>>> user = Value(interest=np.array([[4.0]], np.float32))
>>> rec.slate(rec.initial_state(), user, docs).get("doc_index").tolist()
[[2, 1]]
"""

from __future__ import annotations

from typing import Any

from recosim.core import FieldSpec, Value, ValueSpec, get_backend, rv
from recosim.library.choice import IteratedMultinomialLogit, TargetPointSimilarity
from recosim.library.entities._util import gather_documents, num_documents, positive_int, slate_spec
from recosim.library.entities.base import Recommender

__all__ = ["SlateRecommender", "RandomRecommender", "TopKAffinityRecommender"]


class SlateRecommender(Recommender):
    """Shared plumbing: sizes, specs and a step counter as the state."""

    def __init__(self, num_users: int, slate_size: int, document_spec: ValueSpec, name: str | None = None) -> None:
        super().__init__(name=name)
        if not isinstance(document_spec, ValueSpec):
            raise TypeError(f"document_spec must be a ValueSpec, got {type(document_spec).__name__}")
        self.num_users = positive_int(num_users, "num_users")
        self.slate_size = positive_int(slate_size, "slate_size")
        self.document_spec = document_spec
        self.num_docs = num_documents(document_spec)
        if self.slate_size > self.num_docs:
            raise ValueError(f"slate_size={self.slate_size} exceeds the number of documents ({self.num_docs})")
        slate_spec(document_spec, self.num_users, self.slate_size)  # validates the document fields

    def specs(self) -> ValueSpec:
        return ValueSpec(
            state=ValueSpec(step=FieldSpec((), "int32")),
            slate=slate_spec(self.document_spec, self.num_users, self.slate_size).union(self.extra_slate_fields()),
        )

    def extra_slate_fields(self) -> ValueSpec:
        """Fields of the slate besides the documents' and ``doc_index``."""
        return ValueSpec()

    def initial_state(self) -> Value:
        return Value(step=get_backend().asarray(0, "int32"))

    def next_state(self, previous_state: Value, response: Value, slate: Value) -> Value:
        return Value(step=previous_state.get("step") + 1)

    def serve(self, doc_index: Any, available_documents: Value) -> Value:
        """The slate Value for ``doc_index`` ``[num_users, slate_size]``."""
        B = get_backend()
        doc_index = B.cast(doc_index, "int32")
        docs = Value(available_documents)
        return gather_documents(docs, doc_index).union(Value(doc_index=doc_index))


class RandomRecommender(SlateRecommender):
    """Each user gets ``slate_size`` distinct documents drawn uniformly at random.

    The draw is the slate's ``doc_index`` field (a Plackett–Luce draw with equal
    logits), so logged random slates can be scored.
    """

    block_name = "random_recommender"
    block_kind = "prototype"

    def slate(self, state: Value, user_observation: Value, available_documents: Value) -> Value:
        B = get_backend()
        logits = B.np.zeros((self.num_users, self.num_docs), dtype="float32")
        doc_index = rv("doc_index", IteratedMultinomialLogit(logits, self.slate_size))
        return self.serve(doc_index, available_documents)


class TopKAffinityRecommender(SlateRecommender):
    """The ``slate_size`` documents with the highest affinity to the observed user.

    Affinity is `TargetPointSimilarity` (``similarity_type``, default negative
    Euclidean distance) between the observation's ``observation_field`` (default
    ``interest``, ``[num_users, d]``) and the documents' ``feature_field`` (default
    ``features``, ``[num_docs, d]``). Deterministic; ties go to the lower index.
    """

    block_name = "top_k_affinity_recommender"
    block_kind = "prototype"

    def __init__(
        self,
        num_users: int,
        slate_size: int,
        document_spec: ValueSpec,
        similarity_type: str = "negative_euclidean",
        observation_field: str = "interest",
        feature_field: str = "features",
        name: str | None = None,
    ) -> None:
        super().__init__(num_users, slate_size, document_spec, name)
        if feature_field not in document_spec:
            raise ValueError(f"feature_field {feature_field!r} is not a document field ({sorted(document_spec)})")
        self.observation_field = observation_field
        self.feature_field = feature_field
        self._affinity = TargetPointSimilarity(similarity_type)

    def slate(self, state: Value, user_observation: Value, available_documents: Value) -> Value:
        B = get_backend()
        if self.observation_field not in user_observation:
            raise KeyError(
                f"TopKAffinityRecommender reads the user observation field {self.observation_field!r}; "
                f"the observation has {sorted(user_observation.keys())}"
            )
        target = user_observation.get(self.observation_field)
        features = B.asarray(Value(available_documents).get(self.feature_field))
        scores = self._affinity.affinities(target, features).get("affinities")
        _, doc_index = B.top_k(scores, self.slate_size)
        return self.serve(doc_index, available_documents)

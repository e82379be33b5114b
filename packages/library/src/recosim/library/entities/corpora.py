"""A simple corpus: a fixed set of documents with random features and qualities.

>>> from recosim.core.testing import run_block
>>> corpus = StaticCorpus(num_docs=5, num_topics=2)
>>> docs = run_block("numpy", lambda: corpus.available_documents(corpus.initial_state()))
>>> docs["features"].shape, docs["doc_id"].tolist()
((1, 5, 2), [[0, 1, 2, 3, 4]])
"""

from __future__ import annotations

import numpy as np

from recosim.core import FieldSpec, Value, ValueSpec, get_backend
from recosim.library.entities._util import positive_int
from recosim.library.entities.base import Corpus

__all__ = ["StaticCorpus"]


class StaticCorpus(Corpus):
    """``num_docs`` documents drawn once at ``t = 0`` and then fixed.

    ``features ~ N(0, feature_scale^2 I)`` (``[num_docs, num_topics]``) and
    ``quality ~ Uniform(-1, 1)`` (``[num_docs]``). Every document is available at
    every step, with its int32 ``doc_id`` (its index).
    """

    block_name = "static_corpus"
    block_kind = "prototype"

    def __init__(self, num_docs: int, num_topics: int, feature_scale: float = 1.0, name: str | None = None) -> None:
        super().__init__(name=name)
        self.num_docs = positive_int(num_docs, "num_docs")
        self.num_topics = positive_int(num_topics, "num_topics")
        if not float(feature_scale) > 0.0:
            raise ValueError(f"feature_scale must be > 0, got {feature_scale!r}")
        self.feature_scale = np.float32(feature_scale)

    def specs(self) -> ValueSpec:
        n = (self.num_docs,)
        state = ValueSpec(features=FieldSpec((*n, self.num_topics), "float32"), quality=FieldSpec(n, "float32"))
        return ValueSpec(state=state, available_documents=state.union(ValueSpec(doc_id=FieldSpec(n, "int32"))))

    def initial_state(self) -> Value:
        B = get_backend()
        zeros = B.np.zeros((self.num_docs, self.num_topics), dtype="float32")
        ones = B.np.ones((self.num_docs,), dtype="float32")
        return Value(
            features=B.tfd.Normal(zeros, self.feature_scale),
            quality=B.tfd.Uniform(-ones, ones),
        )

    def available_documents(self, state: Value) -> Value:
        B = get_backend()
        return state.union(Value(doc_id=B.np.arange(self.num_docs, dtype="int32")))

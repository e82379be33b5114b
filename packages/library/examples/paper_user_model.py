"""The user model of the RecSim NG paper, section 3.3, built from library blocks.

* State: an interest vector ``S`` per user, ``S_0 ~ N(0, I)``.
* Choice: facing a slate of documents with features ``F_i`` and quality ``q_i``,
  the user picks one with probability proportional to ``exp(-||F_i - S||)``
  (`TargetPointSimilarity` scores, `MultinomialLogitChoiceModel` chooses).
* Dynamics: ``S_t = S_{t-1} + lambda q_i (F_i - S_{t-1}) + noise``, a
  `ControlledLinearGaussian` with identity transition, control matrix ``lambda I`` and
  control input ``q_i (F_i - S_{t-1})`` for the consumed document ``i``.

The response carries the consumed document's features and quality, so
``next_state(previous_state, response)`` needs nothing else: the class is a
`recosim.library.entities.User` and drops into every library story. For example,
with a static corpus and a random recommender (runs on any runtime)::

    from recosim.core import make_runtime
    from recosim.library.entities import RandomRecommender, StaticCorpus
    from recosim.library.stories import static_corpus_story

    corpus = StaticCorpus(num_docs=20, num_topics=2)
    user = PaperUser(num_users=100, num_topics=2, sensitivity=0.1)
    story = static_corpus_story(user, corpus, RandomRecommender(100, 3, corpus.spec("available_documents")))
    interests = make_runtime(story, "numpy", seed=0).trajectory(50)["user state"].get("interest.state")
"""

from __future__ import annotations

import numpy as np

from recosim.core import FieldSpec, Value, ValueSpec, rv
from recosim.library.choice import MultinomialLogitChoiceModel, TargetPointSimilarity, get_chosen
from recosim.library.entities import User
from recosim.library.state.dynamic import ControlledLinearGaussian

__all__ = ["PaperUser"]


class PaperUser(User):
    """Users with evolving interests and multinomial-logit choice (paper section 3.3)."""

    def __init__(self, num_users: int, num_topics: int, sensitivity: float = 0.1, noise_scale: float = 0.01) -> None:
        super().__init__(name="PaperUser")
        self.num_users, self.num_topics = num_users, num_topics
        eye = np.eye(num_topics, dtype=np.float32)
        self._interest_model = ControlledLinearGaussian(num_users, eye, sensitivity * eye, noise_scale=noise_scale)
        self._affinity_model = TargetPointSimilarity("negative_euclidean")
        self._selector = MultinomialLogitChoiceModel()

    def specs(self) -> ValueSpec:
        users, topics = (self.num_users,), (self.num_users, self.num_topics)
        return ValueSpec(
            state=ValueSpec(interest=ValueSpec(state=FieldSpec(topics, "float32"))),
            response=ValueSpec(
                choice=FieldSpec(users, "int32"),
                consumed=ValueSpec(features=FieldSpec(topics, "float32"), quality=FieldSpec(users, "float32")),
            ),
        )

    def initial_state(self) -> Value:
        return self._interest_model.initial_state().prefixed_with("interest")

    def response(self, state: Value, slate: Value) -> Value:
        affinities = self._affinity_model.affinities(state.get("interest.state"), slate.get("features"))
        choice = rv("choice", self._selector.choice(affinities.get("affinities")).get("choice"))
        docs = Value(features=slate.get("features"), quality=slate.get("quality"))
        return Value(choice=choice, consumed=get_chosen(docs, choice))

    def next_state(self, previous_state: Value, response: Value) -> Value:
        interest = previous_state.get("interest")
        consumed = response.get("consumed")
        control = consumed.get("quality")[..., None] * (consumed.get("features") - interest.get("state"))
        return self._interest_model.next_state(interest, Value(input=control)).prefixed_with("interest")

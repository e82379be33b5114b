"""A simple user population: static interests, multinomial-logit choice.

>>> import numpy as np
>>> from recosim.core.testing import run_block
>>> from recosim.core import Value, realize
>>> user = StaticInterestUser(num_users=2, num_topics=3, slate_size=2)
>>> slate = Value(features=np.zeros((2, 2, 3), np.float32), doc_index=np.zeros((2, 2), np.int32))
>>> run_block("numpy", lambda: user.response(realize(user.initial_state()), slate))["choice"].shape
(1, 2)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from recosim.core import FieldSpec, Value, ValueSpec, get_backend, rv
from recosim.library.choice import MultinomialLogitChoiceModel, TargetPointSimilarity, get_chosen
from recosim.library.entities._util import positive_int
from recosim.library.entities.base import User

__all__ = ["StaticInterestUser"]


class StaticInterestUser(User):
    """Users with a fixed interest vector ``interest ~ N(0, interest_scale^2 I)`` (drawn at ``t = 0``).

    Facing a slate with document ``features`` ``[num_users, slate_size, num_topics]``,
    each user picks one document by multinomial logit on ``-||interest - features|| +
    affinity_offset`` (plus an abstain option with logit ``no_choice_logit`` when it is
    given; the choice is then ``slate_size``). The response is ``choice`` (int32) and
    ``reward``: the chosen document's ``quality`` when the slate has that field, else 1
    for a pick; 0 when abstaining. The recommender observes the interest (``observation``
    is the state).
    """

    block_name = "static_interest_user"
    block_kind = "prototype"

    def __init__(
        self,
        num_users: int,
        num_topics: int,
        slate_size: int,
        interest_scale: float = 1.0,
        affinity_offset: float = 0.0,
        no_choice_logit: float | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.num_users = positive_int(num_users, "num_users")
        self.num_topics = positive_int(num_topics, "num_topics")
        self.slate_size = positive_int(slate_size, "slate_size")
        if not float(interest_scale) > 0.0:
            raise ValueError(f"interest_scale must be > 0, got {interest_scale!r}")
        self.interest_scale = np.float32(interest_scale)
        self.affinity_offset = np.float32(affinity_offset)
        self._affinity = TargetPointSimilarity("negative_euclidean")
        self._choice = MultinomialLogitChoiceModel(no_choice_logit=no_choice_logit)

    def specs(self) -> ValueSpec:
        users = (self.num_users,)
        return ValueSpec(
            state=ValueSpec(interest=FieldSpec((*users, self.num_topics), "float32")),
            response=ValueSpec(choice=FieldSpec(users, "int32"), reward=FieldSpec(users, "float32")),
        )

    def initial_state(self) -> Value:
        B = get_backend()
        loc = B.np.zeros((self.num_users, self.num_topics), dtype="float32")
        return Value(interest=B.tfd.Normal(loc, self.interest_scale))

    def next_state(self, previous_state: Value, response: Value, slate: Value) -> Value:
        return previous_state

    def logits(self, state: Value, slate: Value) -> Any:
        """The choice logits ``[num_users, slate_size (+1)]``."""
        features = slate.get("features")
        affinity = self._affinity.affinities(state.get("interest"), features).get("affinities")
        return self._choice.logits(affinity + self.affinity_offset)

    def response(self, state: Value, slate: Value) -> Value:
        B = get_backend()
        choice = rv("choice", B.tfd.Categorical(logits=self.logits(state, slate), dtype="int32"))
        if "quality" in slate:
            reward = get_chosen(Value(quality=slate.get("quality")), choice).get("quality")
        else:
            reward = B.np.sum(B.one_hot(choice, self.slate_size, dtype="float32"), axis=-1)
        return Value(choice=choice, reward=B.cast(reward, "float32"))

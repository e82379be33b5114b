"""Recommendation stories: users, a corpus, a recommender and metrics, wired as a DBN.

Every story follows the pattern of the paper's ``simple_user_recommender_story``:
a state variable is ``initial_state()`` at ``t = 0`` and ``next_state(state.previous,
...)`` afterwards, and whatever reads a state within a step reads ``state.previous``
(the state before this step's response). Variable names:

==========================  ====================================================================
``"user state"``            ``user.next_state(user state.previous, user response, slate)``
``"user observation"``      ``user.observation(user state.previous)``
``"corpus state"``          ``corpus.next_state(corpus state.previous, user response)``
``"available documents"``   ``corpus.available_documents(corpus state.previous)``
``"recommender state"``     ``recommender.next_state(recommender state.previous, user response, slate)``
``"slate"``                 ``recommender.slate(recommender state.previous, user observation, available documents)``
``"user response"``         ``user.response(user state.previous, slate)``
``"metrics"``               ``metrics.next_state(metrics.previous, user response, slate)``
==========================  ====================================================================

(at ``t = 0`` each ``.previous`` reads the same step's initial value, and metrics
start from ``metrics.next_state(metrics.initial_state(), ...)``, so the metrics at
step ``t`` include the responses of steps ``0..t``).

>>> from recosim.core import NumpyRuntime
>>> from recosim.library.entities.corpora import StaticCorpus
>>> from recosim.library.entities.users import StaticInterestUser
>>> from recosim.library.entities.recommenders import RandomRecommender
>>> from recosim.library.entities.metrics import CumulativeRewardMetrics
>>> corpus = StaticCorpus(num_docs=6, num_topics=2)
>>> story = recommendation_story(
...     StaticInterestUser(num_users=3, num_topics=2, slate_size=2), corpus,
...     RandomRecommender(3, 2, corpus.spec("available_documents")), CumulativeRewardMetrics(3))
>>> NumpyRuntime(story, seed=0).trajectory(4)["slate"].get("features").shape
(4, 3, 2, 2)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from recosim.core import Story, Value, Variable, get_backend, value
from recosim.core.plugins import declare_block
from recosim.library.entities.base import Corpus, Metrics, Recommender, User

__all__ = [
    "recommendation_story",
    "static_corpus_story",
    "simple_user_recommender_story",
    "RecommendationStory",
    "StaticCorpusStory",
    "SimpleUserRecommenderStory",
]


def _check(obj: Any, cls: type, what: str) -> None:
    if not isinstance(obj, cls):
        raise TypeError(f"{what} must be a {cls.__name__} (recosim.library.entities), got {type(obj).__name__}")


def _user_and_recommender(user: User, recommender: Recommender) -> dict[str, Variable]:
    """The user state, user response, recommender state and slate variables, unbound."""
    return {
        "user state": Variable("user state", user.spec("state")),
        "user response": Variable("user response", user.spec("response")),
        "recommender state": Variable("recommender state", recommender.spec("state")),
        "slate": Variable("slate", recommender.spec("slate")),
    }


def _bind_metrics(metrics: Metrics, response: Variable, slate: Variable) -> Variable:
    var = Variable("metrics", metrics.spec("state"))

    def first(r: Value, s: Value) -> Value:
        return metrics.next_state(metrics.initial_state(), r, s)

    var.initial_value = value(first, (response, slate))
    var.value = value(metrics.next_state, (var.previous, response, slate))
    return var


def _bind_core(user: User, recommender: Recommender, v: dict[str, Variable], documents: Variable) -> list[Variable]:
    """Bind user, observation, recommender and slate against the ``documents`` variable."""
    user_state, response = v["user state"], v["user response"]
    rec_state, slate = v["recommender state"], v["slate"]
    observation = Variable("user observation", user.observation_spec())

    user_state.initial_value = value(user.initial_state)
    user_state.value = value(user.next_state, (user_state.previous, response, slate))
    observation.initial_value = value(user.observation, (user_state,))
    observation.value = value(user.observation, (user_state.previous,))
    rec_state.initial_value = value(recommender.initial_state)
    rec_state.value = value(recommender.next_state, (rec_state.previous, response, slate))
    slate.initial_value = value(recommender.slate, (rec_state, observation, documents))
    slate.value = value(recommender.slate, (rec_state.previous, observation, documents))
    response.initial_value = value(user.response, (user_state, slate))
    response.value = value(user.response, (user_state.previous, slate))
    return [user_state, observation, rec_state, slate, response]


@declare_block("recommendation_story", kind="story")
def recommendation_story(
    user: User, corpus: Corpus, recommender: Recommender, metrics: Metrics | None = None
) -> list[Variable]:
    """The full story: users, an evolving corpus, a recommender and (optionally) metrics."""
    _check(user, User, "user")
    _check(corpus, Corpus, "corpus")
    _check(recommender, Recommender, "recommender")
    if metrics is not None:
        _check(metrics, Metrics, "metrics")
    v = _user_and_recommender(user, recommender)
    corpus_state = Variable("corpus state", corpus.spec("state"))
    documents = Variable("available documents", corpus.spec("available_documents"))
    corpus_state.initial_value = value(corpus.initial_state)
    corpus_state.value = value(corpus.next_state, (corpus_state.previous, v["user response"]))
    documents.initial_value = value(corpus.available_documents, (corpus_state,))
    documents.value = value(corpus.available_documents, (corpus_state.previous,))
    out = [corpus_state, documents, *_bind_core(user, recommender, v, documents)]
    if metrics is not None:
        out.append(_bind_metrics(metrics, v["user response"], v["slate"]))
    return out


@declare_block("static_corpus_story", kind="story")
def static_corpus_story(
    user: User, corpus: Corpus, recommender: Recommender, metrics: Metrics | None = None
) -> list[Variable]:
    """Like `recommendation_story`, but the documents are drawn once at ``t = 0`` and kept.

    There is no corpus state variable: ``"available documents"`` is
    ``corpus.available_documents(corpus.initial_state())`` and is static, so users'
    responses never change the corpus.
    """
    _check(user, User, "user")
    _check(corpus, Corpus, "corpus")
    _check(recommender, Recommender, "recommender")
    if metrics is not None:
        _check(metrics, Metrics, "metrics")
    v = _user_and_recommender(user, recommender)
    documents = Variable("available documents", corpus.spec("available_documents"))

    def fixed_documents() -> Value:
        from recosim.core import realize

        return corpus.available_documents(realize(corpus.initial_state()))

    documents.initial_value = value(fixed_documents)
    out = [documents, *_bind_core(user, recommender, v, documents)]
    if metrics is not None:
        out.append(_bind_metrics(metrics, v["user response"], v["slate"]))
    return out


@declare_block("simple_user_recommender_story", kind="story")
def simple_user_recommender_story(user: User, recommender: Recommender, documents: Mapping[str, Any]) -> list[Variable]:
    """The paper's section 3.2 story: users and a recommender serving from a fixed catalogue.

    ``documents`` holds NumPy arrays with a leading document axis (e.g.
    ``features [num_docs, d]``). Variables: ``"user state"``, ``"recommender state"``,
    ``"slate"`` (the recommender sees ``user.observation(user state.previous)``) and
    ``"user response"``.
    """
    _check(user, User, "user")
    _check(recommender, Recommender, "recommender")
    catalogue = Value(documents)
    v = _user_and_recommender(user, recommender)
    user_state, response = v["user state"], v["user response"]
    rec_state, slate = v["recommender state"], v["slate"]

    def serve(state: Value, users: Value) -> Value:
        B = get_backend()
        return recommender.slate(state, user.observation(users), catalogue.map(B.asarray))

    user_state.initial_value = value(user.initial_state)
    user_state.value = value(user.next_state, (user_state.previous, response, slate))
    rec_state.initial_value = value(recommender.initial_state)
    rec_state.value = value(recommender.next_state, (rec_state.previous, response, slate))
    slate.initial_value = value(serve, (rec_state, user_state))
    slate.value = value(serve, (rec_state.previous, user_state.previous))
    response.initial_value = value(user.response, (user_state, slate))
    response.value = value(user.response, (user_state.previous, slate))
    return [slate, response, user_state, rec_state]


class RecommendationStory(Story):
    """`recommendation_story` as a `Story` object."""

    def __init__(self, user: User, corpus: Corpus, recommender: Recommender, metrics: Metrics | None = None) -> None:
        self.user, self.corpus, self.recommender, self.metrics = user, corpus, recommender, metrics

    def variables(self) -> list[Variable]:
        return recommendation_story(self.user, self.corpus, self.recommender, self.metrics)


class StaticCorpusStory(RecommendationStory):
    """`static_corpus_story` as a `Story` object."""

    def variables(self) -> list[Variable]:
        return static_corpus_story(self.user, self.corpus, self.recommender, self.metrics)


class SimpleUserRecommenderStory(Story):
    """`simple_user_recommender_story` as a `Story` object."""

    def __init__(self, user: User, recommender: Recommender, documents: Mapping[str, Any]) -> None:
        self.user, self.recommender, self.documents = user, recommender, documents

    def variables(self) -> list[Variable]:
        return simple_user_recommender_story(self.user, self.recommender, self.documents)

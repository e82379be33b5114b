"""Small models for the inference tests: a slate-recommendation story trained by REINFORCE."""

from __future__ import annotations

import itertools

import numpy as np

from recosim.core import FieldSpec, Value, ValueSpec, Variable, get_backend, value
from recosim.library.choice import IteratedMultinomialLogitChoiceModel, MultinomialLogitChoiceModel, get_chosen

QUALITY = np.array([0.1, 0.3, 0.5, 0.8, 1.0], np.float32)
APPEAL = np.ones(5, np.float32)  # every item is equally likely to be clicked when shown


def slate_story(num_users: int = 4, slate_size: int = 2):
    """``make_model(params)``: a recommender drawing slates by iterated MNL from ``params["logits"]``.

    Users click one item of the slate by MNL on its appeal (or nothing, logit 0); the
    reward is the clicked item's quality (0 without a click).
    """
    num_items = len(QUALITY)

    def make_model(params):
        recommender = Variable("recommender", ValueSpec(slate=FieldSpec(shape=(num_users, slate_size), dtype="int32")))
        user = Variable("user", ValueSpec(choice=FieldSpec(shape=(num_users,), dtype="int32")))
        metrics = Variable("metrics", ValueSpec(reward=FieldSpec(shape=(num_users,), dtype="float32")))
        slates = IteratedMultinomialLogitChoiceModel(k=slate_size)
        clicks = MultinomialLogitChoiceModel(no_choice_logit=0.0)

        def recommend() -> Value:
            B = get_backend()
            logits = B.np.zeros((num_users, num_items), dtype="float32") + params["logits"]
            return Value(slate=slates.choice(logits).get("choice"))

        def respond(rec: Value) -> Value:
            B = get_backend()
            appeal = B.np.take(B.asarray(APPEAL), rec.get("slate"), axis=0)
            return Value(choice=B.tfd.Categorical(logits=clicks.logits(appeal), dtype="int32"))

        def score(rec: Value, response: Value) -> Value:
            B = get_backend()
            quality = B.np.take(B.asarray(QUALITY), rec.get("slate"), axis=0)
            chosen = get_chosen(Value(q=quality), response.get("choice"))
            return Value(reward=B.cast(chosen.get("q"), "float32"))

        recommender.initial_value = value(recommend)
        recommender.value = value(recommend)
        user.initial_value = value(respond, (recommender,))
        user.value = value(respond, (recommender,))
        metrics.initial_value = value(score, (recommender, user))
        metrics.value = value(score, (recommender, user))
        return [recommender, user, metrics]

    return make_model


def expected_reward(logits: np.ndarray, slate_size: int = 2) -> float:
    """Exact expected reward per user and step of the iterated-MNL policy with ``logits``."""
    logits = np.asarray(logits, np.float64)
    total = 0.0
    for slate in itertools.permutations(range(len(QUALITY)), slate_size):
        p, remaining = 1.0, np.exp(logits)
        for i in slate:
            p *= remaining[i] / remaining.sum()
            remaining = remaining.copy()
            remaining[i] = 0.0
        appeal = np.exp(APPEAL[list(slate)])
        total += p * float(np.sum(appeal / (1.0 + appeal.sum()) * QUALITY[list(slate)]))
    return total


def best_expected_reward(slate_size: int = 2) -> float:
    """The expected reward per user and step of the best deterministic slate."""
    best = 0.0
    for slate in itertools.combinations(range(len(QUALITY)), slate_size):
        appeal = np.exp(APPEAL[list(slate)])
        best = max(best, float(np.sum(appeal / (1.0 + appeal.sum()) * QUALITY[list(slate)])))
    return best


def gaussian_bandit(num_users: int = 4, target: float = 3.0, scale: float = 0.5):
    """``make_model(params)``: each user's action ``~ N(params["mu"], scale)``, reward ``-(action - target)^2``.

    The expected reward ``-(mu - target)^2 - scale^2`` is largest at ``mu = target``.
    """

    def make_model(params):
        policy = Variable("policy", ValueSpec(action=FieldSpec(shape=(num_users,), dtype="float32")))
        metrics = Variable("metrics", ValueSpec(reward=FieldSpec(shape=(num_users,), dtype="float32")))

        def act() -> Value:
            B = get_backend()
            return Value(action=B.tfd.Normal(B.np.zeros(num_users, dtype="float32") + params["mu"], scale))

        def score(p: Value) -> Value:
            return Value(reward=-((p.get("action") - target) ** 2))

        policy.initial_value = value(act)
        policy.value = value(act)
        metrics.initial_value = value(score, (policy,))
        metrics.value = value(score, (policy,))
        return [policy, metrics]

    return make_model

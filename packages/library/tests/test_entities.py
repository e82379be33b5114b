"""Entity prototypes and the simple concrete entities, on every runtime."""

from __future__ import annotations

import numpy as np
import pytest

from recosim.core import FieldSpec, Value, ValueSpec, realize
from recosim.core.testing import run_block, runtime_names
from recosim.library.entities import (
    Corpus,
    CumulativeRewardMetrics,
    Metrics,
    RandomRecommender,
    Recommender,
    StaticCorpus,
    StaticInterestUser,
    TopKAffinityRecommender,
    User,
    subspec,
)
from recosim.library.entities._util import spec_like

RUNTIMES = runtime_names()


# -- prototypes ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prototype", "required"),
    [
        (User, "initial_state, next_state, response, specs"),
        (Corpus, "available_documents, initial_state, specs"),
        (Recommender, "initial_state, slate, specs"),
        (Metrics, "initial_state, next_state, specs"),
    ],
)
def test_a_subclass_that_forgets_behaviours_gets_a_clear_error(prototype, required):
    incomplete = type("Incomplete", (prototype,), {})
    with pytest.raises(TypeError) as err:
        incomplete()
    msg = str(err.value)
    assert f"Incomplete subclasses the {prototype.__name__} prototype" in msg
    assert required in msg


def test_a_prototype_itself_cannot_be_instantiated():
    with pytest.raises(TypeError, match="User is a prototype; subclass it"):
        User()


def test_a_partial_subclass_names_only_what_is_missing():
    class HalfUser(User):
        def specs(self):
            return ValueSpec(state=ValueSpec(x=FieldSpec()))

        def initial_state(self):
            return Value(x=0.0)

        def next_state(self, previous_state, response):
            return previous_state

    with pytest.raises(TypeError, match=r"does not implement response;"):
        HalfUser()


def test_subspec_and_default_behaviours():
    spec = ValueSpec(state=ValueSpec(x=FieldSpec((2,), "float32")), response=ValueSpec(c=FieldSpec()))
    assert subspec(spec, "state") == ValueSpec(x=FieldSpec((2,), "float32"))
    with pytest.raises(KeyError, match="no 'slate' part"):
        subspec(spec, "slate")
    with pytest.raises(TypeError, match="ValueSpec"):
        subspec({"state": 1}, "state")

    class Echo(User):
        def specs(self):
            return spec

        def initial_state(self):
            return Value(x=np.zeros(2, np.float32))

        def next_state(self, previous_state, response):
            return previous_state

        def response(self, state, slate):
            return Value(c=0)

    user = Echo()
    assert user.observation(Value(x=1)) == Value(x=1)  # fully observed by default
    assert user.observation_spec() == subspec(spec, "state")


# -- the concrete entities -------------------------------------------------------------


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_static_interest_user_chooses_by_multinomial_logit(runtime):
    user = StaticInterestUser(num_users=2, num_topics=2, slate_size=3, no_choice_logit=0.0)
    features = np.array([[[0.0, 0.0], [3.0, 4.0], [0.0, 1.0]]] * 2, np.float32)
    slate = Value(features=features, quality=np.array([[0.5, -1.0, 2.0]] * 2, np.float32))
    state = Value(interest=np.zeros((2, 2), np.float32))
    logits = np.asarray(user.logits(state, slate))
    np.testing.assert_allclose(logits, [[0.0, -5.0, -1.0, 0.0]] * 2)

    out = run_block(runtime, lambda: user.response(state, slate), length=1, seed=1)
    choice, reward = out["choice"][0], out["reward"][0]
    assert choice.dtype == np.int32 and np.all((choice >= 0) & (choice <= 3))
    expected = np.where(choice < 3, np.array([0.5, -1.0, 2.0, 0.0])[np.minimum(choice, 3)], 0.0)
    np.testing.assert_allclose(reward, expected)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_static_interest_user_choice_frequencies(runtime):
    num_users = 4000
    user = StaticInterestUser(num_users=num_users, num_topics=1, slate_size=2)
    features = np.broadcast_to(np.array([[[0.0], [1.0]]], np.float32), (num_users, 2, 1))
    state = Value(interest=np.zeros((num_users, 1), np.float32))
    out = run_block(runtime, lambda: user.response(state, Value(features=features)), seed=2)
    p_first = 1.0 / (1.0 + np.exp(-1.0))
    assert abs((out["choice"][0] == 0).mean() - p_first) < 0.03
    np.testing.assert_array_equal(out["reward"][0], 1.0)  # no quality field: a pick earns 1


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_static_corpus_draws_documents(runtime):
    corpus = StaticCorpus(num_docs=50, num_topics=3, feature_scale=2.0)
    docs = run_block(runtime, lambda: corpus.available_documents(realize(corpus.initial_state())), seed=0)
    assert docs["features"].shape == (1, 50, 3)
    assert 1.4 < docs["features"].std() < 2.6
    assert np.all(np.abs(docs["quality"]) <= 1.0)
    np.testing.assert_array_equal(docs["doc_id"][0], np.arange(50))
    corpus.spec("available_documents").check(Value({k: v[0] for k, v in docs.items()}), where="documents")


def _documents():
    return Value(
        features=np.array([[0.0], [1.0], [5.0], [2.5]], np.float32),
        quality=np.array([0.5, -1.0, 2.0, 0.0], np.float32),
    )


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_top_k_affinity_recommender_by_hand(runtime):
    docs = _documents()
    rec = TopKAffinityRecommender(num_users=2, slate_size=2, document_spec=spec_like(docs))
    users = Value(interest=np.array([[4.0], [0.2]], np.float32))
    out = run_block(runtime, lambda: rec.slate(rec.initial_state(), users, docs))
    np.testing.assert_array_equal(out["doc_index"][0], [[2, 3], [0, 1]])
    np.testing.assert_allclose(out["quality"][0], [[2.0, 0.0], [0.5, -1.0]])
    np.testing.assert_allclose(out["features"][0], [[[5.0], [2.5]], [[0.0], [1.0]]])
    rec.spec("slate").check(Value({k: v[0] for k, v in out.items()}), where="slate")


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_random_recommender_serves_distinct_documents(runtime):
    docs = _documents()
    rec = RandomRecommender(num_users=300, slate_size=3, document_spec=spec_like(docs))
    out = run_block(runtime, lambda: rec.slate(rec.initial_state(), Value(), docs), seed=5)
    idx = out["doc_index"][0]
    assert idx.shape == (300, 3) and idx.dtype == np.int32
    assert all(len(set(row)) == 3 for row in idx.tolist())
    np.testing.assert_allclose(out["quality"][0], docs["quality"][idx])
    counts = np.bincount(idx.ravel(), minlength=4) / idx.size
    np.testing.assert_allclose(counts, 0.25, atol=0.05)


def test_entities_reject_bad_parameters():
    docs = spec_like(_documents())
    with pytest.raises(ValueError, match="num_users"):
        StaticInterestUser(num_users=0, num_topics=2, slate_size=2)
    with pytest.raises(ValueError, match="interest_scale"):
        StaticInterestUser(2, 2, 2, interest_scale=-1.0)
    with pytest.raises(ValueError, match="slate_size=5 exceeds the number of documents \\(4\\)"):
        RandomRecommender(2, 5, docs)
    with pytest.raises(TypeError, match="document_spec"):
        RandomRecommender(2, 2, {"features": 1})
    with pytest.raises(ValueError, match="feature_field 'embedding'"):
        TopKAffinityRecommender(2, 2, docs, feature_field="embedding")
    with pytest.raises(ValueError, match="doc_index"):
        RandomRecommender(2, 2, docs.union(ValueSpec(doc_index=FieldSpec((4,), "int32"))))
    rec = TopKAffinityRecommender(2, 2, docs)
    with pytest.raises(KeyError, match="observation field 'interest'"):
        rec.slate(rec.initial_state(), Value(taste=np.zeros((2, 1), np.float32)), _documents())
    metrics = CumulativeRewardMetrics(2, reward_field="utility")
    with pytest.raises(KeyError, match="response field 'utility'"):
        metrics.next_state(metrics.initial_state(), Value(reward=np.zeros(2, np.float32)), Value())

"""The network helpers and the history-policy recommender on every installed runtime."""

import doctest

import numpy as np
import pytest

import recosim.library.networks as networks
from recosim.core import Value
from recosim.core.testing import run_block
from recosim.library.choice import IteratedMultinomialLogit
from recosim.library.entities import HistoryPolicyRecommender, User
from recosim.library.entities._util import spec_like
from recosim.library.networks import HistoryScorer, dense, embed, leaky_relu, truncated_normal


def test_docstring_examples():
    assert doctest.testmod(networks, optionflags=doctest.ELLIPSIS).failed == 0


def test_history_scorer_matches_numpy_on_every_runtime(runtime):
    scorer = HistoryScorer(num_items=6, history_length=3, embedding_dim=4, hidden_units=5)
    params = scorer.init_params(seed=1)
    ids = np.array([[0, 0, 2], [1, 6, 3]], np.int32)
    values = np.array([[0.0, 0.0, 1.2], [0.5, 1.4, 0.1]], np.float32)
    got = run_block(runtime, lambda: Value(scores=scorer.scores(params, ids, values)))["scores"][0]
    emb = np.concatenate([params["history_embeddings"][ids], values[..., None]], -1).reshape(2, -1)
    hidden = emb @ params["encoder_1"]["kernel"] + params["encoder_1"]["bias"]
    hidden = np.where(hidden > 0, hidden, 0.3 * hidden)
    users = hidden @ params["encoder_2"]["kernel"] + params["encoder_2"]["bias"]
    np.testing.assert_allclose(got, users @ params["item_embeddings"].T, rtol=1e-5, atol=1e-5)


def test_initial_values_and_checks():
    rng = np.random.default_rng(0)
    draws = truncated_normal(rng, (20000,))
    assert np.abs(draws).max() <= 2.0 and abs(draws.std() - 0.88) < 0.02  # a N(0, 1) truncated at 2 sd
    layer = networks.init_dense(rng, 30, 10)
    assert np.abs(layer["kernel"]).max() <= np.sqrt(6 / 40) and not layer["bias"].any()
    assert leaky_relu(np.array([-2.0, 3.0]), 0.5).tolist() == [-1.0, 3.0]
    assert embed(np.eye(3, dtype=np.float32), np.array([2, 0])).tolist() == [[0, 0, 1], [1, 0, 0]]
    with pytest.raises(ValueError, match="kernel expects 3"):
        dense({"kernel": np.zeros((3, 2)), "bias": np.zeros(2)}, np.zeros((1, 4)))
    scorer = HistoryScorer(num_items=4, history_length=2, embedding_dim=3, hidden_units=2)
    bad = scorer.init_params(0)
    bad["encoder_2"] = {"kernel": np.zeros((2, 9), np.float32), "bias": np.zeros(3, np.float32)}
    with pytest.raises(ValueError, match=r"params\['encoder_2'\]\['kernel'\] has shape \(2, 9\); expected \(2, 3\)"):
        scorer.check_params(bad)
    with pytest.raises(ValueError, match=r"item_ids must have shape \[..., 2\]"):
        scorer.scores(scorer.init_params(0), np.zeros((1, 3), np.int32), np.zeros((1, 3), np.float32))


def _recommender(scores):
    docs = Value(doc_id=np.arange(1, 6, dtype=np.int32), quality=np.linspace(0, 1, 5, dtype=np.float32))
    rec = HistoryPolicyRecommender(
        num_users=2,
        slate_size=3,
        document_spec=spec_like(docs),
        history_length=2,
        scorer=lambda state, observation, documents: scores,
    )
    return rec, docs


def test_slates_are_distinct_draws_with_the_plackett_luce_probability(runtime):
    scores = np.array([[3.0, 0.0, 1.0, -1.0, 2.0], [0.0, 0.0, 0.0, 0.0, 0.0]], np.float32)
    rec, docs = _recommender(scores)
    out = run_block(runtime, lambda: rec.slate(rec.initial_state(), Value(), docs), length=1, seed=3)
    slate = out["doc_index"][0]
    assert slate.shape == (2, 3) and all(len(set(row)) == 3 for row in slate)
    np.testing.assert_array_equal(out["doc_id"][0], slate + 1)
    np.testing.assert_allclose(out["quality"][0], docs.get("quality")[slate])
    lp = IteratedMultinomialLogit(scores, 3).log_prob(slate)
    assert np.isclose(float(lp[1]), -np.log(5 * 4 * 3))


def test_history_moves_only_on_clicks():
    rec, _ = _recommender(np.zeros((2, 5), np.float32))
    state = rec.initial_state()
    slate = Value(doc_id=np.array([[4, 2, 5], [1, 3, 2]], np.int32))
    for choice, time in (([0, 3], [1.0, 0.0]), ([3, 2], [0.0, 0.5]), ([2, 1], [0.7, 0.2])):
        state = rec.next_state(
            state, Value(choice=np.array(choice, np.int32), consumed_time=np.array(time, np.float32)), slate
        )
    assert state.get("doc_id").tolist() == [[4, 5], [2, 3]]
    np.testing.assert_allclose(state.get("consumed_time"), [[1.0, 0.7], [0.5, 0.2]])
    assert state.get("count").tolist() == [2, 2]
    with pytest.raises(KeyError, match="reads the response field 'consumed_time'"):
        rec.next_state(state, Value(choice=np.zeros(2, np.int32)), slate)


def test_scorer_output_and_documents_are_checked():
    rec, docs = _recommender(np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match=r"the scorer returned shape \(2, 4\); expected \(2, 5\)"):
        rec.scores(rec.initial_state(), Value(), docs)
    with pytest.raises(ValueError, match="id_field 'item' is not a document field"):
        HistoryPolicyRecommender(2, 1, spec_like(docs), 2, lambda *a: None, id_field="item")


def test_user_transitions_see_the_slate_and_two_argument_ones_still_work():
    seen = {}

    class Mover(User):
        def specs(self):
            return None

        def initial_state(self):
            return Value(x=0.0)

        def next_state(self, previous_state, response, slate):
            seen["slate"] = slate
            return previous_state

        def response(self, state, slate):
            return Value()

    class Legacy(Mover):
        def next_state(self, previous_state, response):
            return Value(x=previous_state.get("x") + 1.0)

    Mover().next_state(Value(x=0.0), Value(), Value(features=1.0))
    assert seen["slate"] == Value(features=1.0)
    legacy = Legacy()
    assert legacy.next_state(Value(x=1.0), Value(), Value(features=1.0)) == Value(x=2.0)
    assert legacy.next_state(Value(x=1.0), Value()) == Value(x=2.0)
    import inspect

    assert list(inspect.signature(Legacy.next_state).parameters) == ["self", "previous_state", "response", "slate"]

"""Recommendation, static-corpus, simple and logged-slates stories, end to end on every runtime."""

from __future__ import annotations

import numpy as np
import pytest

from recosim.core import FieldSpec, Value, ValueSpec, get_backend
from recosim.core.testing import make_runtime_for, runtime_names, to_numpy
from recosim.library.entities import (
    Corpus,
    CumulativeRewardMetrics,
    RandomRecommender,
    StaticCorpus,
    StaticInterestUser,
    TopKAffinityRecommender,
    User,
)
from recosim.library.entities._util import spec_like
from recosim.library.stories import (
    LoggedSlatesStory,
    RecommendationStory,
    SimpleUserRecommenderStory,
    StaticCorpusStory,
    logged_response_log_probability,
    recommendation_story,
    simple_user_recommender_story,
)

RUNTIMES = runtime_names()
U = 2


def _documents():
    return {
        "features": np.array([[0.0], [1.0], [5.0], [2.5]], np.float32),
        "quality": np.array([0.5, -1.0, 2.0, 0.0], np.float32),
    }


class FixedCorpus(Corpus):
    """Fixed documents; its state sums the users' rewards (to check the corpus wiring)."""

    def specs(self):
        docs = spec_like(_documents())
        return ValueSpec(state=ValueSpec(total=FieldSpec((), "float32")), available_documents=docs)

    def initial_state(self):
        return Value(total=get_backend().asarray(0.0, "float32"))

    def next_state(self, previous_state, response):
        return Value(total=previous_state.get("total") + get_backend().np.sum(response.get("reward")))

    def available_documents(self, state):
        B = get_backend()
        return Value(_documents()).map(B.asarray)


class FixedUser(User):
    """Fixed interests; always takes the top of the slate; counts its steps in its state."""

    def specs(self):
        users = (U,)
        return ValueSpec(
            state=ValueSpec(interest=FieldSpec((U, 1), "float32"), n=FieldSpec(users, "float32")),
            response=ValueSpec(
                choice=FieldSpec(users, "int32"), reward=FieldSpec(users, "float32"), seen=FieldSpec(users, "float32")
            ),
            observation=ValueSpec(interest=FieldSpec((U, 1), "float32")),
        )

    def initial_state(self):
        B = get_backend()
        return Value(interest=B.asarray(np.array([[4.0], [0.2]], np.float32)), n=B.np.zeros((U,), dtype="float32"))

    def next_state(self, previous_state, response):
        return Value(interest=previous_state.get("interest"), n=previous_state.get("n") + 1.0)

    def observation(self, state):
        return Value(interest=state.get("interest"))

    def response(self, state, slate):
        B = get_backend()
        return Value(choice=B.np.zeros((U,), dtype="int32"), reward=slate.get("quality")[:, 0], seen=state.get("n"))


def _run(runtime, variables, steps, seed=0):
    return to_numpy(make_runtime_for(runtime, variables, seed=seed).trajectory(steps))


# -- hand-checked deterministic configuration ----------------------------------------------


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_full_story_by_hand(runtime):
    steps = 4
    corpus = FixedCorpus()
    rec = TopKAffinityRecommender(U, 2, corpus.spec("available_documents"))
    story = RecommendationStory(FixedUser(), corpus, rec, CumulativeRewardMetrics(U))
    traj = _run(runtime, story.variables(), steps)
    t = np.arange(steps)
    # top-2 by distance: user at 4.0 gets docs (5.0, 2.5); user at 0.2 gets (0.0, 1.0)
    np.testing.assert_array_equal(traj["slate"]["doc_index"], np.broadcast_to([[2, 3], [0, 1]], (steps, U, 2)))
    np.testing.assert_allclose(traj["user response"]["reward"], np.broadcast_to([2.0, 0.5], (steps, U)))
    # metrics at step t include the responses of steps 0..t
    np.testing.assert_allclose(traj["metrics"]["cumulative_reward"], np.outer(t + 1, [2.0, 0.5]))
    np.testing.assert_array_equal(traj["metrics"]["num_steps"], t + 1)
    # the paper's pattern: state_t = next_state(state_{t-1}, response_t), response_t reads state_{t-1}
    np.testing.assert_allclose(traj["user state"]["n"], np.outer(t, [1.0, 1.0]))
    np.testing.assert_allclose(traj["user response"]["seen"], np.outer(np.maximum(t - 1, 0), [1.0, 1.0]))
    np.testing.assert_allclose(traj["corpus state"]["total"], 2.5 * t)
    np.testing.assert_array_equal(traj["recommender state"]["step"], t)
    np.testing.assert_allclose(traj["user observation"]["interest"][:, :, 0], np.broadcast_to([4.0, 0.2], (steps, U)))


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_static_corpus_and_simple_stories_agree_by_hand(runtime):
    steps = 3
    corpus = FixedCorpus()
    rec = TopKAffinityRecommender(U, 2, corpus.spec("available_documents"))
    static = _run(runtime, StaticCorpusStory(FixedUser(), corpus, rec, CumulativeRewardMetrics(U)).variables(), steps)
    assert "corpus state" not in static
    np.testing.assert_allclose(static["metrics"]["cumulative_reward"], np.outer(np.arange(1, steps + 1), [2.0, 0.5]))
    simple = _run(runtime, SimpleUserRecommenderStory(FixedUser(), rec, _documents()).variables(), steps)
    assert set(simple) == {"slate", "user response", "user state", "recommender state"}
    np.testing.assert_array_equal(simple["slate"]["doc_index"], static["slate"]["doc_index"])
    np.testing.assert_allclose(simple["user response"]["reward"], static["user response"]["reward"])


# -- end to end with the random entities ----------------------------------------------------


def _random_entities(num_users=5, num_docs=12, topics=3, slate=3):
    corpus = StaticCorpus(num_docs, topics)
    user = StaticInterestUser(num_users, topics, slate, no_choice_logit=-1.0)
    return user, corpus, corpus.spec("available_documents")


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("recommender", [RandomRecommender, TopKAffinityRecommender])
def test_full_story_end_to_end(runtime, recommender):
    steps, num_users = 5, 5
    user, corpus, docs = _random_entities(num_users)
    variables = recommendation_story(user, corpus, recommender(num_users, 3, docs), CumulativeRewardMetrics(num_users))
    rt = make_runtime_for(runtime, variables, seed=0)
    traj = to_numpy(rt.trajectory(steps, seed=3))
    # reproducible: the same seed again (the same compiled program) gives the same slates and choices
    again = to_numpy(rt.trajectory(steps, seed=3))
    for name, key in (("slate", "doc_index"), ("user response", "choice"), ("user response", "reward")):
        np.testing.assert_array_equal(again[name][key], traj[name][key], err_msg=f"{name}/{key} not reproduced")
    assert traj["slate"]["features"].shape == (steps, num_users, 3, 3)
    assert traj["available documents"]["features"].shape == (steps, 12, 3)
    choice = traj["user response"]["choice"]
    assert choice.shape == (steps, num_users) and np.all((choice >= 0) & (choice <= 3))
    # the static corpus never changes and the interests are static
    for name, key in (("available documents", "features"), ("user state", "interest")):
        field = traj[name][key]
        np.testing.assert_array_equal(field, np.broadcast_to(field[:1], field.shape))
    # slates are the available documents at doc_index; rewards are the chosen qualities
    quality = traj["available documents"]["quality"][0]
    np.testing.assert_allclose(traj["slate"]["quality"], quality[traj["slate"]["doc_index"]])
    chosen = np.take_along_axis(traj["slate"]["quality"], np.minimum(choice, 2)[..., None], axis=-1)[..., 0]
    reward = np.where(choice < 3, chosen, 0.0)
    np.testing.assert_allclose(traj["user response"]["reward"], reward, rtol=1e-6)
    np.testing.assert_allclose(traj["metrics"]["cumulative_reward"], np.cumsum(reward, axis=0), rtol=1e-5, atol=1e-6)
    if recommender is TopKAffinityRecommender:
        interest = traj["user state"]["interest"][0]
        feats = traj["available documents"]["features"][0]
        dist = np.linalg.norm(interest[:, None, :] - feats[None], axis=-1)
        np.testing.assert_array_equal(traj["slate"]["doc_index"][0], np.argsort(dist, axis=-1)[:, :3])


def test_stories_check_their_entities():
    user, corpus, docs = _random_entities()
    rec = RandomRecommender(5, 3, docs)
    with pytest.raises(TypeError, match="corpus must be a Corpus"):
        recommendation_story(user, rec, rec)
    with pytest.raises(TypeError, match="user must be a User"):
        simple_user_recommender_story(corpus, rec, _documents())
    with pytest.raises(TypeError, match="metrics must be a Metrics"):
        recommendation_story(user, corpus, rec, metrics=user)


# -- logged-slates replay ------------------------------------------------------------------


def _logged(steps=4, num_users=3, slate=3, topics=2):
    rng = np.random.default_rng(0)
    return {
        "features": rng.normal(size=(steps, num_users, slate, topics)).astype(np.float32),
        "doc_index": rng.integers(0, 10, size=(steps, num_users, slate)).astype(np.int32),
    }


def _response_log_prob_by_hand(interest, features, choice):
    logits = -np.linalg.norm(interest[None, :, None, :] - features, axis=-1)
    log_p = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
    return np.take_along_axis(log_p, choice[..., None], axis=-1).sum()


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_logged_slates_are_replayed_and_responses_scored(runtime):
    logged = _logged()
    user = StaticInterestUser(num_users=3, num_topics=2, slate_size=3)
    story = LoggedSlatesStory(user, logged)
    traj = _run(runtime, story.variables(), 4, seed=2)
    for key, field in logged.items():
        np.testing.assert_array_equal(traj["slate"][key], field)
    interest = traj["user state"]["interest"][0]
    choice = traj["user response"]["choice"]

    lp = logged_response_log_probability(user, logged, traj["user state"], traj["user response"], runtime=runtime)
    lp = float(np.asarray(lp))
    assert np.isfinite(lp)
    np.testing.assert_allclose(lp, _response_log_prob_by_hand(interest, logged["features"], choice), rtol=1e-4)

    other = {"choice": np.zeros_like(choice), "reward": np.zeros(choice.shape, np.float32)}
    lp_other = float(np.asarray(logged_response_log_probability(user, logged, traj["user state"], other, runtime)))
    np.testing.assert_allclose(
        lp_other, _response_log_prob_by_hand(interest, logged["features"], other["choice"]), rtol=1e-4
    )


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_log_probability_of_a_replayed_trajectory_includes_the_latent_state(runtime):
    logged = _logged()
    user = StaticInterestUser(num_users=3, num_topics=2, slate_size=3)
    story = LoggedSlatesStory(user, logged)
    rt = make_runtime_for(runtime, story.variables(), seed=4)
    traj = to_numpy(rt.trajectory(4))
    data = story.value_trajectory(traj["user response"], user_states=traj["user state"])
    lp = float(np.asarray(rt.log_probability(data)))
    interest = traj["user state"]["interest"][0]
    prior = (-0.5 * interest**2 - 0.5 * np.log(2 * np.pi)).sum()
    by_hand = prior + _response_log_prob_by_hand(interest, logged["features"], traj["user response"]["choice"])
    np.testing.assert_allclose(lp, by_hand, rtol=1e-4)


def test_replay_inputs_are_checked():
    user = StaticInterestUser(num_users=3, num_topics=2, slate_size=3)
    logged = _logged()
    with pytest.raises(ValueError, match="user_states has 2 steps but logged_slates has 4"):
        LoggedSlatesStory(user, logged, {"interest": np.zeros((2, 3, 2), np.float32)}).variables()
    with pytest.raises(ValueError, match="needs the user states"):
        LoggedSlatesStory(user, logged).value_trajectory({"choice": np.zeros((4, 3), np.int32)})
    with pytest.raises(ValueError, match="same leading time axis"):
        LoggedSlatesStory(user, {"features": np.zeros((4, 3, 3, 2)), "doc_index": np.zeros((5, 3, 3))}).variables()

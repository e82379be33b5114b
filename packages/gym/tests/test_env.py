"""The Gymnasium environments: API conformance, agreement with the runtimes, errors."""

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import recosim.gym  # noqa: F401  (registers the ids)
from recosim.core.errors import NetworkError
from recosim.core.testing import make_runtime_for, runtime_names, to_numpy
from recosim.gym import PolicySimulator, RecommendationEnv, RecommendationVectorEnv, SlateSpace
from recosim.library.entities import CumulativeRewardMetrics, RandomRecommender, StaticCorpus, StaticInterestUser
from recosim.library.stories import static_corpus_story
from recosim.usecases import interest_evolution as ie
from recosim.usecases.ecosystem import EcosystemConfig, ecosystem_variables

IE = dict(num_docs=10, history_length=4)
ECO = dict(num_docs=12)


@pytest.fixture(params=runtime_names())
def runtime(request):
    return request.param


def _ie_story(num_users):
    cfg = ie.InterestEvolutionConfig(num_users=num_users, **IE)
    return ie.make_model(ie.init_params(0, cfg), cfg)


def _on_runtimes(interest_evolution: tuple, ecosystem: tuple) -> list:
    """Interest Evolution on every runtime, the Ecosystem on NumPy.

    Both ids build the same environment classes, which alone handle a runtime's arrays
    and keys: Interest Evolution checks that side on every runtime; the Ecosystem's own
    story, spaces and rewards are checked on NumPy (on a compiled runtime it would repeat
    the same runtime steps at twice the cost; its story runs on every runtime in the use
    cases' suite).
    """
    cases = [pytest.param(r, *interest_evolution, id=f"{r}-InterestEvolution") for r in runtime_names()]
    if "numpy" in runtime_names():
        cases.append(pytest.param("numpy", *ecosystem, id="numpy-Ecosystem"))
    return cases


@pytest.mark.filterwarnings("ignore:.*maximum value is infinity")
@pytest.mark.filterwarnings("ignore:.*minimum value is -infinity")
@pytest.mark.parametrize(
    "runtime, env_id, sizes",
    _on_runtimes(("recosim/InterestEvolution-v0", IE), ("recosim/Ecosystem-v0", ECO)),
)
def test_registered_environments_pass_the_gymnasium_checker(runtime, env_id, sizes):
    env = gymnasium.make(env_id, horizon=2, runtime=runtime, **sizes)
    check_env(env.unwrapped)
    obs, _ = env.reset(seed=1)
    assert env.observation_space.contains(obs)
    for _ in range(2):
        obs, reward, terminated, truncated, _ = env.step(env.action_space.sample())
        assert env.observation_space.contains(obs) and np.isfinite(reward) and not terminated
    assert truncated  # the horizon ends the episode
    with pytest.raises(RuntimeError, match="call reset"):
        env.step(env.action_space.sample())


@pytest.mark.parametrize(
    "runtime, env_id, sizes, model, reward",
    _on_runtimes(
        ("recosim/InterestEvolution-v0", IE, lambda n: _ie_story(n), ("user response", "reward")),
        (
            "recosim/Ecosystem-v0",
            ECO,
            lambda n: ecosystem_variables(EcosystemConfig(num_users=n, **ECO)),
            ("user response", "utility"),
        ),
    ),
)
def test_vector_env_rewards_equal_the_story_for_the_same_seed_and_slates(runtime, env_id, sizes, model, reward):
    users, steps, seed = 6, 3, 11
    traj = to_numpy(make_runtime_for(runtime, model(users), seed=0).trajectory(steps, seed=seed))
    env = gymnasium.make_vec(env_id, num_envs=users, horizon=steps, runtime=runtime, **sizes)
    assert env.num_envs == users
    obs, _ = env.reset(seed=seed)
    for t in range(steps):
        assert env.observation_space.contains(obs)
        obs, rewards, terminated, truncated, _ = env.step(traj["slate"]["doc_index"][t])
        np.testing.assert_allclose(rewards, traj[reward[0]][reward[1]][t], rtol=1e-6, atol=1e-6)
        assert not terminated.any() and truncated.all() == (t == steps - 1)
        # the environment's step is the story's step: every variable agrees
        values = to_numpy(env.unwrapped.state.values)
        for name, fields in values.items():
            for key, x in fields.items():
                np.testing.assert_allclose(x, traj[name][key][t], rtol=1e-5, atol=1e-5, err_msg=f"{name}/{key}")
    if env_id == "recosim/InterestEvolution-v0":  # the observation is the recommender's history
        np.testing.assert_array_equal(obs["recommender state/doc_id"], traj["recommender state"]["doc_id"][-1])
    # next-step autoreset: zero rewards, the first observation of a new episode
    obs, rewards, terminated, truncated, _ = env.step(traj["slate"]["doc_index"][0])
    assert not rewards.any() and not truncated.any()


def test_episodes_are_reproducible_and_distinct(runtime):
    # six users, as in the agreement test above: on an uncompiled JAX the same array shapes reuse its operations
    env = RecommendationVectorEnv(_ie_story(6), horizon=2, runtime=runtime)
    slates = np.tile(np.array([[0, 1]]), (6, 1))

    def episode(seed=None):
        env.reset(seed=seed)
        return np.stack([env.step(slates)[1] for _ in range(2)])

    first = episode(seed=5)
    second = episode()  # a new episode of the same seed's sequence
    np.testing.assert_array_equal(episode(seed=5), first)
    np.testing.assert_array_equal(episode(), second)
    assert not np.array_equal(first, second)


def test_any_library_story_works():
    corpus = StaticCorpus(num_docs=7, num_topics=2)
    story = static_corpus_story(
        StaticInterestUser(3, 2, 2, no_choice_logit=0.0),
        corpus,
        RandomRecommender(3, 2, corpus.spec("available_documents")),
        CumulativeRewardMetrics(3),
    )
    env = RecommendationVectorEnv(story, horizon=4, runtime="numpy")
    assert sorted(env.single_observation_space.spaces) == ["recommender state/step", "user observation/interest"]
    obs, _ = env.reset(seed=0)
    assert obs["user observation/interest"].shape == (3, 2)
    _, rewards, _, _, _ = env.step(np.array([[0, 1], [2, 3], [4, 5]]))
    assert rewards.shape == (3,) and rewards.dtype == np.float32
    # documents can be observed too: shared by all users, repeated per user in the vector env
    env = RecommendationVectorEnv(story, horizon=2, runtime="numpy", observe=["available documents/quality"])
    obs, _ = env.reset(seed=0)
    assert obs["available documents/quality"].shape == (3, 7)
    np.testing.assert_array_equal(obs["available documents/quality"][0], obs["available documents/quality"][2])


def test_slates_of_distinct_documents():
    """The action spaces sample distinct documents; a slate repeating one is refused, naming the slate.

    Both are NumPy checks made before a runtime is asked for anything: one runtime is enough.
    """
    env = RecommendationVectorEnv(_ie_story(3), horizon=2, runtime="numpy")
    assert isinstance(env.action_space, SlateSpace) and env.single_action_space == SlateSpace(10, 2)
    env.action_space.seed(0)
    for _ in range(50):
        slates = env.action_space.sample()
        assert slates.shape == (3, 2) and env.action_space.contains(slates)
        assert all(len(set(row)) == 2 for row in slates.tolist())
    assert not env.action_space.contains(np.array([[0, 1], [3, 3], [2, 4]]))
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"^slate 1 \[3, 3\] repeats document 3; a slate's documents must be distinct$"):
        env.step(np.array([[0, 1], [3, 3], [2, 4]]))
    single = RecommendationEnv(_ie_story(1), horizon=2, runtime="numpy")
    single.reset(seed=0)
    with pytest.raises(ValueError, match=r"slate 0 \[7, 7\] repeats document 7"):
        single.step([7, 7])


def test_ecosystem_takes_the_use_case_option_names(tmp_path):
    from recosim.usecases.ecosystem import default_provider_means

    env = gymnasium.make("recosim/Ecosystem-v0", num_docs=12, num_providers=6, boost_cap=0.5, runtime="numpy")
    sim = env.unwrapped.simulator
    assert env.observation_space["available docs/provider"].high.max() == 5  # providers 0..5
    assert sim.num_docs == 12
    path = tmp_path / "means.npy"
    np.save(path, default_provider_means()[:4] + 1.0)
    env = gymnasium.make("recosim/Ecosystem-v0", num_docs=12, provider_means=str(path), runtime="numpy")
    assert env.observation_space["available docs/provider"].high.max() == 3
    with pytest.raises(ValueError, match=r"num_providers must be a whole number in \[1, 4\]"):
        gymnasium.make("recosim/Ecosystem-v0", num_docs=12, provider_means=str(path), num_providers=5, runtime="numpy")
    with pytest.raises(TypeError, match=r"Ecosystem-v0 has no option\(s\) \['num_provider'\]; its options are"):
        gymnasium.make("recosim/Ecosystem-v0", num_provider=3, runtime="numpy")


def test_bad_inputs_are_named():
    env = RecommendationEnv(_ie_story(1), horizon=2, runtime="numpy")
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"action has shape \(3,\); expected \(2,\)"):
        env.step(np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"outside \[0, 10\)"):
        env.step(np.array([0, 10]))
    with pytest.raises(ValueError, match="the story has 3; build the story for one user"):
        RecommendationEnv(_ie_story(3), runtime="numpy")
    with pytest.raises(NetworkError, match="'user state' is not an input of the policy 'slate'"):
        PolicySimulator(_ie_story(2), observe=["user state"], runtime="numpy")
    with pytest.raises(NetworkError, match="reward 'metrics/num_steps' has shape \\(\\)"):
        PolicySimulator(_ie_story(2), reward="metrics/num_steps", runtime="numpy")
    with pytest.raises(NetworkError, match="reward 'metrics/nothing' is not a 'variable/field'"):
        PolicySimulator(_ie_story(2), reward="metrics/nothing", runtime="numpy")
    with pytest.raises(NetworkError, match="policy 'user state' needs a field 'doc_index'"):
        PolicySimulator(_ie_story(2), policy="user state", runtime="numpy")
    with pytest.raises(ValueError, match="runtime must be one of"):
        PolicySimulator(_ie_story(2), runtime="torch")
    with pytest.raises(ValueError, match="horizon must be a positive integer"):
        RecommendationVectorEnv(_ie_story(2), horizon=0, runtime="numpy")
    with pytest.raises(TypeError, match="num_users is set by the environment"):
        gymnasium.make("recosim/InterestEvolution-v0", num_users=3, runtime="numpy")


@pytest.mark.needs_runtime("jax")
def test_steps_are_compiled_once_where_the_runtime_offers_compile(monkeypatch):
    """With a runtime that declares `compiles` and offers compile(fn), the three step functions compile once."""
    jax = pytest.importorskip("jax")
    from recosim.core import get_plugins

    monkeypatch.setattr(get_plugins().get_runtime("jax"), "compile", lambda self, fn: jax.jit(fn), raising=False)
    users, steps, seed = 5, 3, 2
    traj = to_numpy(make_runtime_for("jax", _ie_story(users), seed=0).trajectory(steps, seed=seed))
    env = RecommendationVectorEnv(_ie_story(users), horizon=steps, runtime="jax")
    env.reset(seed=seed)
    for t in range(steps):
        _, rewards, _, _, _ = env.step(traj["slate"]["doc_index"][t])
        np.testing.assert_allclose(rewards, traj["user response"]["reward"][t], rtol=1e-6, atol=1e-6)
    env.reset(seed=seed + 1)
    env.step(env.action_space.sample())
    env.step(env.action_space.sample())
    sim = env.simulator
    assert [f._cache_size() for f in (sim._reset, sim._first, sim._advance)] == [1, 1, 1]

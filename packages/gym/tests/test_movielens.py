"""``recosim/MovieLens-v0`` on a population saved from known parameters."""

from __future__ import annotations

from pathlib import Path

import gymnasium
import numpy as np
import pytest

import recosim.gym  # noqa: F401  (registers the environments)
from recosim.usecases.calibration.saved import CalibratedModel, save_model
from recosim.usecases.calibration.synthetic import synthetic_log

MOVIES = 12


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    truth, log = synthetic_log(num_users=10, num_movies=MOVIES, dim=2, min_length=3, seed=4)
    truth = dict(truth, popularity=truth["popularity"] + 3.0)  # most of the mass on the catalogue's few movies
    counts = np.bincount(log.movies, minlength=MOVIES)
    return save_model(
        tmp_path_factory.mktemp("ml") / "calibrated_model.npz",
        CalibratedModel(truth, log.genres, log.movie_ids, counts, 3),
    )


def test_session_watches_from_slates_and_remembers_them(model_file) -> None:
    env = gymnasium.make("recosim/MovieLens-v0", model=model_file, horizon=6, slate_size=3, runtime="numpy")
    assert env.action_space.nvec.tolist() == [MOVIES] * 3
    obs, _ = env.reset(seed=0)
    assert obs["history/watched"].shape == (MOVIES,) and obs["history/watched"].sum() == 0
    total, truncated, steps = 0.0, False, 0
    while not truncated:
        action = np.array([steps % MOVIES, (steps + 4) % MOVIES, (steps + 8) % MOVIES])
        obs, reward, terminated, truncated, _ = env.step(action)
        assert reward in (0.0, 1.0) and not terminated
        total += reward
        steps += 1
        assert obs["history/count"] == pytest.approx(total)
        assert obs["history/watched"].sum() == pytest.approx(total)
    assert steps == 6
    with pytest.raises(ValueError, match="outside"):
        env.reset(seed=1)
        env.step(np.array([0, 1, MOVIES]))


def test_needs_a_saved_model(tmp_path) -> None:
    from recosim.core.errors import UsageError

    with pytest.raises(UsageError, match="no such file"):
        gymnasium.make("recosim/MovieLens-v0", model=tmp_path / "missing.npz", runtime="numpy")


def test_vector_env_rewards_equal_the_story_for_the_same_seed_and_slates(model_file) -> None:
    from recosim.core.testing import make_runtime_for, to_numpy
    from recosim.usecases.calibration.saved import load_model
    from recosim.usecases.calibration.simulate import MovieLensStory, RandomRecommender

    users, steps, seed = 5, 4, 7
    story = MovieLensStory(load_model(model_file), users, RandomRecommender(3))
    traj = to_numpy(make_runtime_for("numpy", story, seed=0).trajectory(steps, seed=seed))
    env = gymnasium.make_vec("recosim/MovieLens-v0", num_envs=users, model=model_file, horizon=steps, slate_size=3,
                             runtime="numpy")  # fmt: skip
    obs, _ = env.reset(seed=seed)
    for t in range(steps):
        np.testing.assert_array_equal(obs["history/watched"], traj["history"]["watched"][t])
        obs, rewards, _, truncated, _ = env.step(traj["slate"]["doc_index"][t])
        np.testing.assert_array_equal(rewards, traj["metrics"]["reward"][t])
    assert truncated.all()

"""``recosim/MovieLens-v0``: a population calibrated to MovieLens 100K as a Gymnasium environment.

The model is a ``calibrated_model.npz`` written by ``recosim run calibration --out DIR``
(`recosim.usecases.calibration`); the story is
`recosim.usecases.calibration.simulate.MovieLensStory`, whose users are drawn from the
fitted population. The agent serves the slates (the story's own recommender is never
consulted).

* observation: ``history/watched`` (``[n_movies]``, 1 for the movies watched from earlier
  slates) and ``history/count`` (watches so far);
* action: ``slate_size`` movie indices (``MultiDiscrete``; index ``i`` is the ``i``-th
  movie of the saved model's ``movie_ids``);
* reward: 1 when the user watches a movie of the slate, else 0 (a watched movie shown
  again is never chosen).

>>> import gymnasium, recosim.gym  # doctest: +SKIP
>>> env = gymnasium.make("recosim/MovieLens-v0", model="runs/calibration/calibrated_model.npz")  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from recosim.gym.env import RecommendationEnv, RecommendationVectorEnv

__all__ = ["movielens_env", "movielens_vector_env"]


def _story(model: str | Path, users: int, slate_size: int) -> tuple[Any, dict[str, Any]]:
    from recosim.usecases.calibration.saved import load_model
    from recosim.usecases.calibration.simulate import MovieLensStory, RandomRecommender

    if model is None:
        raise TypeError("recosim/MovieLens-v0 needs model=PATH, a calibrated_model.npz from 'recosim run calibration'")
    if int(slate_size) != slate_size or slate_size < 1:
        raise ValueError(f"slate_size must be a positive integer, got {slate_size!r}")
    calibrated = load_model(model)
    story = MovieLensStory(calibrated, users, RandomRecommender(int(slate_size)))
    options = {
        "policy": "slate",
        "reward": "metrics/reward",
        "documents": "movies",
        "observe": ["history"],
        "observation_bounds": {"history/watched": (0.0, 1.0), "history/count": (0.0, np.inf)},
    }
    return story, options


def movielens_env(
    *, model: str | Path, horizon: int = 50, slate_size: int = 5, runtime: str = "jax"
) -> RecommendationEnv:
    """One user drawn from the calibrated population in ``model``."""
    story, options = _story(model, 1, slate_size)
    return RecommendationEnv(story, horizon=horizon, runtime=runtime, **options)


def movielens_vector_env(
    num_envs: int = 100, *, model: str | Path, horizon: int = 50, slate_size: int = 5, runtime: str = "jax"
) -> RecommendationVectorEnv:
    """``num_envs`` users drawn from the calibrated population, stepped together."""
    story, options = _story(model, num_envs, slate_size)
    return RecommendationVectorEnv(story, horizon=horizon, runtime=runtime, **options)

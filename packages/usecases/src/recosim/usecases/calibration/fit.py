"""Fitting the population by MAP, and a few users' interests by NUTS, with recosim-inference.

The training part of the split becomes one logged trajectory of `CalibrationStory`
(one step; every user's history padded to the longest). `fit_population` hands it to
`recosim.inference.fit_map` with the story's parameters and `log_prior`;
`sample_interests` holds out ``"user/interest"`` for a few users, fixes the movie
side at the MAP estimate and draws the interests with NUTS, returned as ArviZ data.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from recosim.core.plugins import DIFFERENTIABLE
from recosim.core.usecase import runtime_with
from recosim.usecases.calibration.data import InteractionLog, Split
from recosim.usecases.calibration.model import CalibrationStory, ModelShape, init_params, log_prior

__all__ = ["TrainingData", "training_data", "fit_population", "sample_interests"]


@dataclass(frozen=True)
class TrainingData:
    """Every user's training history, padded: ``movies`` and ``ratings`` (0..4) ``[users, max_length]``,
    ``length`` ``[users]``; ``shape`` the story's `ModelShape`."""

    movies: np.ndarray
    ratings: np.ndarray
    length: np.ndarray
    shape: ModelShape

    def logged(self, users: np.ndarray | None = None) -> dict[str, dict[str, np.ndarray]]:
        """The trajectory of these users (default: all) with leading ``[trajectories=1, steps=1]`` axes."""
        idx = np.arange(len(self.length)) if users is None else np.asarray(users)
        activity = (self.length[idx] - self.shape.min_length).astype(np.int32)
        return {
            "history": {"activity": activity[None, None], "movies": self.movies[idx][None, None]},
            "rating": {"ratings": self.ratings[idx][None, None]},
        }


def training_data(log: InteractionLog, split: Split, dim: int) -> TrainingData:
    """The padded training histories of every user, in time order."""
    train = split.train
    users, movies, ratings = log.users[train], log.movies[train], log.ratings[train]
    counts = np.bincount(users, minlength=log.num_users)
    if counts.min() < 1:
        empty = int(np.argmin(counts))
        raise ValueError(f"user {log.user_ids[empty]} has no training interactions")
    max_length = int(counts.max())
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pos = np.arange(len(users)) - starts[users]
    m = np.zeros((log.num_users, max_length), np.int32)
    r = np.zeros((log.num_users, max_length), np.int32)
    m[users, pos] = movies
    r[users, pos] = ratings - 1
    shape = ModelShape(log.genres, np.arange(log.num_users), max_length, int(counts.min()), int(dim))
    return TrainingData(m, r, counts.astype(np.int32), shape)


def fit_population(
    data: TrainingData,
    *,
    num_steps: int = 1000,
    learning_rate: float = 0.05,
    seed: int = 0,
    runtime: str | None = None,
    checkpoint: Path | None = None,
    checkpoint_every: int = 50,
    callback: Callable[[int, Any], None] | None = None,
) -> Any:
    """MAP parameters of `CalibrationStory` on the training histories (a `ParameterFit`).

    With ``checkpoint`` a rerun resumes from the last finished chunk of steps.
    """
    from recosim.inference import fit_map

    shape = data.shape
    start = init_params(len(shape.users), shape.num_movies, shape.genres.shape[1], shape.dim, seed)
    return fit_map(
        lambda params: CalibrationStory(params, shape),
        start,
        data.logged(),
        log_prior,
        runtime=runtime or runtime_with((DIFFERENTIABLE,)),
        num_steps=num_steps,
        learning_rate=learning_rate,
        seed=seed,
        checkpoint=checkpoint,
        checkpoint_every=checkpoint_every,
        resume=checkpoint is not None,
        quiet=True,
        callback=callback,
    )


def sample_interests(
    data: TrainingData,
    params: Mapping[str, np.ndarray],
    users: np.ndarray,
    *,
    num_chains: int = 2,
    num_warmup: int = 200,
    num_samples: int = 200,
    seed: int = 0,
    runtime: str | None = None,
) -> Any:
    """NUTS draws of the interests of ``users`` given their training histories, the movie side fixed
    at ``params``; a `recosim.inference.Posterior` (``.to_arviz()`` for ArviZ data)."""
    from recosim.inference import sample_posterior

    users = np.asarray(users)
    shape = ModelShape(data.shape.genres, users, data.shape.max_length, data.shape.min_length, data.shape.dim)
    story = CalibrationStory(params, shape, latent_interest=True)
    logged = {k: {f: x[0] for f, x in v.items()} for k, v in data.logged(users).items()}
    return sample_posterior(
        story,
        logged,
        ["user/interest"],
        runtime=runtime or runtime_with((DIFFERENTIABLE,)),
        method="nuts",
        num_chains=num_chains,
        num_warmup=num_warmup,
        num_samples=num_samples,
        seed=seed,
        init={"user/interest": np.asarray(params["interest"])[users]},
        init_spread=0.1,
        quiet=True,
    )

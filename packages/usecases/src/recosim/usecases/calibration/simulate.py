"""The calibrated population as a recosim story whose recommender is a slot.

`MovieLensStory` draws ``num_users`` new users from the fitted population (interests
from the Gaussian with the mean and covariance of the fitted interests, rating
generosity from a Normal fitted the same way) and steps them against a recommender:

* ``"movies"``: the catalogue (genre flags, log training popularity), constant;
* ``"history"``: what the platform has seen, ``watched`` ``[users, movies]`` (1: watched
  from a slate), and ``count`` (watches so far);
* ``"slate"``: ``doc_index`` ``[users, slate_size]``, the recommender's slate, read from
  ``"movies"`` and ``"history"`` (the slot: any object with ``slate(movies, history)``);
* ``"response"``: the calibrated next-movie choice restricted to what is on offer: the
  user picks slate movie ``m`` with the model's catalogue probability
  ``exp(z . f_m + b_m) / sum_unwatched exp(z . f + b)``, and otherwise watches
  elsewhere (the no-choice option, ``choice == slate_size``, whose logit is the
  log-sum of every unwatched movie off the slate); the rating of a watch is the fitted
  ordinal response;
* ``"metrics"``: ``reward`` 1 for a watch from the slate, else 0; ``rating`` (1..5, 0 without a watch).

Recommenders: `PopularityRecommender` (most-watched unwatched movies),
`RandomRecommender` (uniform over unwatched movies) and `SoftmaxRecommender`
(Plackett–Luce over learnt per-movie scores plus the user's genre history times a
learnt genre affinity), which `train_recommender` trains with
`recosim.inference.train_reinforce`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from recosim.core import FieldSpec, Story, Value, ValueSpec, Variable, get_backend, rv, value
from recosim.core.plugins import DIFFERENTIABLE
from recosim.core.usecase import check_runtime, runtime_with
from recosim.library.choice import IteratedMultinomialLogit, MultinomialLogitChoiceModel
from recosim.usecases.calibration.model import cutpoints
from recosim.usecases.calibration.saved import CalibratedModel

__all__ = [
    "MovieLensStory",
    "PopularityRecommender",
    "RandomRecommender",
    "SoftmaxRecommender",
    "compare_recommenders",
    "train_recommender",
    "softmax_init",
]


def _masked(scores: Any, watched: Any) -> Any:
    np_ = get_backend().np
    return np_.where(watched > 0.5, np_.full_like(scores, -np.inf), scores)


class PopularityRecommender:
    """The ``k`` movies with the most training watches that the user has not watched."""

    def __init__(self, slate_size: int) -> None:
        self.slate_size = slate_size

    def slate(self, movies: Value, history: Value) -> Value:
        B = get_backend()
        watched = history.get("watched")
        scores = _masked(movies.get("popularity") + B.np.zeros_like(watched), watched)
        _, idx = B.top_k(scores, self.slate_size)
        return Value(doc_index=B.cast(idx, "int32"))


class RandomRecommender:
    """``k`` distinct movies drawn uniformly from those the user has not watched."""

    def __init__(self, slate_size: int) -> None:
        self.slate_size = slate_size

    def slate(self, movies: Value, history: Value) -> Value:
        np_ = get_backend().np
        watched = history.get("watched")
        return Value(doc_index=IteratedMultinomialLogit(_masked(np_.zeros_like(watched), watched), self.slate_size))


class SoftmaxRecommender:
    """Plackett–Luce slates over ``item[m] + h_u . (A g_m)`` for unwatched movies, ``h_u`` the genre shares of
    the user's watches so far; ``params = {"item": [movies], "genre_affinity": [genres, genres]}``."""

    def __init__(self, params: Mapping[str, Any], slate_size: int) -> None:
        self.params = params
        self.slate_size = slate_size

    def slate(self, movies: Value, history: Value) -> Value:
        B = get_backend()
        np_ = B.np
        watched = history.get("watched")
        genres = movies.get("genres")
        shares = np_.matmul(watched, genres) / np_.maximum(history.get("count"), 1.0)[:, None]
        scores = self.params["item"] + np_.matmul(
            np_.matmul(shares, self.params["genre_affinity"]), np_.transpose(genres)
        )
        return Value(doc_index=IteratedMultinomialLogit(_masked(scores, watched), self.slate_size))


def softmax_init(model: CalibratedModel) -> dict[str, np.ndarray]:
    """Start the learnt recommender from popularity: ``item = 3 log(1 + training watches)``, no genre term.

    The factor 3 makes the Plackett–Luce slates mostly popular movies, as the popularity recommender's are.
    """
    g = model.genres.shape[1]
    return {
        "item": (3.0 * np.log1p(model.train_counts)).astype(np.float32),
        "genre_affinity": np.zeros((g, g), np.float32),
    }


class MovieLensStory(Story):
    """``num_users`` users drawn from the calibrated population, served by ``recommender`` (see the module)."""

    def __init__(self, model: CalibratedModel, num_users: int, recommender: Any) -> None:
        if not hasattr(recommender, "slate") or not hasattr(recommender, "slate_size"):
            raise TypeError("recommender needs a slate_size and a slate(movies, history) method")
        if recommender.slate_size > model.num_movies:
            raise ValueError(f"slate_size {recommender.slate_size} exceeds the {model.num_movies} movies")
        self.model = model
        self.num_users = int(num_users)
        self.recommender = recommender
        z = np.asarray(model.params["interest"], np.float64)
        cov = np.cov(z, rowvar=False) + 1e-6 * np.eye(z.shape[1])
        self.interest_loc = z.mean(0).astype(np.float32)
        self.interest_tril = np.linalg.cholesky(cov).astype(np.float32)
        bias = np.asarray(model.params["user_bias"], np.float64)
        self.bias_loc, self.bias_scale = np.float32(bias.mean()), np.float32(max(bias.std(), 1e-3))

    def variables(self) -> list[Variable]:
        m = self.model
        n, k, d, nm = self.num_users, self.recommender.slate_size, m.dim, m.num_movies
        p = {key: np.asarray(v, np.float32) for key, v in m.params.items()}
        genres = m.genres.astype(np.float32)
        feats = np.asarray(genres @ p["genre_weights"] + p["embedding"], np.float32)
        popularity = np.log1p(m.train_counts).astype(np.float32)
        movies = Variable(
            "movies", ValueSpec(genres=FieldSpec(genres.shape, "float32"), popularity=FieldSpec((nm,), "float32"))
        )
        user = Variable("user state", ValueSpec(interest=FieldSpec((n, d), "float32"), bias=FieldSpec((n,), "float32")))
        history = Variable(
            "history", ValueSpec(watched=FieldSpec((n, nm), "float32"), count=FieldSpec((n,), "float32"))
        )
        slate = Variable("slate", ValueSpec(doc_index=FieldSpec((n, k), "int32")))
        response = Variable(
            "response",
            ValueSpec(choice=FieldSpec((n,), "int32"), movie=FieldSpec((n,), "int32"), rating=FieldSpec((n,), "int32")),
        )
        metrics = Variable("metrics", ValueSpec(reward=FieldSpec((n,), "float32"), rating=FieldSpec((n,), "float32")))

        def catalogue() -> Value:
            B = get_backend()
            return Value(genres=B.asarray(genres), popularity=B.asarray(popularity))

        def draw_users() -> Value:
            B = get_backend()
            loc = B.np.zeros((n, d), "float32") + self.interest_loc
            interest = rv("interest", B.tfd.MultivariateNormalTriL(loc=loc, scale_tril=self.interest_tril))
            bias = rv("bias", B.tfd.Normal(B.np.zeros((n,), "float32") + self.bias_loc, self.bias_scale))
            return Value(interest=interest, bias=bias)

        def keep_users(previous: Value) -> Value:
            return previous

        def empty_history() -> Value:
            np_ = get_backend().np
            return Value(watched=np_.zeros((n, nm), "float32"), count=np_.zeros((n,), "float32"))

        def add_watch(previous: Value, last: Value) -> Value:
            B = get_backend()
            movie = last.get("movie")
            seen = B.one_hot(B.np.maximum(movie, 0), nm, dtype="float32") * B.cast(movie >= 0, "float32")[:, None]
            return Value(
                watched=B.np.maximum(previous.get("watched"), seen), count=previous.get("count") + B.np.sum(seen, -1)
            )

        def serve(catalogue_value: Value, history_value: Value) -> Value:
            return self.recommender.slate(catalogue_value, history_value)

        def respond(users: Value, history_value: Value, slate_value: Value) -> Value:
            B = get_backend()
            np_ = B.np
            z = users.get("interest")
            logits = np_.matmul(z, np_.transpose(B.asarray(feats))) + p["popularity"]  # [n, movies]
            logits = _masked(logits, history_value.get("watched"))
            idx = slate_value.get("doc_index")
            on_slate = np_.take_along_axis(logits, idx, axis=-1)
            offered = np_.sum(B.one_hot(idx, nm, dtype="float32"), axis=1) > 0.5
            elsewhere = B.logsumexp(np_.where(offered, np_.full_like(logits, -np.inf), logits), axis=-1)
            chooser = MultinomialLogitChoiceModel(no_choice_logit=elsewhere)
            choice = rv("choice", chooser.choice(on_slate).get("choice"))
            choice = B.cast(choice, "int32")
            watched = choice < k
            picked = np_.take_along_axis(idx, np_.minimum(choice, k - 1)[:, None], axis=-1)[:, 0]
            movie = np_.where(watched, picked, np_.full_like(picked, -1))
            affinity = np_.sum(z * np_.take(B.asarray(feats), picked, axis=0), axis=-1)
            loc = p["rating_scale"] * affinity + np_.take(p["quality"], picked, axis=0) + users.get("bias")
            rating = rv("rating", B.tfd.OrderedLogistic(cutpoints=cutpoints(p), loc=loc, dtype="int32"))
            return Value(choice=choice, movie=movie, rating=B.cast(rating, "int32"))

        def measure(last: Value) -> Value:
            B = get_backend()
            watched = B.cast(last.get("choice") < k, "float32")
            return Value(reward=watched, rating=watched * (B.cast(last.get("rating"), "float32") + 1.0))

        movies.initial_value = value(catalogue)
        movies.value = value(catalogue)
        user.initial_value = value(draw_users)
        user.value = value(keep_users, (user.previous,))
        history.initial_value = value(empty_history)
        history.value = value(add_watch, (history.previous, response.previous))
        slate.initial_value = value(serve, (movies, history))
        slate.value = value(serve, (movies, history))
        response.initial_value = value(respond, (user, history, slate))
        response.value = value(respond, (user, history, slate))
        metrics.initial_value = value(measure, (response,))
        metrics.value = value(measure, (response,))
        return [movies, user, history, slate, response, metrics]


def train_recommender(
    model: CalibratedModel, *, num_users: int, horizon: int, slate_size: int, num_steps: int, seed: int = 0,
    runtime: str | None = None,
) -> Any:
    """REINFORCE on `SoftmaxRecommender` (group baseline), started from popularity; a `TrainingResult`."""
    from recosim.inference import train_reinforce

    return train_reinforce(
        lambda params: MovieLensStory(model, num_users, SoftmaxRecommender(params, slate_size)),
        softmax_init(model),
        policy="slate",
        reward="metrics/reward",
        horizon=horizon,
        runtime=runtime or runtime_with((DIFFERENTIABLE,)),
        num_steps=num_steps,
        baseline="group",
        group_size=4,
        learning_rate=0.05,
        seed=seed,
        quiet=True,
    )


def _evaluate(
    story: MovieLensStory, horizon: int, num_runs: int, seed: int, runtime: str | None = None
) -> dict[str, float]:
    runtime_class = check_runtime(runtime or runtime_with((DIFFERENTIABLE,)))
    rewards, ratings = [], []
    for r in range(num_runs):
        traj = runtime_class(story, seed=seed * 1000 + r).trajectory(horizon)
        rewards.append(np.asarray(traj["metrics"].get("reward")))
        ratings.append(np.asarray(traj["metrics"].get("rating")))
    reward = np.stack(rewards)  # [runs, T, users]
    rating = np.stack(ratings)
    per_run = reward.mean(axis=(1, 2))
    watched = reward > 0.5
    return {
        "watch_rate": float(per_run.mean()),
        "watch_rate_se": float(reward.mean(axis=1).std(ddof=1) / np.sqrt(reward.shape[0] * reward.shape[2]))
        if reward.size > 1
        else 0.0,
        "mean_rating": float(rating[watched].mean()) if watched.any() else float("nan"),
        "runs": num_runs,
    }


def compare_recommenders(
    model: CalibratedModel,
    *,
    num_users: int,
    horizon: int,
    slate_size: int,
    reinforce_steps: int,
    num_runs: int = 4,
    seed: int = 0,
    runtime: str | None = None,
) -> dict[str, Any]:
    """Popularity, random and (``reinforce_steps > 0``) REINFORCE-trained recommenders on the same population.

    Every recommender runs the same seeds, so the users drawn match across recommenders.
    """
    out: dict[str, Any] = {}
    recommenders: dict[str, Any] = {
        "popularity": PopularityRecommender(slate_size),
        "random": RandomRecommender(slate_size),
    }
    if reinforce_steps > 0:
        trained = train_recommender(
            model, num_users=num_users, horizon=horizon, slate_size=slate_size, num_steps=reinforce_steps, seed=seed,
            runtime=runtime,
        )
        recommenders["reinforce"] = SoftmaxRecommender(trained.params, slate_size)
        out["reinforce_learning_curve"] = np.asarray(trained.learning_curve, np.float64).tolist()
    results = {
        name: _evaluate(MovieLensStory(model, num_users, rec), horizon, num_runs, seed, runtime)
        for name, rec in recommenders.items()
    }
    out.update(
        recommenders=results,
        num_users=num_users,
        horizon=horizon,
        slate_size=slate_size,
        reward="watches from the slate per user and step",
    )
    return out

"""The calibrated user model: who watches what next, and how they rate it.

For user ``u`` with interest ``z_u`` (``[dim]``) and movie ``m`` with features
``f_m = g_m W + e_m`` (genre flags ``g_m`` times genre loadings ``W``, plus a learnt
embedding ``e_m``) and popularity bias ``b_m``:

* **next movie**: a multinomial-logit choice over the catalogue with logits
  ``z_u . f_m + b_m``, the movies the user has already watched excluded. A user's
  history of ``L`` distinct movies is therefore a Plackett–Luce sequence
  (`WatchSequence`), scored in ``O(n_movies + L)`` per user;
* **rating** given a watch: ordinal logistic (`SequenceRatings`) with location
  ``s * z_u . f_m + q_m + a_u`` (scale ``s``, movie quality ``q_m``, user
  generosity ``a_u``) and four increasing cut points, ratings 1..5 stored as 0..4;
* **activity**: the number of interactions beyond the fewest any user has, negative
  binomial.

`CalibrationStory` holds these as recosim variables: for the population fit the
interests are parameters (MAP, ``N(0, I)`` prior in `log_prior`); with
``latent_interest=True`` they are a random variable ``"user/interest"`` that the
samplers can hold out. Everything is written with `recosim.core.get_backend`
operations, so the story runs on every runtime and differentiates on JAX and TF.

>>> import numpy as np
>>> d = WatchSequence(np.log(np.array([1.0, 2.0, 1.0], np.float32)), length=np.int32(2), max_length=2)
>>> round(float(d.log_prob(np.array([1, 0], np.int32))), 4)  # 2/4 * 1/2
-1.3863
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from recosim.core import FieldSpec, Story, Value, ValueSpec, Variable, get_backend, rv, value
from recosim.core.support import whole_numbers

__all__ = [
    "NUM_RATINGS",
    "CalibrationStory",
    "ModelShape",
    "SequenceRatings",
    "WatchSequence",
    "cutpoints",
    "init_params",
    "log_prior",
    "movie_features",
    "numpy_params",
    "PRIOR_SCALES",
]

NUM_RATINGS = 5
PRIOR_SCALES = {
    "interest": 1.0,
    "embedding": 0.3,
    "genre_weights": 1.0,
    "popularity": 3.0,
    "quality": 1.0,
    "user_bias": 1.0,
    "rating_scale": 1.0,
    "cut_start": 3.0,
    "cut_log_gaps": 1.0,
    "activity_log_count": 3.0,
    "activity_logit": 3.0,
}
"""Standard deviations of the zero-mean Gaussian priors of the MAP fit (one per parameter)."""


class WatchSequence:
    """Ordered distinct movies ``[..., max_length]`` chosen one by one by multinomial logit.

    The first movie is drawn from ``softmax(logits)``, each next one from the softmax
    over the movies not yet chosen; positions at or past ``length`` are padding
    (value 0, not scored). ``log_prob`` uses the running sum of the chosen movies'
    weights, so it costs ``O(n + max_length)``; repeated movies score ``-inf``.
    Sampling takes the ``max_length`` largest of ``logits + Gumbel noise``.
    """

    def __init__(self, logits: Any, length: Any, max_length: int) -> None:
        B = get_backend()
        self.logits = B.cast(B.asarray(logits), "float32")
        self.length = B.cast(B.asarray(length), "int32")
        self.max_length = int(max_length)
        self.num_items = int(self.logits.shape[-1])
        if self.max_length > self.num_items:
            raise ValueError(f"max_length {self.max_length} exceeds the {self.num_items} movies")

    @property
    def event_shape(self) -> tuple[int, ...]:
        return (self.max_length,)

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return tuple(self.logits.shape[:-1])

    @property
    def dtype(self) -> str:
        return "int32"

    def mask(self) -> Any:
        """``[..., max_length]`` booleans: the positions below ``length``."""
        B = get_backend()
        return B.np.arange(self.max_length, dtype="int32") < self.length[..., None]

    def in_support(self, seq: Any) -> Any:
        B = get_backend()
        seq = B.asarray(seq)
        ok = whole_numbers(seq, B) & (seq >= 0) & (seq < self.num_items)
        return B.np.sum(B.cast(~ok, "int32"), axis=-1) == 0

    def log_prob(self, seq: Any) -> Any:
        B = get_backend()
        np_ = B.np
        seq = B.cast(B.asarray(seq), "int32")
        mask = self.mask()
        logits = self.logits + np_.zeros_like(B.cast(seq[..., :1], "float32"))
        top = B.stop_gradient(np_.max(logits, axis=-1, keepdims=True))
        weights = np_.exp(logits - top)
        total = np_.sum(weights, axis=-1, keepdims=True)
        chosen = np_.take_along_axis(logits, seq, axis=-1) - top
        w = np_.where(mask, np_.exp(chosen), np_.zeros_like(chosen))
        taken = np_.cumsum(w, axis=-1) - w  # the weight already chosen before each position
        remaining = np_.maximum(total - taken, total * 1e-6)
        per_step = np_.where(mask, chosen - np_.log(remaining), np_.zeros_like(chosen))
        # repeats: sort the scored movies (padding made distinct and out of range) and compare neighbours
        pad = self.num_items + np_.arange(self.max_length, dtype="int32")
        ordered = np_.sort(np_.where(mask, seq, pad + np_.zeros_like(seq)), axis=-1)
        repeated = np_.sum(B.cast(ordered[..., 1:] == ordered[..., :-1], "int32"), axis=-1) > 0
        lp = np_.sum(per_step, axis=-1)
        return np_.where(repeated, np_.full_like(lp, -np.inf), lp)

    def sample(self, sample_shape: Any = (), seed: Any = None) -> Any:
        B = get_backend()
        np_ = B.np
        shape = (sample_shape,) if isinstance(sample_shape, int) else tuple(sample_shape)
        tiny = np.float32(np.finfo(np.float32).tiny)
        u = B.sample(B.tfd.Uniform(low=tiny, high=np.float32(1.0)), (*shape, *self.logits.shape), seed)
        _, idx = B.top_k(self.logits - np_.log(-np_.log(u)), self.max_length)
        idx = B.cast(idx, "int32")
        return np_.where(self.mask(), idx, np_.zeros_like(idx))


class SequenceRatings:
    """Ordinal-logistic ratings ``[..., max_length]`` (0..4) at the positions ``mask`` marks; padding is 0."""

    def __init__(self, cutpoints: Any, loc: Any, mask: Any) -> None:
        B = get_backend()
        self.inner = B.tfd.OrderedLogistic(cutpoints=cutpoints, loc=loc, dtype="int32")
        self.mask = mask

    @property
    def dtype(self) -> str:
        return "int32"

    def in_support(self, ratings: Any) -> Any:
        B = get_backend()
        r = B.asarray(ratings)
        ok = whole_numbers(r, B) & (r >= 0) & (r < NUM_RATINGS)
        return B.np.sum(B.cast(~ok, "int32"), axis=-1) == 0

    def log_prob(self, ratings: Any) -> Any:
        B = get_backend()
        np_ = B.np
        lp = self.inner.log_prob(B.cast(ratings, "int32"))
        return np_.sum(np_.where(self.mask, lp, np_.zeros_like(lp)), axis=-1)

    def sample(self, sample_shape: Any = (), seed: Any = None) -> Any:
        B = get_backend()
        r = B.cast(B.sample(self.inner, sample_shape, seed), "int32")
        return B.np.where(self.mask, r, B.np.zeros_like(r))


@dataclass(frozen=True)
class ModelShape:
    """Sizes and constants the story is built on: ``genres`` ``[n_movies, n_genres]`` flags, users scored,
    the padded history length and the fewest interactions of any user (the activity's offset)."""

    genres: np.ndarray
    users: np.ndarray
    max_length: int
    min_length: int
    dim: int

    @property
    def num_movies(self) -> int:
        return int(self.genres.shape[0])


def movie_features(params: Mapping[str, Any], genres: Any) -> Any:
    """``f = genres @ W + embedding``: ``[n_movies, dim]``."""
    B = get_backend()
    return B.np.matmul(B.asarray(genres), params["genre_weights"]) + params["embedding"]


def cutpoints(params: Mapping[str, Any]) -> Any:
    """Four increasing cut points: ``cut_start`` then positive gaps ``exp(cut_log_gaps)``."""
    B = get_backend()
    np_ = B.np
    gaps = np_.exp(params["cut_log_gaps"])
    start = np_.reshape(params["cut_start"], (1,))
    return np_.concatenate([start, start + np_.cumsum(gaps)], axis=0)


class CalibrationStory(Story):
    """Variables ``"history"`` (``activity`` ``[n]``, ``movies`` ``[n, max_length]``) and ``"rating"``
    (``ratings`` ``[n, max_length]``) for the users ``shape.users``; with ``latent_interest`` also
    ``"user"`` (``interest`` ``[n, dim]`` drawn from ``N(0, I)``). All variables are static."""

    def __init__(self, params: Mapping[str, Any], shape: ModelShape, *, latent_interest: bool = False) -> None:
        self.params = params
        self.shape = shape
        self.latent_interest = latent_interest

    def variables(self) -> list[Variable]:
        s = self.shape
        n = len(s.users)
        p = self.params
        users = np.asarray(s.users, np.int32)
        history = Variable(
            "history",
            ValueSpec(activity=FieldSpec((n,), "int32"), movies=FieldSpec((n, s.max_length), "int32")),
        )
        rating = Variable("rating", ValueSpec(ratings=FieldSpec((n, s.max_length), "int32")))

        def interest_of(user: Value | None) -> Any:
            if user is not None:
                return user.get("interest")
            return get_backend().np.take(p["interest"], users, axis=0)

        def watch(user: Value | None = None) -> Value:
            B = get_backend()
            np_ = B.np
            z = interest_of(user)
            feats = movie_features(p, s.genres)
            logits = np_.matmul(z, np_.transpose(feats)) + p["popularity"]
            count = np_.exp(p["activity_log_count"]) + np_.zeros((n,), "float32")
            activity = rv("activity", B.tfd.NegativeBinomial(total_count=count, logits=p["activity_logit"]))
            activity = B.cast(activity, "int32")  # TFP draws counts as floats
            length = np_.minimum(activity + s.min_length, s.max_length)
            movies = rv("movies", WatchSequence(logits, length, s.max_length))
            return Value(activity=activity, movies=movies)

        def rate(history_value: Value, user: Value | None = None) -> Value:
            B = get_backend()
            np_ = B.np
            z = interest_of(user)
            movies = history_value.get("movies")
            feats = np_.take(movie_features(p, s.genres), movies, axis=0)  # [n, L, dim]
            affinity = np_.sum(z[:, None, :] * feats, axis=-1)
            loc = p["rating_scale"] * affinity + np_.take(p["quality"], movies, axis=0)
            loc = loc + np_.take(p["user_bias"], users, axis=0)[:, None]
            length = np_.minimum(B.cast(history_value.get("activity"), "int32") + s.min_length, s.max_length)
            mask = np_.arange(s.max_length, dtype="int32") < length[:, None]
            return Value(ratings=rv("ratings", SequenceRatings(cutpoints(p), loc, mask)))

        if not self.latent_interest:
            history.initial_value = value(watch)
            rating.initial_value = value(rate, (history,))
            return [history, rating]
        user = Variable("user", ValueSpec(interest=FieldSpec((n, s.dim), "float32")))

        def draw_interest() -> Value:
            B = get_backend()
            loc = B.np.zeros((n, s.dim), "float32")
            return Value(interest=B.tfd.Normal(loc, 1.0))

        user.initial_value = value(draw_interest)
        history.initial_value = value(watch, (user,))
        rating.initial_value = value(rate, (history, user))
        return [user, history, rating]


def init_params(num_users: int, num_movies: int, num_genres: int, dim: int, seed: int = 0) -> dict[str, np.ndarray]:
    """A starting point: small random interests, embeddings and loadings, flat biases, cut points at the
    logistic quantiles of a typical rating histogram."""
    rng = np.random.default_rng([int(seed), 0xCA1])
    f = np.float32
    return {
        "interest": (0.1 * rng.standard_normal((num_users, dim))).astype(f),
        "embedding": (0.01 * rng.standard_normal((num_movies, dim))).astype(f),
        "genre_weights": (0.1 * rng.standard_normal((num_genres, dim))).astype(f),
        "popularity": np.zeros(num_movies, f),
        "quality": np.zeros(num_movies, f),
        "user_bias": np.zeros(num_users, f),
        "rating_scale": np.asarray(1.0, f),
        "cut_start": np.asarray(-3.0, f),
        "cut_log_gaps": np.log(np.asarray([1.5, 1.5, 2.0], f)),
        "activity_log_count": np.asarray(0.0, f),
        "activity_logit": np.asarray(3.0, f),
    }


def log_prior(params: Mapping[str, Any]) -> Any:
    """The sum of the zero-mean Gaussian log-densities of `PRIOR_SCALES` (constants dropped)."""
    B = get_backend()
    total = 0.0
    for name, scale in PRIOR_SCALES.items():
        x = params[name]
        total = total - 0.5 * B.np.sum(x * x) / (scale * scale)
    return total


def numpy_params(params: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Parameters as float32 NumPy arrays."""
    return {k: np.asarray(v, np.float32) for k, v in params.items()}

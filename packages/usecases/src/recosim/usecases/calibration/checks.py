"""Validation of a fitted population on the held-out part of a time split.

* `held_out_log_likelihoods`: the mean log-probability per held-out interaction of
  the next movie, for the model, a popularity model (training counts plus one) and a
  uniform model, each a multinomial logit over the *same* candidates: every movie the
  user has not watched before (training and earlier held-out interactions);
* `predictive_checks`: held-out statistics against the same statistics of
  continuations simulated from the model (each user's training history continued by as
  many movies as they really held out; activity drawn from the fitted distribution),
  each with a distance:

  - item popularity: total-variation distance between the rank-ordered shares, and the
    absolute difference of the Gini coefficients;
  - genre shares: total-variation distance;
  - interactions per user: Kolmogorov–Smirnov distance between held-out counts;
  - ratings: total-variation distance between the histograms.

All in NumPy (float64), from the parameters of `recosim.usecases.calibration.model`.

>>> import numpy as np
>>> round(gini(np.array([1.0, 1.0, 1.0, 1.0])), 6), round(gini(np.array([0.0, 0.0, 0.0, 4.0])), 6)
(0.0, 0.75)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from recosim.usecases.calibration.data import InteractionLog, Split, held_out_count

__all__ = [
    "expit",
    "CheckResult",
    "gini",
    "held_out_log_likelihoods",
    "held_out_rating_log_likelihood",
    "logits_of",
    "predictive_checks",
    "rating_probabilities",
    "total_variation",
    "ks_distance",
]


def expit(x: Any) -> Any:
    """The logistic function ``1 / (1 + exp(-x))``, without overflow for large ``|x|``."""
    x = np.asarray(x, np.float64)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def logits_of(params: Mapping[str, np.ndarray], genres: np.ndarray, users: Any = slice(None)) -> np.ndarray:
    """The model's next-movie logits ``z_u . f_m + b_m``: ``[users, n_movies]`` float64."""
    p = {k: np.asarray(v, np.float64) for k, v in params.items()}
    feats = genres.astype(np.float64) @ p["genre_weights"] + p["embedding"]
    return p["interest"][users] @ feats.T + p["popularity"]


def rating_probabilities(params: Mapping[str, np.ndarray], genres: np.ndarray, users: Any, movies: Any) -> np.ndarray:
    """``P(rating = 1..5)`` for pairs ``(users[i], movies[i])``: ``[n, 5]``."""
    p = {k: np.asarray(v, np.float64) for k, v in params.items()}
    feats = genres.astype(np.float64) @ p["genre_weights"] + p["embedding"]
    loc = p["rating_scale"] * np.sum(p["interest"][users] * feats[movies], axis=-1)
    loc = loc + p["quality"][movies] + p["user_bias"][users]
    cuts = p["cut_start"] + np.concatenate([[0.0], np.cumsum(np.exp(p["cut_log_gaps"]))])
    above = expit(loc[:, None] - cuts[None, :])  # P(rating > k + 1)
    upper = np.concatenate([np.ones((len(loc), 1)), above], axis=1)
    lower = np.concatenate([above, np.zeros((len(loc), 1))], axis=1)
    return np.clip(upper - lower, 1e-12, 1.0)


def _sequences(log: InteractionLog) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    counts = np.bincount(log.users, minlength=log.num_users)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pos = np.arange(len(log)) - starts[log.users]
    seq = np.zeros((log.num_users, int(counts.max())), np.int64)
    seq[log.users, pos] = log.movies
    return seq, pos, counts


def _sequence_log_probs(logits: np.ndarray, seq: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per position, the log-probability of the movie among those not yet watched: ``[users, max_len]``."""
    mask = np.arange(seq.shape[1])[None, :] < counts[:, None]
    top = logits.max(axis=1, keepdims=True)
    weights = np.exp(logits - top)
    total = weights.sum(axis=1, keepdims=True)
    chosen = np.take_along_axis(logits, seq, axis=1) - top
    w = np.where(mask, np.exp(chosen), 0.0)
    taken = np.cumsum(w, axis=1) - w
    return np.where(mask, chosen - np.log(np.maximum(total - taken, 1e-300)), 0.0)


def held_out_log_likelihoods(log: InteractionLog, split: Split, params: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Mean next-movie log-likelihood per held-out interaction: ``model``, ``popularity``, ``uniform``."""
    seq, pos, counts = _sequences(log)
    held = np.zeros_like(seq, dtype=bool)
    held[log.users[split.test], pos[split.test]] = True
    popularity = np.log(np.bincount(log.movies[split.train], minlength=log.num_movies) + 1.0)
    candidates = {
        "model": logits_of(params, log.genres),
        "popularity": np.broadcast_to(popularity, (log.num_users, log.num_movies)),
        "uniform": np.zeros((log.num_users, log.num_movies)),
    }
    out = {}
    for name, logits in candidates.items():
        lp = _sequence_log_probs(np.asarray(logits, np.float64), seq, counts)
        out[name] = float(lp[held].mean())
    return out


def held_out_rating_log_likelihood(
    log: InteractionLog, split: Split, params: Mapping[str, np.ndarray]
) -> dict[str, float]:
    """Mean log-probability per held-out rating: the model's, and the training histogram's."""
    test = split.test
    probs = rating_probabilities(params, log.genres, log.users[test], log.movies[test])
    r = log.ratings[test] - 1
    hist = np.bincount(log.ratings[split.train] - 1, minlength=5) + 1.0
    return {
        "model": float(np.mean(np.log(probs[np.arange(len(r)), r]))),
        "histogram": float(np.mean(np.log(hist[r] / hist.sum()))),
    }


def gini(counts: np.ndarray) -> float:
    """The Gini coefficient of non-negative counts (0: all equal; ``1 - 1/n``: one holds everything)."""
    x = np.sort(np.asarray(counts, np.float64))
    n = len(x)
    if n == 0 or x.sum() == 0:
        return 0.0
    cum = np.cumsum(x)
    return float((n + 1 - 2 * np.sum(cum) / cum[-1]) / n)


def total_variation(p: np.ndarray, q: np.ndarray) -> float:
    """Half the L1 distance between two histograms, each normalised to sum to one."""
    p = np.asarray(p, np.float64) / max(np.sum(p), 1e-300)
    q = np.asarray(q, np.float64) / max(np.sum(q), 1e-300)
    return float(0.5 * np.abs(p - q).sum())


def ks_distance(a: np.ndarray, b: np.ndarray) -> float:
    """The largest gap between the empirical distribution functions of samples ``a`` and ``b``."""
    grid = np.union1d(a, b)
    fa = np.searchsorted(np.sort(a), grid, side="right") / len(a)
    fb = np.searchsorted(np.sort(b), grid, side="right") / len(b)
    return float(np.max(np.abs(fa - fb)))


@dataclass(frozen=True)
class CheckResult:
    """One predictive check: the observed and simulated statistic (per replicate) and their distances."""

    observed: np.ndarray
    simulated: np.ndarray
    distances: np.ndarray

    @property
    def distance(self) -> float:
        return float(np.mean(self.distances))


def _negative_binomial(rng: np.random.Generator, log_count: float, logit: float, size: int) -> np.ndarray:
    # TFP's parameterisation: logits of the success probability; mean = r * exp(logit)
    r = float(np.exp(log_count))
    p_success = float(expit(logit))
    return rng.negative_binomial(r, 1.0 - p_success, size=size)


def _held_out_for_train(train_length: np.ndarray, max_total: int) -> np.ndarray:
    """Held-out counts of users whose training part has ``train_length`` interactions."""
    totals = np.arange(max_total + 1)
    train_of_total = totals - held_out_count(totals)
    idx = np.searchsorted(train_of_total, train_length, side="left")
    idx = np.minimum(idx, max_total)
    return held_out_count(totals[idx])


def predictive_checks(
    log: InteractionLog,
    split: Split,
    params: Mapping[str, np.ndarray],
    *,
    min_length: int,
    replicates: int = 5,
    seed: int = 0,
) -> dict[str, CheckResult]:
    """Held-out statistics against ``replicates`` simulations from the model (see the module docstring)."""
    rng = np.random.default_rng([int(seed), 0xC4EC])
    counts = np.bincount(log.users, minlength=log.num_users)
    test_count = split.test_count
    logits = logits_of(params, log.genres)
    watched = np.zeros((log.num_users, log.num_movies), bool)
    watched[log.users[split.train], log.movies[split.train]] = True
    logits = np.where(watched, -np.inf, logits)
    k_max = int(test_count.max())
    genre_weight = log.genres / np.maximum(log.genres.sum(1, keepdims=True), 1.0)

    def stats(users: np.ndarray, movies: np.ndarray, ratings: np.ndarray) -> dict[str, np.ndarray]:
        item_counts = np.bincount(movies, minlength=log.num_movies).astype(np.float64)
        return {
            "popularity": np.sort(item_counts)[::-1] / max(item_counts.sum(), 1.0),
            "gini": np.asarray([gini(item_counts)]),
            "genres": genre_weight[movies].sum(0) / max(len(movies), 1),
            "ratings": np.bincount(ratings - 1, minlength=5) / max(len(ratings), 1),
        }

    test = split.test
    observed = stats(log.users[test], log.movies[test], log.ratings[test])
    observed["per_user"] = test_count.astype(np.float64)
    sims: dict[str, list[np.ndarray]] = {k: [] for k in observed}
    for _ in range(replicates):
        gumbel = -np.log(-np.log(rng.uniform(np.finfo(float).tiny, 1.0, size=logits.shape)))
        order = np.argsort(-(logits + gumbel), axis=1)[:, :k_max]
        keep = np.arange(k_max)[None, :] < test_count[:, None]
        users = np.broadcast_to(np.arange(log.num_users)[:, None], keep.shape)[keep]
        movies = order[keep]
        probs = rating_probabilities(params, log.genres, users, movies)
        cum = np.cumsum(probs, axis=1)
        ratings = 1 + np.minimum((rng.uniform(size=(len(users), 1)) > cum).sum(1), 4)
        s = stats(users, movies, ratings)
        extra = _negative_binomial(rng, float(params["activity_log_count"]), float(params["activity_logit"]),
                                   log.num_users)  # fmt: skip
        s["per_user"] = _held_out_for_train(extra + min_length, int(counts.max()) * 2).astype(np.float64)
        for k, v in s.items():
            sims[k].append(v)
    distance = {
        "popularity": lambda o, s: total_variation(o, s),
        "gini": lambda o, s: float(abs(o[0] - s[0])),
        "genres": total_variation,
        "ratings": total_variation,
        "per_user": ks_distance,
    }
    return {
        k: CheckResult(observed[k], np.stack(sims[k]), np.asarray([distance[k](observed[k], s) for s in sims[k]]))
        for k in observed
    }

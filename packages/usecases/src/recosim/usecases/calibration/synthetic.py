"""Small MovieLens-format logs drawn from known parameters (for tests and demonstrations).

`synthetic_log` draws users' histories from the model of
`recosim.usecases.calibration.model` (next movie by multinomial logit over the unwatched
catalogue, ordinal ratings, negative-binomial activity) in NumPy; `write_grouplens`
and `write_recbole` write it in the two layouts the reader takes.

>>> truth, log = synthetic_log(num_users=4, num_movies=12, dim=2, min_length=3, seed=0)
>>> log.num_users, log.num_movies, bool(log.ratings.min() >= 1 and log.ratings.max() <= 5)
(4, 12, True)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from recosim.usecases.calibration.checks import expit
from recosim.usecases.calibration.data import GENRES, InteractionLog

__all__ = ["true_params", "synthetic_log", "write_grouplens", "write_recbole"]


def true_params(num_users: int, num_movies: int, dim: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Known parameters of a synthetic population (the shapes of `model.init_params`)."""
    rng = np.random.default_rng([int(seed), 0x5E7])
    f = np.float32
    g = len(GENRES)
    return {
        "interest": rng.standard_normal((num_users, dim)).astype(f),
        "embedding": (0.3 * rng.standard_normal((num_movies, dim))).astype(f),
        "genre_weights": rng.standard_normal((g, dim)).astype(f),
        "popularity": (1.5 * rng.standard_normal(num_movies)).astype(f),
        "quality": (0.8 * rng.standard_normal(num_movies)).astype(f),
        "user_bias": (0.5 * rng.standard_normal(num_users)).astype(f),
        "rating_scale": np.asarray(0.7, f),
        "cut_start": np.asarray(-2.5, f),
        "cut_log_gaps": np.log(np.asarray([1.2, 1.4, 1.8], f)),
        "activity_log_count": np.asarray(np.log(3.0), f),
        "activity_logit": np.asarray(np.log(4.0), f),  # mean extra interactions 3 * 4 = 12
    }


def synthetic_log(
    num_users: int = 60, num_movies: int = 40, dim: int = 2, min_length: int = 5, seed: int = 0
) -> tuple[dict[str, np.ndarray], InteractionLog]:
    """``(true parameters, log)``: every user's history drawn from the model, one interaction per minute."""
    p = true_params(num_users, num_movies, dim, seed)
    rng = np.random.default_rng([int(seed), 0x10C])
    genres = np.zeros((num_movies, len(GENRES)), np.float32)
    genres[np.arange(num_movies), rng.integers(1, len(GENRES), num_movies)] = 1.0
    second = rng.random(num_movies) < 0.3
    genres[np.flatnonzero(second), rng.integers(1, len(GENRES), int(second.sum()))] = 1.0
    feats = genres.astype(np.float64) @ p["genre_weights"] + p["embedding"]
    logits = p["interest"].astype(np.float64) @ feats.T + p["popularity"]
    cuts = p["cut_start"] + np.concatenate([[0.0], np.cumsum(np.exp(p["cut_log_gaps"].astype(np.float64)))])
    r = float(np.exp(p["activity_log_count"]))
    users, movies, ratings, stamps = [], [], [], []
    for u in range(num_users):
        extra = rng.negative_binomial(r, 1.0 - float(expit(p["activity_logit"])))
        length = min(min_length + int(extra), num_movies)
        gumbel = -np.log(-np.log(rng.uniform(np.finfo(float).tiny, 1.0, num_movies)))
        seq = np.argsort(-(logits[u] + gumbel))[:length]
        loc = p["rating_scale"] * (feats[seq] @ p["interest"][u]) + p["quality"][seq] + p["user_bias"][u]
        above = expit(loc[:, None] - cuts[None, :])
        rating = 1 + (rng.random((length, 1)) < above).sum(1)
        users += [u] * length
        movies += seq.tolist()
        ratings += rating.tolist()
        stamps += (880_000_000 + 86_400 * u + 60 * np.arange(length)).tolist()
    log = InteractionLog(
        users=np.asarray(users, np.int32),
        movies=np.asarray(movies, np.int32),
        ratings=np.asarray(ratings, np.int32),
        timestamps=np.asarray(stamps, np.int64),
        genres=genres,
        user_ids=np.arange(1, num_users + 1),
        movie_ids=np.arange(1, num_movies + 1),
        source="synthetic",
    )
    return p, log


def _shuffled_rows(log: InteractionLog, seed: int) -> list[tuple[int, int, int, int]]:
    order = np.random.default_rng(seed).permutation(len(log))  # files are not sorted by time
    return [
        (
            int(log.user_ids[log.users[i]]),
            int(log.movie_ids[log.movies[i]]),
            int(log.ratings[i]),
            int(log.timestamps[i]),
        )
        for i in order
    ]


def write_grouplens(folder: Path | str, log: InteractionLog, seed: int = 0) -> Path:
    """``u.data`` and ``u.item`` in the GroupLens layout under ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rows = _shuffled_rows(log, seed)
    (folder / "u.data").write_text("".join(f"{u}\t{m}\t{r}\t{t}\n" for u, m, r, t in rows))
    items = []
    for i, m in enumerate(log.movie_ids):
        flags = "|".join(str(int(x)) for x in log.genres[i])
        items.append(f"{m}|Movie {m} (1995)|01-Jan-1995||http://example.org/{m}|{flags}\n")
    (folder / "u.item").write_text("".join(items), encoding="latin-1")
    return folder


def write_recbole(folder: Path | str, log: InteractionLog, seed: int = 0) -> Path:
    """``ml-100k.inter`` and ``ml-100k.item`` in recbole's layout under ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rows = _shuffled_rows(log, seed)
    inter = ["user_id:token\titem_id:token\trating:float\ttimestamp:float\n"]
    inter += [f"{u}\t{m}\t{r}\t{t}\n" for u, m, r, t in rows]
    (folder / "ml-100k.inter").write_text("".join(inter))
    items = ["item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"]
    for i, m in enumerate(log.movie_ids):
        names = " ".join(GENRES[j] for j in np.flatnonzero(log.genres[i]))
        items.append(f"{m}\tMovie {m}\t1995\t{names}\n")
    (folder / "ml-100k.item").write_text("".join(items))
    return folder

"""The calibration model (scored and drawn on every runtime), its fit on a synthetic log, and `recosim run calibration`."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from recosim.core.testing import make_runtime_for, runtime_names, to_numpy
from recosim.core.value import Value
from recosim.usecases.calibration import checks
from recosim.usecases.calibration.data import time_split
from recosim.usecases.calibration.model import CalibrationStory, ModelShape
from recosim.usecases.calibration.synthetic import synthetic_log, true_params

USERS, MOVIES, DIM, MAX_LEN, MIN_LEN = 3, 6, 2, 4, 2


def _shape() -> tuple[dict[str, np.ndarray], ModelShape]:
    p = true_params(USERS, MOVIES, DIM, seed=1)
    genres = np.zeros((MOVIES, 19), np.float32)
    genres[np.arange(MOVIES), 1 + np.arange(MOVIES) % 4] = 1.0
    return p, ModelShape(genres, np.arange(USERS), MAX_LEN, MIN_LEN, DIM)


def _brute_force(p, shape, activity, movies, ratings) -> float:
    """The log-probability summed term by term: negative binomial, softmax over the unwatched, ordinal."""
    logits = checks.logits_of(p, shape.genres)
    r, logit = math.exp(float(p["activity_log_count"])), float(p["activity_logit"])
    prob = checks.expit(logit)
    total = 0.0
    for u in range(USERS):
        k = int(activity[u])
        total += math.lgamma(k + r) - math.lgamma(r) - math.lgamma(k + 1) + k * math.log(prob)
        total += r * math.log(1 - prob)
        length = min(k + MIN_LEN, MAX_LEN)
        free = list(range(MOVIES))
        probs = checks.rating_probabilities(p, shape.genres, np.full(length, u), movies[u, :length])
        for t in range(length):
            m = int(movies[u, t])
            total += logits[u, m] - math.log(sum(math.exp(logits[u, j]) for j in free))
            free.remove(m)
            total += math.log(probs[t, ratings[u, t]])
    return total


@pytest.mark.every_runtime
@pytest.mark.parametrize("runtime", runtime_names())
def test_story_scores_and_draws_histories_on_every_runtime(runtime) -> None:
    p, shape = _shape()
    story = CalibrationStory(p, shape)
    activity = np.array([0, 2, 5], np.int32)  # lengths 2, 4 and 4 (capped)
    movies = np.array([[3, 1, 0, 0], [0, 5, 2, 4], [1, 2, 3, 4]], np.int32)
    ratings = np.array([[4, 0, 0, 0], [2, 3, 1, 0], [0, 1, 2, 3]], np.int32)
    traj = {
        "history": Value(activity=activity[None], movies=movies[None]),
        "rating": Value(ratings=ratings[None]),
    }
    rt = make_runtime_for(runtime, story, seed=0)
    got = float(np.asarray(rt.log_probability(traj)))
    assert got == pytest.approx(_brute_force(p, shape, activity, movies, ratings), rel=1e-4)
    repeated = movies.copy()
    repeated[1, 2] = 0  # user 1 watches movie 0 twice
    traj["history"] = Value(activity=activity[None], movies=repeated[None])
    assert float(np.asarray(rt.log_probability(traj))) == -np.inf
    drawn = to_numpy(rt.trajectory(1))
    length = np.minimum(drawn["history"]["activity"][0] + MIN_LEN, MAX_LEN)
    for u in range(USERS):
        seq = drawn["history"]["movies"][0, u]
        assert len(set(seq[: length[u]].tolist())) == length[u] and np.all(seq[length[u] :] == 0)
        assert np.all(drawn["rating"]["ratings"][0, u, length[u] :] == 0)
    assert drawn["rating"]["ratings"].min() >= 0 and drawn["rating"]["ratings"].max() <= 4


@pytest.mark.needs_runtime("jax")
def test_map_fit_recovers_the_known_population() -> None:
    from recosim.usecases.calibration.fit import fit_population, training_data

    truth, log = synthetic_log(num_users=80, num_movies=30, dim=2, min_length=10, seed=0)
    split = time_split(log)
    data = training_data(log, split, dim=2)
    fit = fit_population(data, num_steps=300, learning_rate=0.05, seed=0)
    p = {k: np.asarray(v) for k, v in fit.params.items()}
    obj = np.asarray(fit.history["objective"])
    assert obj[-1] > obj[0] and np.all(np.isfinite(obj))
    # choice logits are identified up to a constant per user: compare them centred
    want = checks.logits_of(truth, log.genres)
    got = checks.logits_of(p, log.genres)
    want, got = want - want.mean(1, keepdims=True), got - got.mean(1, keepdims=True)
    assert np.corrcoef(want.ravel(), got.ravel())[0, 1] > 0.85
    # the rating model's gaps between cut points (truth 1.2, 1.4, 1.8)
    np.testing.assert_allclose(np.exp(p["cut_log_gaps"]), np.exp(truth["cut_log_gaps"]), atol=0.45)
    # activity models the training part of each history: the negative binomial's maximum-likelihood mean is the
    # sample mean of the training lengths beyond the shortest (the weak prior moves it little)
    fitted_mean = float(np.exp(p["activity_log_count"]) * np.exp(p["activity_logit"]))
    assert fitted_mean == pytest.approx(float(np.mean(data.length - data.shape.min_length)), rel=0.02)
    lls = checks.held_out_log_likelihoods(log, split, p)
    assert lls["model"] > lls["popularity"] > lls["uniform"]


@pytest.mark.needs_runtime("jax")
def test_command_writes_results_and_resumes_the_fit(tmp_path) -> None:
    from recosim.usecases.calibration.saved import load_model
    from recosim.usecases.calibration.synthetic import write_grouplens
    from recosim.usecases.calibration.usecase import CalibrationUseCase

    _, log = synthetic_log(num_users=20, num_movies=15, dim=2, min_length=5, seed=2)
    folder = write_grouplens(tmp_path / "ml-100k", log)
    options = dict(
        data=str(folder), dim=2, num_steps=20, checkpoint_every=10, posterior_users=1, num_warmup=10,
        num_samples=10, num_chains=2, replicates=2,
    )  # fmt: skip
    out = tmp_path / "out"

    def stop_at_10(done: int, total: int) -> None:
        if done == 10:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        CalibrationUseCase().run(runtime="jax", seed=0, out=out, progress=stop_at_10, **options)
    reports: list[int] = []
    summary = CalibrationUseCase().run(
        runtime="jax", seed=0, out=out, progress=lambda d, t: reports.append(d), **options
    )
    assert reports == [20]  # resumed after the checkpoint at 10: one chunk left
    on_disk = json.loads((out / "summary.json").read_text())
    lls = on_disk["held_out"]["log_likelihood_per_interaction"]
    assert set(lls) == {"model", "popularity", "uniform"} and all(np.isfinite(list(lls.values())))
    assert set(on_disk["checks"]) == {"popularity", "gini", "genres", "ratings", "per_user"}
    assert on_disk["fit"]["steps"] == 20 and summary["posterior"]["users"][0] in log.user_ids
    for name in ("fit_objective.png", "predictive_checks.png", "posterior_interests.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    saved = load_model(out / "calibrated_model.npz")
    assert saved.params["interest"].shape == (20, 2) and saved.genres.shape == (15, 19)
    with np.load(out / "calibrated_model.npz", allow_pickle=False) as z:
        assert "param/popularity" in z.files
    assert on_disk["usecase"] == "calibration" and on_disk["num_steps"] == 20 and CalibrationUseCase.is_template()


def test_command_refuses_runtimes_without_gradients(tmp_path) -> None:
    from recosim.core.errors import UsageError
    from recosim.usecases.calibration.synthetic import write_grouplens
    from recosim.usecases.calibration.usecase import CalibrationUseCase

    _, log = synthetic_log(num_users=5, num_movies=8, dim=2, min_length=3, seed=2)
    folder = write_grouplens(tmp_path / "ml", log)
    with pytest.raises(UsageError, match="--runtime numpy: this needs the runtime capability 'differentiable'"):
        CalibrationUseCase().setup(runtime="numpy", seed=0, out=None, data=str(folder))


@pytest.mark.parametrize("runtime", runtime_names())
def test_simulated_users_choose_slate_movies_with_the_calibrated_probabilities(runtime) -> None:
    from recosim.usecases.calibration.saved import CalibratedModel
    from recosim.usecases.calibration.simulate import MovieLensStory, PopularityRecommender

    truth, log = synthetic_log(num_users=10, num_movies=12, dim=2, min_length=3, seed=5)
    counts = np.bincount(log.movies, minlength=12)
    model = CalibratedModel(truth, log.genres, log.movie_ids, counts, 3)
    users = 3000
    story = MovieLensStory(model, users, PopularityRecommender(3))
    traj = to_numpy(make_runtime_for(runtime, story, seed=0).trajectory(2))
    slates, choice = traj["slate"]["doc_index"], traj["response"]["choice"]
    top = np.argsort(-np.log1p(counts), kind="stable")[:3]
    assert set(slates[0, 0].tolist()) == set(top.tolist())  # the most-watched movies, none watched yet
    # step 1: a movie watched at step 0 is never offered again
    first = traj["response"]["movie"][0]
    for u in np.flatnonzero(first >= 0)[:200]:
        assert first[u] not in slates[1, u]
    # P(watch from the slate) = the slate's share of the user's catalogue probability (step 0, nothing watched)
    z = traj["user state"]["interest"][0]
    feats = log.genres @ truth["genre_weights"] + truth["embedding"]
    logits = z @ feats.T + truth["popularity"]
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    expected = np.take_along_axis(probs, slates[0], axis=1).sum(1).mean()
    observed = np.mean(choice[0] < 3)
    assert observed == pytest.approx(expected, abs=4 * float(np.sqrt(expected * (1 - expected) / users)))
    assert np.all(traj["metrics"]["reward"] == (choice < 3))

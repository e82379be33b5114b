"""The paper's section 3.3 user model (examples/paper_user_model.py) in a small story, on every runtime."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from recosim.core.testing import make_runtime_for, runtime_names, to_numpy
from recosim.library.entities import RandomRecommender, StaticCorpus, User
from recosim.library.stories import logged_response_log_probability, static_corpus_story

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "paper_user_model.py"
RUNTIMES = runtime_names()
USERS, DOCS, TOPICS, SLATE, STEPS, SENSITIVITY, NOISE = 40, 10, 2, 3, 6, 0.3, 0.01


def _load():
    spec = importlib.util.spec_from_file_location("paper_user_model", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def paper_user():
    return _load().PaperUser


def test_the_model_is_a_user_prototype_in_under_40_lines(paper_user):
    assert issubclass(paper_user, User)
    tree = ast.parse(EXAMPLE.read_text())
    (cls,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "PaperUser"]
    assert cls.end_lineno - cls.lineno + 1 < 40


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_paper_user_model_runs_and_follows_its_dynamics(runtime, paper_user):
    user = paper_user(num_users=USERS, num_topics=TOPICS, sensitivity=SENSITIVITY, noise_scale=NOISE)
    corpus = StaticCorpus(num_docs=DOCS, num_topics=TOPICS)
    story = static_corpus_story(user, corpus, RandomRecommender(USERS, SLATE, corpus.spec("available_documents")))
    rt = make_runtime_for(runtime, story, seed=1)
    traj = to_numpy(rt.trajectory(STEPS))

    interest = traj["user state"]["interest.state"]
    choice = traj["user response"]["choice"]
    assert interest.shape == (STEPS, USERS, TOPICS)
    assert choice.shape == (STEPS, USERS) and np.all((choice >= 0) & (choice < SLATE))
    # the consumed document is the chosen slate entry
    picked = np.take_along_axis(traj["slate"]["quality"], choice[..., None], axis=-1)[..., 0]
    np.testing.assert_allclose(traj["user response"]["consumed.quality"], picked)
    # S_t = S_{t-1} + lambda q (F - S_{t-1}) + noise, with the response of step t
    q = traj["user response"]["consumed.quality"][1:, :, None]
    f = traj["user response"]["consumed.features"][1:]
    mean = interest[:-1] + SENSITIVITY * q * (f - interest[:-1])
    residual = interest[1:] - mean
    assert np.abs(residual).max() < 6 * NOISE
    assert 0.7 * NOISE < residual.std() < 1.3 * NOISE
    assert np.abs(interest[-1] - interest[0]).mean() > 10 * NOISE  # interests did move
    # S_0 ~ N(0, I)
    assert 0.6 < interest[0].std() < 1.4
    # the whole trajectory can be scored
    assert np.isfinite(float(np.asarray(rt.log_probability(traj))))


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_paper_user_choices_are_multinomial_logit_on_distance(runtime, paper_user):
    user = paper_user(num_users=USERS, num_topics=TOPICS)
    rng = np.random.default_rng(3)
    slates = {
        "features": rng.normal(size=(STEPS, USERS, SLATE, TOPICS)).astype(np.float32),
        "quality": rng.uniform(-1, 1, size=(STEPS, USERS, SLATE)).astype(np.float32),
    }
    states = {"interest.state": rng.normal(size=(STEPS, USERS, TOPICS)).astype(np.float32)}
    choice = rng.integers(0, SLATE, size=(STEPS, USERS)).astype(np.int32)
    responses = {
        "choice": choice,
        "consumed.features": np.zeros((STEPS, USERS, TOPICS), np.float32),
        "consumed.quality": np.zeros((STEPS, USERS), np.float32),
    }
    lp = float(np.asarray(logged_response_log_probability(user, slates, states, responses, runtime)))
    # response t reads the state of step t - 1 (step 0 for t = 0)
    seen = np.concatenate([states["interest.state"][:1], states["interest.state"][:-1]])
    logits = -np.linalg.norm(seen[:, :, None, :] - slates["features"], axis=-1)
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    np.testing.assert_allclose(lp, np.take_along_axis(log_p, choice[..., None], -1).sum(), rtol=1e-4)

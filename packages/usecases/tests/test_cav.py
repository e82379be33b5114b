"""The CAV synthetic model and ``recosim run cav-synthetic``, small and fast."""

from __future__ import annotations

import json

import numpy as np
import pytest

from recosim.core import log_probability_by_variable, make_runtime
from recosim.core.errors import UsageError
from recosim.core.testing import runtime_names, to_numpy
from recosim.usecases.cav import CavConfig, cav_variables, fit_cavs, tag_attribute_index
from recosim.usecases.cav.usecase import CavSyntheticUseCase

SMALL = CavConfig(num_users=40, num_docs=12, max_ratings=5, num_objective_tags=2, group_size=2, num_latent=1)


def _first_step(traj):
    return {name: {k: v[0] for k, v in fields.items()} for name, fields in to_numpy(traj).items()}


@pytest.fixture(scope="module")
def numpy_data():
    rt = make_runtime(cav_variables(SMALL), "numpy", seed=4)
    return rt.trajectory(1)


@pytest.mark.every_runtime
@pytest.mark.parametrize("runtime", runtime_names())
def test_cav_model_invariants_and_log_probability_on_every_runtime(runtime, numpy_data):
    c = SMALL
    rt = make_runtime(cav_variables(c), runtime, seed=1)
    data = _first_step(rt.trajectory(1))
    corpus, state, resp = data["corpus"], data["user state"], data["user response"]
    assert corpus["attributes"].shape == (c.num_docs, c.dimension) and c.dimension == 5
    assert corpus["attributes"].min() >= 0 and corpus["attributes"].max() <= 1
    np.testing.assert_array_equal(corpus["attributes"], np.clip(corpus["untruncated"], 0, 1))
    n = state["num_ratings"]
    assert n.dtype == np.int32 and n.min() >= 1 and n.max() <= c.max_ratings
    # a subjective group keeps only the utility of the user's sense: dims 2 and 3 here
    sense = state["sense"]
    assert set(np.unique(sense)) <= {0, 1}
    np.testing.assert_array_equal(state["utility"][np.arange(c.num_users), 2 + (1 - sense)], 0.0)
    # every user rates distinct items; ratings 1..5 where counted, 0 beyond
    rated = resp["rated"]
    assert all(len(set(row)) == c.max_ratings for row in rated)
    counted = np.arange(c.max_ratings) < n[:, None]
    assert np.all((resp["ratings"] >= 1) == counted) and resp["ratings"].max() <= 5
    # the best-scored counted item is rated 5 and the worst 1 by every user with two ratings or more
    many = n >= 2
    best = np.argmax(np.where(counted, resp["scores"], -np.inf), axis=1)
    assert np.all(resp["ratings"][np.arange(c.num_users), best][many] == 5)
    # tags: only on counted items of tagging users, and exactly where the meant attribute beats the threshold
    tagged = resp["tagged"]
    np.testing.assert_array_equal(tagged, resp["tag_draws"] * counted * state["tagger"][:, None])
    meant = np.asarray(tag_attribute_index(c, sense))  # [U, S]
    perceived = np.take_along_axis(corpus["attributes"][rated], np.broadcast_to(meant[:, None, :], resp["tags"].shape), -1)
    expected = (perceived > state["thresholds"][:, None, :]) * tagged[..., None]
    np.testing.assert_array_equal(resp["tags"], expected)
    # the same logged data scores the same on every runtime, and the terms add up
    on_numpy = float(make_runtime(cav_variables(c), "numpy", seed=0).log_probability(numpy_data))
    here = float(rt.log_probability(numpy_data))
    assert np.isfinite(here)
    np.testing.assert_allclose(here, on_numpy, rtol=2e-5)
    terms = log_probability_by_variable(cav_variables(c), numpy_data)
    np.testing.assert_allclose(sum(float(v) for v in terms.values()), on_numpy, rtol=2e-5)


def test_tag_senses_read_the_group_cyclically():
    c = CavConfig(num_objective_tags=1, num_subjective_groups=2, group_size=3, num_latent=0)
    meant = np.asarray(tag_attribute_index(c, np.array([0, 1, 2], np.int32)))
    np.testing.assert_array_equal(meant[0], [0, 1, 2, 3, 4, 5, 6])
    np.testing.assert_array_equal(meant[1], [0, 2, 3, 1, 5, 6, 4])
    np.testing.assert_array_equal(meant[2], [0, 3, 1, 2, 6, 4, 5])


def test_personalised_cavs_recover_what_subjective_tags_mean():
    # 500 users, 3 seeds (under 1 s each): pooled CAVs of subjective tags miss, personalised ones find them
    for seed in range(3):
        c = CavConfig()
        data = {n: {k: np.asarray(v) for k, v in val.items()}
                for n, val in make_runtime(cav_variables(c), "numpy", seed=seed).execute(0).items()}
        s = fit_cavs(c, data["corpus"], data["user state"], data["user response"]).summary()
        assert s["objective_cosine"] > 0.95
        assert s["subjective_personalized_cosine"] > 0.93
        assert s["subjective_pooled_cosine"] < 0.7


def test_config_and_options_are_checked():
    with pytest.raises(ValueError, match=r"max_ratings \(30\) exceeds num_docs \(20\)"):
        CavConfig(num_docs=20, max_ratings=30)
    with pytest.raises(ValueError, match="tagging_low"):
        CavConfig(tagging_low=0.9, tagging_high=0.5)
    with pytest.raises(ValueError, match=r"topic_means has shape \(2, 2\)"):
        CavConfig(topic_means=np.zeros((2, 2)))
    uc = CavSyntheticUseCase()
    with pytest.raises(UsageError, match=r"--max-ratings \(9\) cannot exceed --num-docs \(5\)"):
        uc.run(runtime="numpy", seed=0, out=None, num_docs=5, max_ratings=9)
    with pytest.raises(UsageError, match="--group-size must be >= 2"):
        uc.run(runtime="numpy", seed=0, out=None, group_size=1)


def test_usecase_writes_summary_and_figure(tmp_path):
    summary = CavSyntheticUseCase().run(
        runtime="numpy", seed=3, out=tmp_path, num_users=300, num_docs=60, max_ratings=8
    )
    on_disk = json.loads((tmp_path / "summary.json").read_text())
    assert on_disk["usecase"] == "cav-synthetic" and on_disk["num_users"] == 300
    assert on_disk["objective_cosine"] == pytest.approx(summary["objective_cosine"])
    assert sum(on_disk["ratings_histogram"]) > 300 and np.isfinite(on_disk["log_probability"])
    assert (tmp_path / "cav.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert on_disk["files"] == ["summary.json", "cav.png"] and CavSyntheticUseCase.is_template()

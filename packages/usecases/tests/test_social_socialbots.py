"""The socialbots part: training beats the random bots, training resumes exactly, the platform's robust choice."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest

from recosim.library.socialbots import RANDOM_POLICY, SocialbotsConfig, SocialbotsModel
from recosim.usecases.social_agents.socialbots import Evaluator, comparison_table, robust_design, train_bots

TINY = SocialbotsConfig(num_users=30, num_bots=3, num_normals=4, max_hops=3)
HORIZON = 6
TRAIN = dict(horizon=HORIZON, threshold=50.0, detect_every=1, trainer="grpo", seed=0, runtime="jax", group_size=4,
             rollouts=8, learning_rate=0.3)
UPDATES = 10


@pytest.fixture(scope="module")
def model():
    return SocialbotsModel(TINY)


STOP = 4  # the update after which the checkpoint is taken as an interrupted run would leave it


@pytest.fixture(scope="module")
def trained(model, tmp_path_factory):
    """One uninterrupted training, shared by the tests below, and a copy of its checkpoint folder as it stood
    after update ``STOP``.

    The loop writes each checkpoint before it calls the callback, so the copy holds exactly what a
    KeyboardInterrupt raised from the callback there would have left on disk; resuming from the copy
    replaces a second, interrupted training (one compilation fewer).
    """
    folder = tmp_path_factory.mktemp("whole")
    stopped = tmp_path_factory.mktemp("stopped") / "checkpoint"

    def snapshot(done, _):
        if done == STOP:
            shutil.copytree(folder, stopped)

    result = train_bots(model, updates=UPDATES, checkpoint=folder, callback=snapshot, **TRAIN)
    return result, stopped


@pytest.mark.needs_runtime("jax")
def test_short_training_beats_random_bots(model, trained):
    """With a lenient detector the bots learn to post: their influence beats the random bots' (24 paired
    evaluation runs) by more than 4 paired standard errors."""
    trained, _ = trained
    assert trained.curve.shape == (UPDATES,)
    assert trained.curve[-3:].mean() > trained.curve[:3].mean()
    ev = Evaluator(model, HORIZON, "jax")
    recs = ev.run([("random", RANDOM_POLICY, 50.0, 1), ("learned", trained.policy, 50.0, 1)], list(range(24)), 0)
    diff = np.array([b["influence"] - a["influence"] for a, b in zip(recs[:24], recs[24:])])
    assert diff.mean() > 4 * diff.std(ddof=1) / math.sqrt(24), diff.mean()
    logits = trained.policy["activity_logits"]
    assert np.argmax(logits) == 0  # posting, the only action that spreads content, is now the likeliest


@pytest.mark.needs_runtime("jax")
def test_training_resumes_where_it_stopped(model, trained):
    """Started again from the checkpoint left after 4 updates: only the last 6 updates are computed, and they give
    the same parameters and learning curve as the uninterrupted training."""
    trained, stopped = trained
    assert json.loads((stopped / "meta.json").read_text())["done"] == STOP
    seen = []
    resumed = train_bots(model, updates=UPDATES, checkpoint=stopped, callback=lambda d, _: seen.append(d), **TRAIN)
    assert seen == list(range(STOP + 1, UPDATES + 1)), seen  # resumed, not trained again from the start
    for key in trained.policy:
        np.testing.assert_allclose(resumed.policy[key], trained.policy[key], rtol=1e-6, atol=1e-7, err_msg=key)
    np.testing.assert_allclose(resumed.curve, trained.curve, rtol=1e-6)


def _rec(policy, every, tau, run, influence, fp=0.0, survive=1.0):
    return {"policy": policy, "rate_limit": float(every), "threshold": float(tau), "run": run,
            "influence": influence, "not_suspended": survive, "false_positive_rate": fp, "followers": 1.0,
            "accuracy": 0.5, "balanced_accuracy": 0.5, "victims": influence, "friction": fp}


def test_robust_choice_on_a_hand_made_table():
    """Three thresholds: fixed-rule bots are cheapest to stop at 2 (the platform would choose it against them),
    learners exploit it and are cheapest at 1 once the false positives are costed (weight 1):
    learner cost at 1: 0.2 + 0.1 = 0.3; at 2: 0.5 + 0.0 = 0.5; at 3: 0.9 + 0.0 = 0.9."""
    grid = [(1, 1.0), (1, 2.0), (1, 3.0)]
    learner = {1.0: (0.2, 0.1), 2.0: (0.5, 0.0), 3.0: (0.9, 0.0)}
    fixed = {1.0: (0.15, 0.1), 2.0: (0.05, 0.0), 3.0: (0.6, 0.0)}
    recs = []
    for run in range(3):
        noise = 0.01 * (run - 1)
        for tau in (1.0, 2.0, 3.0):
            recs.append(_rec(f"learner@e1,t{tau:g}", 1, tau, run, learner[tau][0] + noise, learner[tau][1]))
            recs.append(_rec("random", 1, tau, run, fixed[tau][0] + noise, fixed[tau][1]))
            recs.append(_rec("top-degree", 1, tau, run, fixed[tau][0] / 2 + noise, fixed[tau][1]))
    table, summary = robust_design(recs, grid, 1.0)
    assert summary["chosen_against_learners"] == {"threshold": 1.0, "detect_every": 1, "cost": pytest.approx(0.3)}
    assert summary["chosen_against_fixed_rules"]["threshold"] == 2.0
    assert [r["chosen_against_learners"] for r in table] == [True, False, False]
    assert all(r["fixed_rule"] == "random" for r in table)  # the costlier baseline at every setting
    d = summary["at_chosen"]["learned_minus_fixed_influence"]
    assert d["difference"] == pytest.approx(0.05) and d["runs"] == 3
    # with false positives costing 10, the lenient threshold 2 is best against learners
    _, summary = robust_design(recs, grid, 10.0)
    assert summary["chosen_against_learners"]["threshold"] == 2.0


def test_comparison_pairs_learned_with_both_baselines():
    recs = []
    for run in range(4):
        recs += [_rec("random", 1, 1.8, run, 0.1 + 0.01 * run, survive=0.2),
                 _rec("top-degree", 1, 1.8, run, 0.2 + 0.01 * run, survive=0.0),
                 _rec("learned", 1, 1.8, run, 0.3 + 0.02 * run, survive=0.9)]
    rows, summary = comparison_table(recs, (1.0, 1.8))
    assert [r["policy"] for r in rows] == ["random", "top-degree", "learned"]
    d = summary["learned_minus_random"]["influence"]
    assert d["difference"] == pytest.approx(0.2 + 0.015) and d["runs"] == 4
    assert summary["learned_minus_top-degree"]["not_suspended"]["difference"] == pytest.approx(0.9)
    assert summary["learned"]["influence"][0] == pytest.approx(0.33)

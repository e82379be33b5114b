"""The influencers part of social-agents: options, learning, resume, the files it writes."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from recosim.core.errors import UsageError
from recosim.core.usecase import RunSetup, check_runtime
from recosim.usecases.social_agents import influencers as part

SHARED = {"parts": "influencers", "num_agents": 16, "horizon": 5, "training_seeds": 2, "updates": 2, "eval_runs": 4,
          "trainer": "both"}  # fmt: skip


def _params(**changes: object) -> dict:
    params = {p.name: p.default for p in part.PARAMETERS}
    params.update(SHARED)
    params.update(changes)
    return params


def _setup(tmp_path: Path | None, **changes: object) -> RunSetup:
    return RunSetup("social-agents", "jax", 0, tmp_path, False, _params(**changes), check_runtime("jax"))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"influencer_variants": "restricted,best"}, "--influencer-variants: 'best' is not one of restricted, full"),
        ({"influencer_variants": "full,full"}, "--influencer-variants: a variant repeats"),
        ({"influencer_variants": "restricted,"}, "--influencer-variants: give comma-separated"),
        ({"influencer_p_follow": 1.5}, r"--influencer-p-follow must be in \[0, 1\], got 1.5"),
        ({"influencer_p_unfollow": -0.1}, r"--influencer-p-unfollow must be in \[0, 1\]"),
        ({"influencer_learning_rate": 0.0}, "--influencer-learning-rate must be > 0"),
        ({"influencer_sharpness": -1.0}, "--influencer-sharpness must be > 0"),
        ({"influencer_count": 9}, "--influencer-count 9 must be at most half of --num-agents 16"),
        ({"influencer_reach": 13}, "--influencer-reach 13 exceeds the 12 viewers"),
        ({"trainer": "ppo"}, "--trainer must be grpo, reinforce or both"),
    ],
)
def test_bad_options_name_the_flag(changes: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        part.check(_params(**changes))


def test_parameters_are_prefixed_and_documented() -> None:
    names = [p.name for p in part.PARAMETERS]
    assert len(set(names)) == len(names) and all(n.startswith("influencer_") for n in names)
    assert all(p.help for p in part.PARAMETERS)
    part.check(_params())  # the defaults pass


def test_numpy_runtime_is_refused_for_training() -> None:
    setup = RunSetup("social-agents", "numpy", 0, None, False, _params(), check_runtime("numpy"))
    with pytest.raises(UsageError, match="--runtime numpy: training influencers needs gradients"):
        part.simulate(setup, None)


@pytest.mark.needs_runtime("jax")
def test_grpo_training_gains_followers_over_the_initial_policy() -> None:
    """A short GRPO run on a tiny platform: the final restricted policy beats the initial one on paired runs."""
    pytest.importorskip("recosim.inference")
    graph = part.platform_graph(16, 0)
    cfg = part.platform_config(_params(influencer_count=2, influencer_reach=3))
    trained = part.train_influencers(graph, cfg, "restricted", "grpo", horizon=6, updates=12, seed=0, runtime="jax",
                                     learning_rate=0.2)  # fmt: skip
    assert trained.curve.shape == (12,)
    assert trained.policy["stance_bias"].shape == (3,)
    got = part.evaluate_policies(
        _setup(None), graph, cfg, "restricted",
        {"initial": part.initial_policy("restricted", 16), "learned": trained.policy}, runs=48, horizon=6, seed=11,
    )  # fmt: skip
    diff = got["learned"]["followers"] - got["initial"]["followers"]
    se = diff.std(ddof=1) / math.sqrt(diff.size)
    assert diff.mean() > 3 * se and diff.mean() > 0.3, (diff.mean(), se)


@pytest.mark.needs_runtime("jax")
def test_resume_after_interruption_gives_identical_parameters(tmp_path: Path) -> None:
    pytest.importorskip("recosim.inference")
    graph = part.platform_graph(12, 1)
    cfg = part.platform_config(_params(influencer_count=2, influencer_reach=2))
    kwargs = dict(horizon=3, updates=4, seed=5, runtime="jax", group_size=2, groups=2)

    class Interrupted(Exception):
        pass

    def stop_after_two(done: int, _: object) -> None:
        if done == 2:
            raise Interrupted

    folder = tmp_path / "ckpt"
    with pytest.raises(Interrupted):
        part.train_influencers(graph, cfg, "full", "reinforce", checkpoint=folder, callback=stop_after_two, **kwargs)
    resumed = part.train_influencers(graph, cfg, "full", "reinforce", checkpoint=folder, **kwargs)
    straight = part.train_influencers(graph, cfg, "full", "reinforce", **kwargs)
    assert sorted(resumed.policy) == sorted(straight.policy)
    for key in straight.policy:
        np.testing.assert_array_equal(resumed.policy[key], straight.policy[key])
    np.testing.assert_array_equal(resumed.curve, straight.curve)


def _rows(path: Path) -> list[dict]:
    with path.open() as f:
        return list(csv.DictReader(f))


@pytest.mark.needs_runtime("jax")
def test_simulate_writes_its_files_with_finite_numbers(tmp_path: Path) -> None:
    pytest.importorskip("recosim.inference")
    seen: list[tuple[int, int]] = []
    setup = _setup(tmp_path, trainer="grpo", influencer_count=2, influencer_reach=2, influencer_group_size=2)
    summary = part.simulate(setup, lambda done, total: seen.append((done, total)))
    json.dumps(summary, allow_nan=False)
    out = tmp_path / "influencers"
    curves, finals, comparison = (_rows(out / part.FILES[k]) for k in ("curves", "final", "comparison"))
    assert len(curves) == 2 * 2 * 2  # variants x seeds x updates (one trainer)
    assert {(r["variant"], r["seed"]) for r in finals} == {(v, s) for v in ("restricted", "full") for s in "01"}
    assert [(r["variant"], r["trainer"]) for r in comparison] == [("restricted", "grpo"), ("full", "grpo")]
    for rows in (curves, finals, comparison):
        for row in rows:
            for key, text in row.items():
                if key not in ("variant", "trainer"):
                    assert math.isfinite(float(text)) or key.endswith("_z"), (key, text)
    for name in ("curves_png", "final_png"):
        assert (out / part.FILES[name]).read_bytes()[:4] == b"\x89PNG"
    res = summary["results"]["restricted/grpo"]
    assert res["final_reward"]["seeds"] == 2 and res["vs_fixed"]["runs"] == 4
    assert seen[-1][0] == seen[-1][1]  # progress ends complete
    # a second run with the same out reads everything back: the same summary, no training
    again = part.simulate(setup, None)
    assert again["results"] == summary["results"]

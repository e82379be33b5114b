"""The influencers part of social-agents: options, learning, resume, the files it writes."""

from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from recosim.core.errors import UsageError
from recosim.core.usecase import RunSetup, check_runtime
from recosim.usecases.social_agents import influencers as part

SHARED = {"parts": "influencers", "influencer_accounts": 16, "horizon": 5, "training_seeds": 2, "updates": 2, "eval_runs": 4,
          "trainer": "both"}  # fmt: skip


def _params(**changes: object) -> dict:
    params = {p.name: p.default for p in part.PARAMETERS}
    params.update(SHARED)
    params.update(changes)
    return params


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
        ({"influencer_count": 9}, "--influencer-count 9 must be at most half of --influencer-accounts 16"),
        ({"influencer_reach": 13}, "--influencer-reach 13 exceeds the 12 viewers"),
        ({"trainer": "ppo"}, "--trainer must be grpo, reinforce or both"),
        ({"influencer_accounts": 200_000}, "--influencer-accounts 200000 with --horizon 5 and 16 rollouts per update"),
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
def test_grpo_gains_followers_and_an_interrupted_run_resumes_to_the_same_parameters(tmp_path: Path) -> None:
    """A short GRPO run on a tiny platform beats the initial restricted policy on paired runs; started again from
    the checkpoint it left after 4 of 10 updates, it ends with identical parameters and learning curve."""
    pytest.importorskip("recosim.inference")
    graph = part.platform_graph(16, 0)
    cfg = part.platform_config(_params(influencer_count=2, influencer_reach=3))
    kwargs = dict(horizon=5, updates=10, seed=0, runtime="jax", learning_rate=0.2, group_size=4, groups=2)
    stopped = tmp_path / "stopped"

    def snapshot_after_four(done: int, _: object) -> None:
        # the loop writes each checkpoint before it calls back: the copy is what an interrupt here would leave
        if done == 4:
            shutil.copytree(tmp_path / "a", stopped)

    straight = part.train_influencers(graph, cfg, "restricted", "grpo", checkpoint=tmp_path / "a",
                                      callback=snapshot_after_four, **kwargs)  # fmt: skip
    assert straight.curve.shape == (10,) and straight.policy["stance_bias"].shape == (3,)
    seen: list[int] = []
    resumed = part.train_influencers(graph, cfg, "restricted", "grpo", checkpoint=stopped,
                                     callback=lambda done, _: seen.append(done), **kwargs)  # fmt: skip
    assert seen == list(range(5, 11)), seen  # the six updates left, not a training from the start
    assert sorted(resumed.policy) == sorted(straight.policy)
    for key in straight.policy:
        np.testing.assert_array_equal(resumed.policy[key], straight.policy[key])
    np.testing.assert_array_equal(resumed.curve, straight.curve)
    # evaluated on the NumPy runtime (no gradients needed there): the learned policy gains more followers
    setup = RunSetup("social-agents", "numpy", 0, None, False, _params(), check_runtime("numpy"))
    got = part.evaluate_policies(
        setup, graph, cfg, "restricted",
        {"initial": part.initial_policy("restricted", 16), "learned": straight.policy}, runs=48, horizon=5, seed=11,
    )  # fmt: skip
    diff = got["learned"]["followers"] - got["initial"]["followers"]
    se = diff.std(ddof=1) / math.sqrt(diff.size)
    assert diff.mean() > 3 * se and diff.mean() > 0.3, (diff.mean(), se)


def _rows(path: Path) -> list[dict]:
    with path.open() as f:
        return list(csv.DictReader(f))


def test_simulate_writes_its_files_with_finite_numbers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The part's bookkeeping with a stand-in for the (separately tested) trainer; evaluation runs for real
    (on NumPy: the stand-in needs no gradients, so the runtime check is lifted).

    The stand-in returns, for seed s, a restricted policy sure of stance +1 and like-minded viewers
    (the better the larger s) and a full policy that stays at its start, with rising curves.
    """
    calls: list[tuple] = []

    def fake_train(graph, cfg, variant, trainer, *, horizon, updates, seed, runtime, checkpoint=None, callback=None,
                   **options):  # fmt: skip
        calls.append((variant, trainer, seed, checkpoint.name if checkpoint else None))
        policy = part.initial_policy(variant, graph.num_agents)
        if variant == "restricted":
            policy["stance_bias"] = np.float32([0.0, 0.0, 3.0 + len(calls)])
            policy["segment_bias"] = np.float32([3.0 + len(calls), 0.0, 0.0])
        for u in range(1, updates + 1):
            if callback is not None:
                callback(u, {})
        return part.TrainedPolicy(policy, np.linspace(0.5, 1.5, updates) + 0.1 * len(calls))

    monkeypatch.setattr(part, "train_influencers", fake_train)
    monkeypatch.setattr(part, "_check_runtime", lambda runtime: None)
    seen: list[tuple[int, int]] = []
    params = _params(trainer="both", influencer_count=2, influencer_reach=2, updates=3)
    setup = RunSetup("social-agents", "numpy", 0, tmp_path, False, params, check_runtime("numpy"))
    summary = part.simulate(setup, lambda done, total: seen.append((done, total)))
    json.dumps(summary, allow_nan=False)
    assert len(calls) == 2 * 2 * 2 and len({c[2] for c in calls}) == 2  # seed s shared by variants and trainers
    out = tmp_path / "influencers"
    curves, finals, comparison = (_rows(out / part.FILES[k]) for k in ("curves", "final", "comparison"))
    assert len(curves) == 2 * 2 * 2 * 3  # variants x trainers x seeds x updates
    assert {(r["variant"], r["trainer"], r["seed"]) for r in finals} == {
        (v, t, s) for v in ("restricted", "full") for t in ("grpo", "reinforce") for s in "01"}  # fmt: skip
    assert [(r["variant"], r["trainer"]) for r in comparison] == [
        ("restricted", "grpo"), ("restricted", "reinforce"), ("full", "grpo"), ("full", "reinforce")]  # fmt: skip
    for rows in (curves, finals, comparison):
        for row in rows:
            for key, text in row.items():
                if key not in ("variant", "trainer"):
                    assert math.isfinite(float(text)) or key.endswith("_z"), (key, text)
    for name in ("curves_png", "final_png"):
        assert (out / part.FILES[name]).read_bytes()[:4] == b"\x89PNG"
    res = summary["results"]
    assert res["restricted/grpo"]["final_reward"]["seeds"] == 2 and res["restricted/grpo"]["vs_fixed"]["runs"] == 4
    # the full policy stands still: its final policies are its initial one, so the paired difference is exactly 0
    assert res["full/grpo"]["vs_initial"]["difference"] == 0.0
    row = comparison[0]
    assert float(row["vs_fixed"]) == pytest.approx(float(row["learned_followers"]) - float(row["fixed_followers"]))
    assert res["restricted/grpo"]["learning_curve"]["rise"] == pytest.approx(1.0)
    assert seen[-1][0] == seen[-1][1] == 2 * 2 * 2 * 3 + 8 + 2 + 1  # progress ends complete
    # a second run with the same out reads everything back: the same results, no training, no evaluation
    calls.clear()
    again = part.simulate(setup, None)
    assert again["results"] == summary["results"] and calls == []

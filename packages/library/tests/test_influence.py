"""Follow dynamics and influencer policies: closed forms, statistical properties on every runtime, action spaces."""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import pytest

from recosim.core.runtime import NumpyRuntime
from recosim.core.testing import make_runtime_for, to_numpy
from recosim.library.influence import (
    InfluenceConfig,
    InfluencePlatform,
    approval_probability,
    check_policy,
    initial_policy,
    policy_shapes,
    sum_by_author,
    switch_probability,
)
from recosim.library.opinion import complete_graph, geometric_graph


def test_approval_and_switch_probabilities_closed_forms() -> None:
    stance = np.float32([1.0, -1.0, 0.0, 0.5, -0.5])
    ones = np.ones(5, np.float32)
    np.testing.assert_allclose(approval_probability(stance, ones, 2.0), [1.0, 0.0, 0.25, 0.5625, 0.0625])
    np.testing.assert_allclose(approval_probability(stance, -ones, 1.0), [0.0, 1.0, 0.5, 0.25, 0.75])
    seen = np.array([True, True, True, True, False])
    approve = np.array([1, 1, 0, 0, 1])
    following = np.array([False, True, True, False, False])
    np.testing.assert_allclose(switch_probability(seen, approve, following, 0.3, 0.2), [0.3, 0.0, 0.2, 0.0, 0.0])
    shown = np.array([[[2, 0], [2, -1]], [[1, 1], [-1, -1]]], np.int32)  # [R=2, viewers=2, K=2]
    x = np.array([[[1.0, 2.0], [4.0, 8.0]], [[16.0, 32.0], [64.0, 128.0]]], np.float32)
    np.testing.assert_allclose(sum_by_author(x, shown, 3), [[2.0, 0.0, 5.0], [0.0, 48.0, 0.0]])


@pytest.mark.parametrize("name", ["follow", "agents", "platform"])
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(f"recosim.library.influence.{name}")
    assert doctest.testmod(module, optionflags=doctest.ELLIPSIS).failed == 0


def _trajectory(runtime: str, model: InfluencePlatform, length: int, seed: int) -> dict:
    rt = make_runtime_for(runtime, model.variables(), seed=seed, settings=model.settings)
    traj = rt.trajectory(length)
    return rt, traj


def test_follow_dynamics_on_every_runtime(runtime: str) -> None:
    """One trajectory per runtime; every property of the follow relation and the feed checked step by step."""
    p_follow, p_unfollow, replicas, steps = 0.4, 0.5, 6, 14
    graph = geometric_graph(24, 0.35, seed=2)
    cfg = InfluenceConfig(num_influencers=3, reach=3, feed_size=3, p_follow=p_follow, p_unfollow=p_unfollow,
                          epsilon=0.2)  # fmt: skip
    model = InfluencePlatform(graph, cfg, "fixed", replicas=replicas)
    rt, traj = _trajectory(runtime, model, steps, seed=3)
    lp = float(np.asarray(rt.log_probability(traj)))
    assert np.isfinite(lp)
    t = to_numpy(traj)
    follows, followers, switch = t["social"]["follows"], t["social"]["followers"], t["social"]["switch"]
    shown, approve, post = t["platform"]["shown"], t["platform"]["approve"], t["platform"]["post"]
    opinion, targets = t["agents"]["opinion"], t["influencers"]["targets"]
    n, ids = graph.num_agents, model.ids
    # follower counts are the relation's column sums; nobody follows itself; influencers follow nobody
    np.testing.assert_array_equal(followers, follows.sum(axis=-2))
    assert not follows[..., np.arange(n), np.arange(n)].any()
    assert not follows[:, :, ids, :].any()
    # the influencers' reward is their net followers gained: its sum is their final follower count
    np.testing.assert_allclose(t["metrics"]["reward"].sum(axis=0), followers[-1][:, ids])
    adj = model.adjacency
    follow_hits, follow_tries, unfollow_hits, unfollow_tries = 0, 0, 0, 0
    for s in range(1, steps):
        before, after = follows[s - 1], follows[s]
        seen = shown[s] >= 0
        author = np.clip(shown[s], 0, n - 1)
        rr, vv, _ = np.nonzero(seen)
        aa = author[seen]
        # the feed: no viewer sees itself, an influencer views nothing, authors are candidates, none repeats
        assert (aa != vv).all() and not seen[:, ids].any()
        pushed = np.zeros_like(before)
        for j, inf in enumerate(ids):
            for r in range(replicas):
                pushed[r, targets[s, r, j], inf] = True
        assert (before[rr, vv, aa] | adj[vv, aa] | pushed[rr, vv, aa]).all()
        for r, v in zip(*np.nonzero(seen.any(-1))):
            row = shown[s, r, v][shown[s, r, v] >= 0]
            assert len(set(row.tolist())) == row.size
        # learners' posts of +-1 are approved exactly by viewers of the same opinion
        stance = post[s][rr, aa]
        sure = np.abs(stance) == 1.0
        np.testing.assert_array_equal(approve[s][seen][sure], stance[sure] == opinion[s - 1][rr, vv][sure])
        # the relation changes exactly where a slot switched
        sw = switch[s][seen] > 0
        changed = before[rr, vv, aa] != after[rr, vv, aa]
        np.testing.assert_array_equal(changed, sw)
        assert (before != after).sum() == sw.sum()
        liked = approve[s][seen] > 0
        was = before[rr, vv, aa]
        assert not sw[liked & was].any() and not sw[~liked & ~was].any()
        follow_tries += int((liked & ~was).sum())
        follow_hits += int(sw[liked & ~was].sum())
        unfollow_tries += int((~liked & was).sum())
        unfollow_hits += int(sw[~liked & was].sum())
    # the rates match p_follow and p_unfollow within 4.5 binomial standard errors
    assert follow_tries > 300 and unfollow_tries > 40, (follow_tries, unfollow_tries)
    for hits, tries, prob in ((follow_hits, follow_tries, p_follow), (unfollow_hits, unfollow_tries, p_unfollow)):
        assert abs(hits / tries - prob) <= 4.5 * np.sqrt(prob * (1 - prob) / tries), (hits, tries, prob)


def _actions(variant: str, policy: dict | None, *, seed: int = 0, steps: int = 6) -> dict:
    graph = complete_graph(16)
    model = InfluencePlatform(graph, InfluenceConfig(num_influencers=4, reach=3), variant, policy, replicas=4)
    rt = NumpyRuntime(model.variables(), seed=seed, settings=model.settings)
    return model, to_numpy(rt.trajectory(steps))


def test_variants_have_their_documented_action_spaces() -> None:
    assert policy_shapes("restricted", 16) == {
        "stance_bias": (3,), "stance_obs": (3, 2), "segment_bias": (3,), "segment_obs": (3, 2)}  # fmt: skip
    assert policy_shapes("full", 16) == {"stance_loc": (), "stance_log_scale": (), "target_weights": (2,),
                                         "target_logits": (16,)}  # fmt: skip
    assert policy_shapes("fixed", 16) == {}
    model, t = _actions("restricted", None)
    inf = t["influencers"]
    assert set(np.unique(inf["stance"][1:])) <= {-1.0, 0.0, 1.0}
    np.testing.assert_array_equal(inf["stance"][1:], inf["level"][1:] - 1.0)
    assert set(np.unique(inf["segment"][1:])) == {0, 1, 2}
    model, t = _actions("full", None)
    stance = t["influencers"]["stance"][1:]
    assert np.unique(stance).size == stance.size and (np.abs(stance) < 1).all()
    np.testing.assert_allclose(stance, np.tanh(t["influencers"]["stance_draw"][1:]), rtol=1e-6)
    model, t = _actions("fixed", None)
    own = t["agents"]["opinion"][0][:, model.ids]
    np.testing.assert_array_equal(t["influencers"]["stance"][1:], np.broadcast_to(own, (5, *own.shape)))
    for variant in ("restricted", "full", "fixed"):
        model, t = _actions(variant, None, seed=1)
        targets = t["influencers"]["targets"][1:]
        assert (targets != model.ids[None, None, :, None]).all()  # never itself
        assert not np.isin(targets, model.ids).any()  # never another influencer (they do not view)
    with pytest.raises(ValueError, match="missing"):
        check_policy("full", 16, {"stance_loc": 0.0})
    with pytest.raises(ValueError, match=r"'target_logits' has shape \(3,\), expected \(16,\)"):
        check_policy("full", 16, {**initial_policy("full", 16), "target_logits": np.zeros(3)})


def test_restricted_segments_choose_the_audience() -> None:
    """A policy sure of stance +1 and the like-minded segment pushes only to non-followers whose last post was +1."""
    policy = initial_policy("restricted", 16)
    policy["stance_bias"] = np.float32([-50.0, -50.0, 50.0])
    policy["segment_bias"] = np.float32([50.0, -50.0, -50.0])
    model, t = _actions("restricted", policy, steps=8)
    inf = t["influencers"]
    assert (inf["stance"][1:] == 1.0).all() and (inf["segment"][1:] == 0).all()
    for s in range(1, 8):
        last = t["platform"]["post"][s - 1]
        follows = t["social"]["follows"][s - 1]
        for r in range(4):
            for j, i in enumerate(model.ids):
                chosen = inf["targets"][s, r, j]
                like = (last[r] > 0) & ~follows[r, :, i] & ~np.isin(np.arange(16), model.ids)
                if like.any():
                    assert like[chosen].all()
    # the influencers then gain followers: every pushed post is approved (stance +1 to +1 posters who did not flip)
    assert t["metrics"]["followers"][-1].mean() > 0.5


def test_policy_from_settings_equals_policy_built_in() -> None:
    """One program for many policies: a policy given as settings draws what the same policy built in draws."""
    graph = complete_graph(12)
    cfg = InfluenceConfig(num_influencers=2, reach=2)
    policy = initial_policy("full", 12)
    policy["stance_loc"] = np.float32(0.7)
    policy["target_logits"] = np.linspace(-1, 1, 12).astype(np.float32)
    built = InfluencePlatform(graph, cfg, "full", policy, replicas=2)
    a = to_numpy(NumpyRuntime(built.variables(), seed=5, settings=built.settings).trajectory(5))
    open_model = InfluencePlatform(graph, cfg, "full", None, replicas=2)
    rt = NumpyRuntime(open_model.variables(), seed=5, settings=open_model.settings)
    b = to_numpy(rt.trajectory(5, settings=open_model.policy_settings(policy)))
    for name in ("stance", "targets"):
        np.testing.assert_array_equal(a["influencers"][name], b["influencers"][name])

"""Socialbots blocks on every runtime: the independent cascade's closed forms, the periodic detector,
the story's rules and its baselines; and the docstring examples."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import numpy as np
import pytest

import recosim.library.socialbots
from recosim.core import Value, get_backend, rv
from recosim.core.testing import make_runtime_for, to_numpy
from recosim.library.opinion.graphs import from_edges
from recosim.library.social import ThresholdDetector
from recosim.library.socialbots import (
    RANDOM_POLICY,
    TOP_DEGREE_POLICY,
    IndependentCascade,
    PeriodicDetector,
    SocialbotsConfig,
    SocialbotsModel,
    expected_reach,
    top_degree,
)

REPLICATES = 3000


def _graph(n, a, b):
    g = from_edges(n, a, b)
    return g.neighbours, g.capacity


def test_independent_cascade_closed_forms(runtime):
    """Mean reach over 3000 cascades within 4.5 standard errors of the closed form, for four cases."""
    p = 0.5
    path_nbr, path_k = _graph(5, [0, 1, 2, 3], [1, 2, 3, 4])  # 0 - 1 - 2 - 3 - 4
    star_nbr, star_k = _graph(6, [0] * 5, [1, 2, 3, 4, 5])  # centre 0, leaves 1..5
    cases = {
        "path": (path_nbr, path_k, None, 0, sum(p**i for i in range(5))),
        "path_2_hops": (path_nbr, path_k, 2, 0, 1 + p + p**2),
        "star_centre": (star_nbr, star_k, None, 0, 1 + 5 * p),
        "star_leaf": (star_nbr, star_k, None, 1, 1 + p * (1 + 4 * p)),
    }

    def initial():
        B = get_backend()
        out = {}
        for name, (nbr, k, hops, seed_node, _) in cases.items():
            n = nbr.shape[0]
            ic = IndependentCascade(n, k, p_spread=p, max_hops=hops)
            seeds = np.zeros((REPLICATES, n), bool)
            seeds[:, seed_node] = True
            live = rv(f"live_{name}", ic.live_edges((REPLICATES,)))
            out[name] = ic.reach_count(B.asarray(nbr), B.asarray(seeds), live)
        return Value(out)

    rt = make_runtime_for(runtime, [_block(initial)], seed=3)
    traj = to_numpy(rt.trajectory(1)["block"])
    for name, (*_, expected) in cases.items():
        reach = traj[name][0]
        se = reach.std(ddof=1) / np.sqrt(REPLICATES)
        assert abs(reach.mean() - expected) < 4.5 * se + 1e-6, (name, reach.mean(), expected, se)
    # the host estimate agrees with the same closed form
    mean, se = expected_reach(star_nbr, np.eye(6, dtype=bool)[[0, 1]], p, draws=2000, seed=1)
    assert np.all(np.abs(mean - [1 + 5 * p, 1 + p * (1 + 4 * p)]) < 4.5 * se)


def _block(initial, transition=None):
    from recosim.core import FieldSpec, ValueSpec, Variable, realize, using_backend, value
    from recosim.core.backend import numpy_backend
    from recosim.core.random import seed as seed_handler

    B = numpy_backend()
    with using_backend(B), seed_handler(B.make_seed(0), B):
        probe = realize(initial())
    var = Variable("block", ValueSpec({k: FieldSpec() for k in probe}))
    var.initial_value = value(lambda: initial())
    if transition is not None:
        var.value = value(lambda prev: transition(prev), (var.previous,))
    return var


def test_periodic_detector(runtime):
    n, steps, every = 4, 7, 3
    rng = np.random.default_rng(0)
    obs = rng.integers(0, 3, (steps, n)).astype(np.float32)
    inner = ThresholdDetector(n, counts=("x",), weights={"x": 1.0}, threshold=np.float32(2.5), decay=0.6)
    det = PeriodicDetector(inner, every=np.int32(every))

    def transition(prev):
        B = get_backend()
        return det.next_state(prev, Value(x=B.np.take(B.asarray(obs), prev.get("step"), axis=0)))

    rt = make_runtime_for(runtime, [_block(det.initial_state, transition)], seed=0)
    traj = to_numpy(rt.trajectory(steps + 1)["block"])
    total, suspended, at = np.zeros(n), np.zeros(n, bool), -np.ones(n, int)
    for t in range(1, steps + 1):
        total = 0.6 * total + obs[t - 1]
        np.testing.assert_allclose(traj["score"][t], total, rtol=1e-5)
        if t % every == 0:
            newly = (total > 2.5) & ~suspended
            at[newly] = t
            suspended |= newly
        assert traj["suspended"][t].tolist() == suspended.tolist(), t
        assert traj["suspended_at"][t].tolist() == at.tolist(), t
    assert suspended.any() and not suspended.all()  # the case decides both ways


TINY = SocialbotsConfig(num_users=40, num_bots=3, num_normals=6, reach_draws=100, threshold=1.8)


def test_socialbots_story_rules_and_baselines(runtime):
    """Suspended bots stop acting; followers come only from accepted requests; the reward is the cascade's
    reach over the norm for posts only; top-degree bots ask the highest-degree users, random bots anyone."""
    model = SocialbotsModel(TINY)
    b, steps = TINY.num_bots, 8
    rt = make_runtime_for(runtime, model.variables(), seed=1, settings=model.settings())
    out = {  # one runtime, two settings: one compiled program
        label: to_numpy(rt.trajectory(steps, settings=model.settings(policy, tau, 1)))
        for label, policy, tau in (("top", TOP_DEGREE_POLICY, 1.2), ("random", RANDOM_POLICY, 1e6))
    }
    for traj in out.values():
        bots, pl, met, rs = traj["bots"], traj["platform"], traj["metrics"], traj["response"]
        susp = pl["suspended"][:, :b]
        # a bot suspended at step t is inactive from t + 1 and asks nobody
        assert not np.any(bots["active"][1:] & susp[:-1])
        assert not np.any((bots["request"] == 1) & ~bots["active"])
        # followers only grow, by accepted requests to the target
        f = pl["followers"].astype(int)
        gained = np.diff(np.concatenate([model.initial_followers[None].astype(int), f]), axis=0)
        assert gained.min() >= 0
        for t in range(steps):
            for i in range(b):
                new = np.nonzero(gained[t, i])[0].tolist()
                ok = bots["request"][t, i] == 1 and rs["accepted_bot"][t, i] == 1
                assert new in ([], [int(bots["target"][t, i])]) and (not new or ok)
        # reward: reach / norm when an active bot posts, else 0; reach >= the followers (the seeds)
        posted = (bots["activity"] == 0) & bots["active"]
        assert np.all(met["reward"][~posted] == 0)
        np.testing.assert_allclose(met["reward"], met["reach"] / model.reach_norm, rtol=1e-5)
        assert np.all(met["reach"][posted] >= pl["followers"].sum(-1)[posted] - 1e-6)
        np.testing.assert_allclose(met["total_reward"][-1], met["reward"].sum(0), rtol=1e-5)
    top = out["top"]
    asked = top["bots"]["request"][0] == 1
    assert asked.any()
    degree = model.graph.degree
    assert np.all(degree[top["bots"]["target"][0][asked]] == degree.max())  # nobody follows a bot yet
    assert int(degree[top_degree(model.graph, 1)[0]]) == int(degree.max())
    # later a bot asks the best-connected user not following it: among the top steps + 1 degrees
    targets = top["bots"]["target"][top["bots"]["request"] == 1]
    assert degree[targets].min() >= np.sort(degree)[::-1][steps]
    # the strict threshold (1.2) suspends some top-degree bots; the huge one (random) nobody
    assert top["platform"]["suspended"][-1, :b].any()
    assert not out["random"]["platform"]["suspended"][-1].any()
    rand = out["random"]["bots"]
    assert len(set(rand["target"][rand["request"] == 1].tolist())) > 3  # spread over the users


def test_config_errors():
    with pytest.raises(ValueError, match="num_bots"):
        SocialbotsConfig(num_users=10, num_bots=11)
    with pytest.raises(ValueError, match="p_spread"):
        SocialbotsConfig(p_spread=1.5)
    with pytest.raises(ValueError, match="max_hops"):
        IndependentCascade(3, 2, p_spread=0.1, max_hops=-1)


MODULES = sorted(
    [
        recosim.library.socialbots.__name__,
        *(
            m.name
            for m in pkgutil.iter_modules(recosim.library.socialbots.__path__, recosim.library.socialbots.__name__ + ".")
        ),
    ]
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0
    assert result.attempted > 0 or name == recosim.library.socialbots.__name__

"""Opinion dynamics: graphs, the exact voter chain, the learners, interactions, the feed, log-probabilities."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recosim.core import Value
from recosim.core.runtime import NumpyRuntime
from recosim.core.testing import make_runtime_for, runtime_names, to_numpy
from recosim.library.opinion import (
    GraphError,
    OpinionConfig,
    OpinionModel,
    check_alpha,
    check_epsilon,
    complete_graph,
    from_edges,
    geometric_graph,
    interface_density,
    learn,
    magnetisation,
    read_edge_list,
    sbm_graph,
    voter_brute_force,
    voter_exact,
    voter_large_n_time,
)
from recosim.library.social import SparseSocialGraph

numpy_session = pytest.mark.skipif(
    "numpy" not in runtime_names(), reason="a NumPy check: it runs in the sessions that test the NumPy runtime"
)


# -- graphs ---------------------------------------------------------------------------------
def _edge_set(graph) -> set[tuple[int, int]]:
    a, b = graph.edges()
    return set(zip(a.tolist(), b.tolist()))


def test_graphs_match_their_definitions_and_the_sparse_social_graph() -> None:
    g = complete_graph(5)
    assert _edge_set(g) == {(i, j) for i in range(5) for j in range(i + 1, 5)}
    geo = geometric_graph(120, 0.2, seed=3)
    p = geo.positions.astype(np.float64)
    d = np.sqrt(((p[:, None] - p[None]) ** 2).sum(-1))
    brute = {(i, j) for i, j in zip(*np.nonzero(np.triu(d < 0.2, 1)))}
    assert _edge_set(geo) == brute and geo.is_connected()
    sbm = sbm_graph(60, 0.5, 0.02, seed=1)
    a, b = sbm.edges()
    same = sbm.community[a] == sbm.community[b]
    assert same.mean() > 0.8 and sbm.is_connected()  # ~435 edges inside, ~18 across
    # the same edges added to a SparseSocialGraph give the same neighbour sets
    social = SparseSocialGraph(geo.num_agents, geo.capacity)
    state = social.initial_state(*geo.edges())
    for i in range(geo.num_agents):
        mine = set(geo.neighbours[i, : geo.degree[i]].tolist())
        assert mine == set(np.asarray(state.get("neighbours"))[i, : int(state.get("degree")[i])].tolist())


def test_graph_errors_name_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(GraphError, match="still disconnected after 3 draws"):
        geometric_graph(200, 0.02, seed=0, max_tries=3)
    with pytest.raises(GraphError, match="p_out must be in"):
        sbm_graph(10, 0.5, 1.5)
    bad = tmp_path / "edges.txt"
    bad.write_text("# a comment\n0 1\n1 2\n2 x\n")
    with pytest.raises(GraphError, match=r"edges.txt:4: agent ids must be integers"):
        read_edge_list(bad)
    bad.write_text("0 1\n1 2 3\n")
    with pytest.raises(GraphError, match=r"edges.txt:2: expected two agent ids"):
        read_edge_list(bad)
    bad.write_text("0 1\n2 3\n")
    with pytest.raises(GraphError, match="not connected"):
        read_edge_list(bad)
    good = tmp_path / "ok.txt"
    good.write_text("0,1\n1 2  # chain\n\n2 0\n0 1\n")
    g = read_edge_list(good)
    assert g.num_agents == 3 and g.degree.tolist() == [2, 2, 2]
    with pytest.raises(GraphError, match=r"ok.txt:1: agent id 1 is not below the 1 agents"):
        read_edge_list(good, num_agents=1)


# -- the exact voter chain --------------------------------------------------------------------
@pytest.mark.parametrize("n", [2, 3, 5, 6])
def test_voter_chain_equals_the_full_chain_brute_force(n: int) -> None:
    times, exits = voter_exact(n)
    bt, be = voter_brute_force(n)
    k = np.array([bin(s).count("1") for s in range(2**n)])
    np.testing.assert_allclose(bt, times[k], rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(be, exits[k], rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(exits, np.arange(n + 1) / n, atol=1e-12)


def test_voter_chain_approaches_the_large_n_formula() -> None:
    times, _ = voter_exact(400)
    assert abs(times[200] / voter_large_n_time(400, 200) - 1) < 0.01


# -- the learner --------------------------------------------------------------------------------
def test_learner_update_and_tie_rule() -> None:
    q = np.array([[0.2, 0.5], [-1.0, 0.3], [0.7, 0.1], [0.0, 0.0]], np.float32)  # columns: Q(-1), Q(+1)
    opinion = np.array([1, 1, -1, -1], np.int32)
    expressed = np.array([1, 1, -1, 1], np.int32)
    reward = np.array([-1.0, -1.0, 1.0, 1.0], np.float32)
    active = np.array([True, True, True, False])
    q1, o1 = learn(q, opinion, expressed, reward, active, np.float32(1.0))
    # agent 0: Q(+1) = -1 < Q(-1): switch; agent 1: a tie at -1 after disapproval: leave +1;
    # agent 2: approved, keeps -1; agent 3 inactive
    np.testing.assert_array_equal(q1[:, 1], np.float32([-1.0, -1.0, 0.1, 0.0]))
    assert q1[2, 0] == 1.0
    assert o1.tolist() == [-1, -1, -1, -1]
    q2, o2 = learn(q, opinion, expressed, reward, active, np.float32(0.5))
    np.testing.assert_allclose(q2[0], [0.2, -0.25])
    assert o2.tolist() == [-1, 1, -1, -1]  # agent 1: Q(+1) = -0.35 > -1 keeps +1
    tie_q = np.array([[1.0, 0.4]], np.float32)  # approved into a tie at 1: keeps what it expressed
    _, o3 = learn(tie_q, np.array([-1]), np.array([1]), np.array([1.0]), np.array([True]), np.float32(1.0))
    assert o3.tolist() == [1]
    for bad, check in ((0.0, check_alpha), (1.5, check_alpha), (1.0, check_epsilon), (-0.1, check_epsilon)):
        with pytest.raises(ValueError, match="must be in"):
            check(bad)


def test_measures() -> None:
    g = complete_graph(4)
    opinion = np.array([[1, 1, -1, -1], [1, 1, 1, 1]], np.int32)
    np.testing.assert_allclose(interface_density(g.neighbours, g.degree, opinion), [4 / 6, 0.0])
    np.testing.assert_allclose(magnetisation(opinion), [0.0, 1.0])


# -- every runtime: the voter limit, scores and the feed ---------------------------------------
def _sequential_log_prob(traj, graph, eps: float) -> float:
    """The trajectory's log-probability by hand: uniform placements and Q draws, uniform speakers and
    slots, Bernoulli(eps) flips."""
    agents, act = traj["agents"], traj["interaction"]
    r, n = agents["opinion"].shape[1:]
    lp = r * n * 2 * np.log(0.5)
    speakers = act["speaker"][1:]
    lp += -np.log(n) * speakers.size
    lp += -np.log(graph.degree[speakers]).sum()
    flips = act["flip"][1:]
    lp += np.where(flips > 0, np.log(eps), np.log1p(-eps)).sum()
    return float(lp)


def test_sequential_dynamics_on_every_runtime(runtime: str) -> None:
    graph = geometric_graph(12, 0.5, seed=2)
    model = OpinionModel(graph, OpinionConfig(alpha=1.0, epsilon=0.0, initial_fraction=0.5), replicas=3)
    rt = make_runtime_for(runtime, model.variables(), seed=4, settings=model.settings)
    traj = rt.trajectory(40)
    t = to_numpy(traj)
    op, act = t["agents"]["opinion"], t["interaction"]
    assert (op[0] > 0).sum(axis=1).tolist() == [6, 6, 6]
    rows = np.arange(3)
    for s in range(1, 40):
        i, j = act["speaker"][s], act["listener"][s]
        assert np.all(graph.neighbours[i, act["slot"][s]] == j)
        # the voter model: the speaker now holds what the listener held, nobody else changes
        np.testing.assert_array_equal(op[s, rows, i], op[s - 1, rows, j])
        others = np.ones_like(op[s], bool)
        others[rows, i] = False
        np.testing.assert_array_equal(op[s][others], op[s - 1][others])
    np.testing.assert_array_equal(t["agents"]["num_plus"], (op > 0).sum(-1))
    # the log-probability in closed form (eps = 0.2 scores the same draws under another setting)
    lp = float(np.asarray(rt.log_probability(traj, settings={"epsilon": 0.2})))
    flips = act["flip"][1:]
    assert flips.sum() == 0
    assert lp == pytest.approx(_sequential_log_prob(t, graph, 0.2), rel=1e-4)
    # exploration and a slower rate, as settings of the same runtime (its compiled programs serve again):
    # the draws are scored the same way; 3 x 39 expressions at eps = 0.3 flip about 35 times (sd 5)
    exploring = {"alpha": 0.3, "epsilon": 0.3}
    traj = rt.trajectory(40, seed=5, settings=exploring)
    t = to_numpy(traj)
    assert 10 < t["interaction"]["flip"][1:].sum() < 70
    ex = t["interaction"]["expressed"][1:]
    held = np.take_along_axis(t["agents"]["opinion"][:-1], t["interaction"]["speaker"][1:, :, None], -1)[..., 0]
    np.testing.assert_array_equal(ex == held, t["interaction"]["flip"][1:] == 0)
    lp = float(np.asarray(rt.log_probability(traj, settings=exploring)))
    assert lp == pytest.approx(_sequential_log_prob(t, graph, 0.3), rel=1e-4)


def test_feed_on_every_runtime(runtime: str) -> None:
    graph = sbm_graph(16, 0.6, 0.1, seed=0)
    k = 3
    model = OpinionModel(graph, OpinionConfig(alpha=0.5, epsilon=0.2, feed_size=k, feed_homophily=3.0), replicas=2)
    rt = make_runtime_for(runtime, model.variables(), seed=1, settings=model.settings)
    traj = rt.trajectory(8)
    t = to_numpy(traj)
    shown, resp = t["platform"]["shown"][1:], t["platform"]["response"][1:]
    op = t["agents"]["opinion"]
    deg = graph.degree
    for s in range(shown.shape[0]):
        for r in range(2):
            for v in range(16):
                slots = shown[s, r, v][shown[s, r, v] >= 0]
                assert len(slots) == min(k, deg[v]) and len(set(slots.tolist())) == len(slots)
                authors = graph.neighbours[v, slots]
                said = t["platform"]["expressed"][s + 1, r, authors]
                np.testing.assert_array_equal(resp[s, r, v, : len(slots)], np.where(said == op[s, r, v], 1.0, -1.0))
    # the ranker's prediction moves a tenth of the way to each shown post's approval; the others stay at 0.5
    want = np.full((2, 16, graph.capacity), 0.5, np.float32)
    for r in range(2):
        for v in range(16):
            for j, slot in enumerate(shown[0, r, v]):
                if slot >= 0:
                    want[r, v, slot] = 0.9 * 0.5 + 0.1 * float(resp[0, r, v, j] > 0)
    np.testing.assert_allclose(t["agents"]["predicted"][1], want, rtol=1e-6)
    views = (shown >= 0).sum(axis=(0, 2, 3))
    np.testing.assert_allclose(t["stats"]["views"][-1], views)
    np.testing.assert_allclose(t["stats"]["approvals"][-1], (resp > 0).sum(axis=(0, 2, 3)))
    # log-probability: uniform initial draws, Bernoulli flips, standard Gumbel noise
    lp = float(np.asarray(rt.log_probability(traj)))
    flips, noise = t["platform"]["flip"][1:], t["platform"]["noise"][1:].astype(np.float64)
    want = 2 * 16 * 2 * np.log(0.5) + np.where(flips > 0, np.log(0.2), np.log(0.8)).sum()
    want += (-(noise + np.exp(-noise))).sum()
    assert lp == pytest.approx(want, rel=1e-4)


@numpy_session
def test_feed_ranker_prefers_predicted_approval() -> None:
    """With a large h the feed shows the slots of highest predicted approval; with h = 0 it is uniform."""
    graph = complete_graph(9)  # 8 neighbours each, feed of 2
    model = OpinionModel(graph, OpinionConfig(feed_size=2), replicas=400)
    rt = NumpyRuntime(model.variables(), seed=0, settings=model.settings)
    pred = np.full((400, 9, 8), 0.1, np.float32)
    pred[:, :, 3] = 0.9
    start = to_numpy(rt.execute(0))
    values = {name: Value(fields) for name, fields in start.items()}
    values["agents"] = Value({**start["agents"], "predicted": pred})
    strong = to_numpy(rt.execute(1, starting_value=values, settings={"feed_homophily": 40.0}))
    assert np.mean(np.any(strong["platform"]["shown"] == 3, axis=-1)) > 0.99
    flat = to_numpy(rt.execute(1, starting_value=values, settings={"feed_homophily": 0.0}))
    share = np.mean(np.any(flat["platform"]["shown"] == 3, axis=-1))
    assert abs(share - 2 / 8) < 4.5 * np.sqrt(0.25 * 0.75 / 3600)


# -- validation (NumPy, small sizes, fixed seeds) -----------------------------------------------
@numpy_session
def test_voter_limit_matches_the_exact_chain() -> None:
    """alpha = 1, eps = 0 on the complete graph: mean time and exit probability within 3 standard errors."""
    n, k, runs = 8, 3, 1500
    graph = complete_graph(n)
    model = OpinionModel(graph, OpinionConfig(alpha=1.0, epsilon=0.0, initial_fraction=k / n), replicas=runs)
    final = to_numpy(NumpyRuntime(model.variables(), seed=11, settings=model.settings).execute(600))
    steps = final["stats"]["consensus_step"]
    assert np.all(steps > 0)  # a censored run would bias the mean: none at this horizon
    times, exits = voter_exact(n)
    z_time = (steps.mean() - times[k]) / (steps.std(ddof=1) / np.sqrt(runs))
    plus = final["agents"]["num_plus"] == n
    z_exit = (plus.mean() - exits[k]) / np.sqrt(exits[k] * (1 - exits[k]) / runs)
    assert abs(z_time) < 3 and abs(z_exit) < 3, (z_time, z_exit)


@numpy_session
def test_consensus_states_are_absorbing() -> None:
    """All at +1 with heavy exploration: disapproved explorations never move anyone off the consensus."""
    graph = geometric_graph(12, 0.5, seed=2)
    model = OpinionModel(graph, OpinionConfig(alpha=0.5, epsilon=0.5, initial_fraction=1.0), replicas=50)
    traj = to_numpy(NumpyRuntime(model.variables(), seed=6, settings=model.settings).trajectory(40))
    assert np.all(traj["agents"]["num_plus"] == 12) and np.all(traj["stats"]["consensus_step"] == 0)
    assert traj["interaction"]["flip"].sum() > 500  # about half of the 50 x 39 expressions were the other opinion


@numpy_session
def test_every_run_with_alpha_below_one_reaches_consensus() -> None:
    """A small graph, alpha < 1, eps > 0: all 200 runs end in consensus (the slowest, at this seed, after 659)."""
    graph = from_edges(6, [0, 1, 2, 3, 4, 5, 0], [1, 2, 3, 4, 5, 0, 3])  # a ring with a chord
    model = OpinionModel(graph, OpinionConfig(alpha=0.5, epsilon=0.1), replicas=200)
    final = to_numpy(NumpyRuntime(model.variables(), seed=3, settings=model.settings).execute(1000))
    assert np.all(final["stats"]["consensus_step"] > 0)
    assert set(final["agents"]["num_plus"].tolist()) <= {0, 6}


@numpy_session
def test_final_measures_and_the_logit_epsilon_hook() -> None:
    """A batch's figures equal the host's from the final value; logit_epsilon scores flips as the setting does."""
    graph = geometric_graph(12, 0.5, seed=2)
    model = OpinionModel(graph, OpinionConfig(alpha=0.4, epsilon=0.3, feed_size=2), replicas=3)
    rt = NumpyRuntime(model.variables(), seed=1, settings=model.settings)
    final = rt.execute(6)
    got = rt.run_batch(6, seeds=[7], settings={"feed_homophily": [0.0, 2.0]}, outputs=model.final_measures).outputs
    again = to_numpy(rt.execute(6, seed=7, settings={"feed_homophily": 2.0}))
    np.testing.assert_allclose(got["interface_density"][1, 0],
                               interface_density(graph.neighbours, graph.degree, again["agents"]["opinion"]))  # fmt: skip
    np.testing.assert_array_equal(got["approvals"][1, 0], again["stats"]["approvals"])
    figures = model.final_measures(final)
    assert set(figures) == {"consensus_step", "num_plus", "interface_density", "mixed_pairs", "views", "approvals",
                            "interface_sum"}  # fmt: skip
    np.testing.assert_allclose(figures["interface_density"] * graph.degree.sum(), figures["mixed_pairs"], rtol=1e-6)
    with pytest.raises(ValueError, match="logit_epsilon: only the random sequential model"):
        model.variables(logit_epsilon=np.float32(0.0))
    seq = OpinionModel(graph, OpinionConfig(alpha=0.4, epsilon=0.3), replicas=2)
    traj = NumpyRuntime(seq.variables(), seed=2, settings=seq.settings).trajectory(30)
    logit = np.float32(np.log(0.3 / 0.7))
    hooked = NumpyRuntime(seq.variables(logit_epsilon=logit), seed=0, settings=seq.settings)
    plain = NumpyRuntime(seq.variables(), seed=0, settings=seq.settings)
    assert float(hooked.log_probability(traj)) == pytest.approx(float(plain.log_probability(traj)), rel=1e-5)

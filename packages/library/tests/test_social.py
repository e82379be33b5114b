"""Social blocks on every runtime: graph growth and queries, request acceptance, detector, rate limiter.

Each block is run as a variable of a small network through the runtime (compiled
on TF and JAX) and compared with a plain-Python reference of the same rules.
"""

from __future__ import annotations

import numpy as np
import pytest

from recosim.core import Value, get_backend, rv
from recosim.core.random import seed, trace
from recosim.core.testing import make_runtime_for, to_numpy
from recosim.library.social import ContactRequests, RateLimiter, SparseSocialGraph, ThresholdDetector, UniformIndex


def reference_add_edges(nbrs, a, b, valid, capacity, num_accounts, max_new=None):
    """The rules of SparseSocialGraph.add_edges on Python lists: returns (new lists, added, overflow)."""
    nbrs = [list(r) for r in nbrs]
    ok = [bool(v) and x != y and 0 <= x < num_accounts and 0 <= y < num_accounts for x, y, v in zip(a, b, valid)]
    in_buffer = list(ok)
    overflow = 0
    if max_new is not None:
        seen = 0
        for i, o in enumerate(ok):
            if o:
                in_buffer[i] = seen < max_new
                seen += 1
        overflow = max(seen - max_new, 0)
    fresh, pairs = {}, set()
    for i, (x, y) in enumerate(zip(a, b)):
        if not in_buffer[i] or y in nbrs[x]:
            continue
        pair = (min(x, y), max(x, y))
        if pair in pairs:
            continue
        pairs.add(pair)
        fresh[i] = (x, y)
    incoming = {}
    for i, (x, y) in fresh.items():
        incoming.setdefault(x, []).append((y, i))
        incoming.setdefault(y, []).append((x, i))
    fits = {}
    for owner, entries in incoming.items():
        free = capacity - len(nbrs[owner])
        for rank, (_, i) in enumerate(sorted(entries)):
            fits[(owner, i)] = rank < free
    added = [i in fresh and fits[(fresh[i][0], i)] and fits[(fresh[i][1], i)] for i in range(len(a))]
    for owner, entries in incoming.items():
        nbrs[owner] += [other for other, i in sorted(entries) if added[i]]
    return nbrs, added, overflow


def as_lists(neighbours, degree):
    return [list(map(int, row[:d])) for row, d in zip(neighbours, degree)]


def test_sparse_social_graph(runtime, tools):
    n, k, steps, batch = 12, 4, 5, 18
    rng = np.random.default_rng(3)
    a = rng.integers(-1, n, size=(steps, batch)).astype(np.int32)
    b = rng.integers(0, n, size=(steps, batch)).astype(np.int32)
    a[:, 0], b[:, 0] = 2, 2  # a self-loop
    a[:, 1], b[:, 1] = b[:, 2], a[:, 2]  # the reverse of the next request
    valid = rng.random((steps, batch)) < 0.9
    x = np.arange(n, dtype=np.float32) ** 2
    # removals: the reverses of earlier additions (mostly edges by then), a repeat, and random pairs
    drop_a = np.concatenate([b[np.maximum(np.arange(steps) - 1, 0), 3:9], rng.integers(0, n, (steps, 4))], 1)
    drop_b = np.concatenate([a[np.maximum(np.arange(steps) - 1, 0), 3:9], rng.integers(0, n, (steps, 4))], 1)
    drop_a[:, -1], drop_b[:, -1] = drop_b[:, 0], drop_a[:, 0]
    drop_a, drop_b = drop_a.astype(np.int32), drop_b.astype(np.int32)
    graph = SparseSocialGraph(n, k, max_new_edges=12)  # compaction: up to 12 of the 18 requests count

    def queries(state, t):
        B = get_backend()
        pa = B.np.arange(n, dtype="int32")
        pb = (pa + 1 + t) % n
        slots = pa % 3
        return Value(
            slot=rv("slot", graph.slot_distribution(state, pa)),
            mutual=graph.mutual_contacts(state, pa, pb),
            contacts=graph.are_contacts(state, pa, pb),
            at=graph.contact_at(state, pa, slots),
            sums=graph.neighbour_sum(state, B.asarray(x)),
        )

    def initial():
        B = get_backend()
        state = graph.empty_state()
        t = B.np.zeros((), dtype="int32")
        return state.union(queries(state, t)).union(
            Value(
                t=t,
                added=B.np.zeros((batch,), dtype="bool"),
                overflow=B.np.zeros((), dtype="int32"),
                removed=B.np.zeros((10,), dtype="bool"),
            )
        )

    def transition(prev):
        B = get_backend()
        t = prev.get("t")
        state = Value(neighbours=prev.get("neighbours"), degree=prev.get("degree"))
        state, removed = graph.remove_edges(
            state, B.np.take(B.asarray(drop_a), t, axis=0), B.np.take(B.asarray(drop_b), t, axis=0)
        )
        new, added, overflow = graph.add_edges(
            state, B.np.take(B.asarray(a), t, axis=0), B.np.take(B.asarray(b), t, axis=0),
            B.np.take(B.asarray(valid), t, axis=0),
        )
        return new.union(queries(new, t + 1)).union(
            Value(t=t + 1, added=added, overflow=overflow, removed=removed)
        )

    fields = ("neighbours", "degree", "slot", "mutual", "contacts", "at", "sums", "t", "added", "overflow", "removed")
    traj, lp = tools.trajectory_and_log_prob(runtime, tools.block_variable(initial, transition, fields), steps + 1)
    degrees = traj["degree"]
    assert np.all((traj["slot"] < np.maximum(degrees, 1)) & (traj["slot"] >= 0))
    assert lp == pytest.approx(-np.log(degrees[degrees > 0]).sum(), rel=1e-5)  # uniform slot draws only
    lists = [[] for _ in range(n)]
    removals = []
    for t in range(steps + 1):
        nbr, deg = traj["neighbours"][t], traj["degree"][t]
        if t > 0:
            removed = []
            for i, j in zip(drop_a[t - 1], drop_b[t - 1]):
                if min(i, j) < 0:
                    removed.append(False)
                    continue
                removed.append(bool(j in lists[i]) and i != j)
                lists[i] = [c for c in lists[i] if c != j]
                lists[j] = [c for c in lists[j] if c != i]
            for i, (p, q) in enumerate(zip(drop_a[t - 1], drop_b[t - 1])):  # a repeat counts as an edge too
                removed[i] = removed[i] or any(
                    (p, q) in ((x, y), (y, x)) and r for x, y, r in zip(drop_a[t - 1][:i], drop_b[t - 1][:i], removed)
                )
            assert traj["removed"][t].tolist() == removed, f"step {t}"
            removals.append(sum(removed))
            lists, added, overflow = reference_add_edges(lists, a[t - 1], b[t - 1], valid[t - 1], k, n, max_new=12)
            assert traj["added"][t].tolist() == added, f"step {t}"
            assert int(traj["overflow"][t]) == overflow
        assert as_lists(nbr, deg) == lists, f"step {t}"
        assert np.all(nbr[np.arange(k)[None, :] >= deg[:, None]] == -1)
        for i in range(n):  # symmetric, no self-loops, no repeats
            assert i not in lists[i] and len(set(lists[i])) == len(lists[i])
            assert all(i in lists[j] for j in lists[i])
        pb = (np.arange(n) + 1 + t) % n
        sets = [set(r) for r in lists]
        assert traj["mutual"][t].tolist() == [len(sets[i] & sets[pb[i]]) for i in range(n)]
        assert traj["contacts"][t].tolist() == [int(pb[i]) in sets[i] for i in range(n)]
        assert traj["at"][t].tolist() == [lists[i][i % 3] if i % 3 < len(lists[i]) else -1 for i in range(n)]
        np.testing.assert_allclose(traj["sums"][t], [sum(x[j] for j in lists[i]) for i in range(n)])
    assert traj["degree"][-1].max() == k  # the capacity was reached and respected
    assert traj["overflow"][1:].max() > 0
    assert sum(removals) > 5  # removal was exercised


def test_contact_requests(runtime, tools):
    n, k, steps = 30, 8, 3
    rng = np.random.default_rng(5)
    seed_a, seed_b = rng.integers(0, n, 40).astype(np.int32), rng.integers(0, n, 40).astype(np.int32)
    graph = SparseSocialGraph(n, k)
    requests = ContactRequests(graph, base_logit=-0.5, mutual_weight=1.5)
    sender = rng.integers(0, n, size=(steps, 25)).astype(np.int32)
    target = rng.integers(0, n, size=(steps, 25)).astype(np.int32)
    sent = rng.random((steps, 25)) < 0.8
    extra = rng.normal(size=(steps, 25)).astype(np.float32)

    def initial():
        B = get_backend()
        state = graph.initial_state(seed_a, seed_b)
        zeros = B.np.zeros((25,), dtype="int32")
        return state.union(Value(t=B.np.zeros((), dtype="int32"), accepted=zeros, mutual=zeros))

    def transition(prev):
        B = get_backend()
        np_ = B.np
        t = prev.get("t")
        state = Value(neighbours=prev.get("neighbours"), degree=prev.get("degree"))
        s, r = np_.take(B.asarray(sender), t, axis=0), np_.take(B.asarray(target), t, axis=0)
        answers = requests.respond(state, s, r, np_.take(B.asarray(sent), t, axis=0),
                                   extra_logit=np_.take(B.asarray(extra), t, axis=0))
        new, _, _ = requests.apply(state, s, r, answers.get("accepted"))
        return new.union(answers).union(Value(t=t + 1))

    fields = ("neighbours", "degree", "t", "accepted", "mutual")
    traj, lp = tools.trajectory_and_log_prob(runtime, tools.block_variable(initial, transition, fields), steps + 1)
    expected_lp = 0.0
    lists = as_lists(traj["neighbours"][0], traj["degree"][0])
    for t in range(steps):
        sets = [set(r) for r in lists]
        mutual = np.array([len(sets[i] & sets[j]) for i, j in zip(sender[t], target[t])])
        assert traj["mutual"][t + 1].tolist() == mutual.tolist()
        acc = traj["accepted"][t + 1]
        assert np.all(acc[~sent[t]] == 0)
        p = 1 / (1 + np.exp(-(-0.5 + 1.5 * np.log1p(mutual) + extra[t])))
        expected_lp += np.sum(np.where(sent[t], np.where(acc == 1, np.log(p), np.log1p(-p)), 0.0))
        lists, _, _ = reference_add_edges(lists, sender[t], target[t], acc, k, n)
        assert as_lists(traj["neighbours"][t + 1], traj["degree"][t + 1]) == lists
    assert lp == pytest.approx(expected_lp, rel=1e-4)

    # acceptance frequencies on a fixed graph: 4000 requests per mutual count
    many = 4000
    state = graph.initial_state(np.array([0, 0, 2, 1]), np.array([2, 4, 1, 4]))  # 0-1 share 2, 0-3 share 0

    def draw():
        B = get_backend()
        s = B.np.zeros((2, many), dtype="int32")
        r = B.asarray(np.repeat(np.array([[1], [3]], np.int32), many, axis=1))
        return requests.respond(state, s, r, B.np.ones((2, many), dtype="bool"))

    # only the draws are read here (the scores were checked above): no scoring program to compile
    draws = make_runtime_for(runtime, [tools.block_variable(draw, None, ("accepted", "mutual"))], seed=0)
    out = to_numpy(draws.trajectory(1)["block"])
    assert out["mutual"][0][:, 0].tolist() == [2, 0]
    probs = 1 / (1 + np.exp(-(-0.5 + 1.5 * np.log1p(np.array([2.0, 0.0])))))
    assert tools.within(out["accepted"][0].mean(axis=1), probs, many)


def test_threshold_detector(runtime, tools):
    n, steps = 5, 6
    rng = np.random.default_rng(0)
    obs = {
        "sent": rng.integers(0, 6, (steps, n)).astype(np.float32),
        "rejected": rng.integers(0, 4, (steps, n)).astype(np.float32),
        "reports": (rng.random((steps, n)) < 0.3).astype(np.float32),
    }
    threshold = np.array([2.0, 3.0, 4.0, 100.0, 5.0], np.float32)
    det = ThresholdDetector(
        n,
        counts=("sent", "rejected", "reports"),
        ratios={"rejection_rate": ("rejected", "sent", 2.0)},
        weights={"rejected": 0.3, "rejection_rate": 2.0, "reports": 1.5},
        threshold=threshold,
        decay=0.7,
    )

    def initial():
        return det.initial_state()

    def transition(prev):
        B = get_backend()
        t = prev.get("step")
        return det.next_state(prev, Value({c: B.np.take(B.asarray(v), t, axis=0) for c, v in obs.items()}))

    traj, lp = tools.trajectory_and_log_prob(
        runtime, tools.block_variable(initial, transition, tuple(det.specs().keys())), steps + 1
    )
    assert lp == 0.0
    totals = {c: np.zeros(n) for c in obs}
    suspended, at = np.zeros(n, bool), -np.ones(n, int)
    for t in range(1, steps + 1):
        for c in obs:
            totals[c] = 0.7 * totals[c] + obs[c][t - 1]
            np.testing.assert_allclose(traj[f"totals.{c}"][t], totals[c], rtol=1e-5)
        score = 0.3 * totals["rejected"] + 2.0 * totals["rejected"] / (totals["sent"] + 2.0) + 1.5 * totals["reports"]
        np.testing.assert_allclose(traj["score"][t], score, rtol=1e-5)
        newly = (score > threshold) & ~suspended
        at[newly] = t
        suspended |= newly
        assert traj["suspended"][t].tolist() == suspended.tolist()
        assert traj["suspended_at"][t].tolist() == at.tolist()
    assert 0 < suspended.sum() < n  # some suspended, not all
    with pytest.raises(ValueError, match="unknown term"):
        ThresholdDetector(n, counts=("sent",), weights={"sen": 1.0})
    with pytest.raises(ValueError, match="not among the counts"):
        ThresholdDetector(n, counts=("sent",), ratios={"r": ("sent", "acc", 1.0)}, weights={"r": 1.0})


def test_rate_limiter(runtime, tools):
    rng = np.random.default_rng(1)
    attempts = rng.random((6, 7)) < 0.6
    used = rng.integers(0, 3, 6).astype(np.int32)
    wanted = rng.integers(0, 9, 6).astype(np.int32)
    limit = np.array([0, 1, 2, 3, 4, 2.5], np.float32)
    limiter = RateLimiter(limit)

    def initial():
        mask = limiter.allow(attempts, used=used)
        counts = limiter.allow_count(wanted, used=used)
        return mask.union(counts.prefixed_with("counts"))

    fields = ("allowed", "sent", "blocked", "counts.sent", "counts.blocked")
    out, lp = tools.trajectory_and_log_prob(runtime, tools.block_variable(initial, None, fields), 1)
    assert lp == 0.0
    budget = np.floor(np.maximum(limit - used, 0)).astype(int)
    allowed = attempts & (np.cumsum(attempts, axis=1) <= budget[:, None])
    assert out["allowed"][0].tolist() == allowed.tolist()
    assert out["sent"][0].tolist() == allowed.sum(1).tolist()
    assert out["blocked"][0].tolist() == (attempts.sum(1) - allowed.sum(1)).tolist()
    assert out["counts.sent"][0].tolist() == np.minimum(wanted, budget).tolist()
    assert out["counts.blocked"][0].tolist() == (wanted - np.minimum(wanted, budget)).tolist()


def test_uniform_index_draws_and_scores():
    B = get_backend()
    high = np.array([1, 3, 0, 7], np.int32)
    with trace() as tr, seed(0):
        draws = np.asarray(rv("x", UniformIndex(high), sample_shape=(3000,)))
    assert draws.dtype == np.int32 and np.all(draws >= 0) and np.all(draws[:, :2] < high[:2]) and np.all(draws[:, 2] == 0)
    freq = np.bincount(draws[:, 3], minlength=7) / 3000
    assert np.all(np.abs(freq - 1 / 7) < 4.5 * np.sqrt(1 / 7 * 6 / 7 / 3000))
    lp = float(B.np.sum(tr.sites["x"].log_prob))
    assert lp == pytest.approx(3000 * (-np.log(3) - np.log(7)), rel=1e-5)
    assert float(UniformIndex(high).log_prob(np.array([1, 3, 1, 0], np.int32))[1]) == -np.inf


def test_add_edges_beyond_the_single_sort_key_range():
    """Graphs of more than 46340 accounts group requests with two stable sorts; same rules."""
    n, k = 50_000, 3
    rng = np.random.default_rng(2)
    ids = rng.choice(n, 15, replace=False).astype(np.int32)
    a, b = rng.choice(ids, 60).astype(np.int32), rng.choice(ids, 60).astype(np.int32)
    graph = SparseSocialGraph(n, k)
    state, added, _ = graph.add_edges(graph.empty_state(), a, b)
    lists, expected, _ = reference_add_edges([[] for _ in range(n)], a, b, np.ones(60, bool), k, n)
    assert added.tolist() == expected and sum(expected) > 5
    got = as_lists(state.get("neighbours"), state.get("degree"))
    assert all(got[i] == lists[i] for i in ids)

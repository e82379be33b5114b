"""Opinion dynamics: interactions per second, synchronous agent-steps per second, memory; a plain NumPy loop beside.

    python benchmarks/opinion.py [--runtimes jax,tf] [--runs 2000] [--agents 100] [--steps 20000]
                                 [--feed-agents 1000000] [--degree 20] [--feed-size 10] [--feed-steps 10]
                                 [--out out/bench]

Three workloads, each point in a child process of its own (`harness.run_child`, so
its peak resident memory is its own):

* ``sequential``: ``--runs`` voter runs (alpha = 1, eps = 0) of ``--agents`` agents
  on the complete graph, ``--steps`` random sequential interactions each, as one
  runtime run of ``--runs`` replicas. Reported: interactions per second (runs x
  steps / wall seconds of a second, compiled call) and how many runs reached
  consensus (a fast but wrong run shows).
* ``feed``: synchronous feed steps at ``--feed-agents`` agents on a sparse random
  graph of mean degree ``--degree`` (a ring plus uniform random edges, so it is
  connected), feeds of ``--feed-size`` posts at h = 1. Reported: agent-steps per
  second and peak memory (run two sizes to see it grow linearly).
* ``numpy-loop``: the same two models written as a user of an agent-based toolkit
  writes them, a Python loop over interactions (sequential) or over agents (feed)
  with NumPy arrays: the baseline.

The goals this measures against (2 cores): 2000 voter runs of 100 agents to
consensus in under 60 s; at least 10 synchronous steps a second at a million
agents on JAX. Take the figures on a quiet machine: the report says how loaded it was.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from harness import Clock, fmt_mib, machine_description, markdown_table, quiet_warning, run_child, write_report


def _sparse_graph(num_agents: int, degree: int, seed: int = 0) -> Any:
    import numpy as np

    from recosim.library.opinion import from_edges

    rng = np.random.default_rng(seed)
    ring = np.arange(num_agents)
    extra = max(0, num_agents * degree // 2 - num_agents)
    a = np.concatenate([ring, rng.integers(0, num_agents, extra)])
    b = np.concatenate([(ring + 1) % num_agents, rng.integers(0, num_agents, extra)])
    return from_edges(num_agents, a, b, kind="random")


def sequential(clock: Clock, *, runtime: str, runs: int, agents: int, steps: int) -> dict[str, Any]:
    """Child: ``runs`` voter replicas on the complete graph, ``steps`` interactions, timed on a second call."""

    from recosim.core.plugins import get_plugins
    from recosim.library.opinion import OpinionConfig, OpinionModel, complete_graph

    with clock.phase("build"):
        model = OpinionModel(complete_graph(agents), OpinionConfig(alpha=1.0, epsilon=0.0), replicas=runs)
        rt = get_plugins().get_runtime(runtime)(model.variables(), seed=0, settings=model.settings)
    with clock.phase("first"):
        rt.run_batch(steps, seeds=[1], outputs=model.final_measures)
    wall = time.perf_counter()
    with clock.phase("warm"):
        final = rt.run_batch(steps, seeds=[2], outputs=model.final_measures).outputs
        reached = final["consensus_step"] >= 0
    wall = time.perf_counter() - wall
    return {"seconds": wall, "interactions_per_s": runs * steps / wall, "reached": int(reached.sum())}


def feed(clock: Clock, *, runtime: str, agents: int, degree: int, feed_size: int, steps: int) -> dict[str, Any]:
    """Child: one run of ``steps`` synchronous feed steps at ``agents`` agents, timed on a second call."""

    from recosim.core.plugins import get_plugins
    from recosim.library.opinion import OpinionConfig, OpinionModel

    with clock.phase("build"):
        graph = _sparse_graph(agents, degree)
        cfg = OpinionConfig(alpha=0.5, epsilon=0.1, feed_size=feed_size, feed_homophily=1.0)
        model = OpinionModel(graph, cfg)
        rt = get_plugins().get_runtime(runtime)(model.variables(), seed=0, settings=model.settings)
    with clock.phase("first"):
        rt.run_batch(steps, seeds=[1], outputs=model.final_measures)
    wall = time.perf_counter()
    with clock.phase("warm"):
        final = rt.run_batch(steps, seeds=[2], outputs=model.final_measures).outputs
        views = float(final["views"].sum())
    wall = time.perf_counter() - wall
    return {"seconds": wall, "agent_steps_per_s": agents * steps / wall, "views_per_agent_step": views / agents / steps,
            "capacity": graph.capacity}  # fmt: skip


def numpy_loop(clock: Clock, *, runs: int, agents: int, steps: int, feed_agents: int, degree: int,
               feed_size: int, feed_steps: int) -> dict[str, Any]:  # fmt: skip
    """Child: the plain NumPy baseline, a Python loop per interaction and per agent."""
    import numpy as np

    rng = np.random.default_rng(0)
    wall = time.perf_counter()
    with clock.phase("sequential"):
        reached = taken = 0
        for _ in range(runs):
            opinion = np.where(rng.permutation(agents) < agents // 2, 1, -1)
            q = rng.uniform(-1, 1, (agents, 2))
            plus = int((opinion > 0).sum())
            for _t in range(steps):
                taken += 1
                i = rng.integers(agents)
                j = rng.integers(agents - 1)
                j += j >= i
                said = opinion[i]
                r = 1.0 if opinion[j] == said else -1.0
                c = (said + 1) // 2
                q[i, c] = r  # alpha = 1
                new = 1 if q[i, 1] > q[i, 0] else -1 if q[i, 1] < q[i, 0] else (said if r > 0 else -said)
                plus += (new - opinion[i]) // 2
                opinion[i] = new
                if plus in (0, agents):
                    reached += 1
                    break
    seq_wall = time.perf_counter() - wall
    graph = _sparse_graph(feed_agents, degree)
    nbr, deg = graph.neighbours, graph.degree
    opinion = np.where(rng.random(feed_agents) < 0.5, 1, -1)
    q = rng.uniform(-1, 1, (feed_agents, 2))
    pred = np.full(nbr.shape, 0.5)
    wall = time.perf_counter()
    with clock.phase("feed"):
        for _t in range(feed_steps):
            said = np.where(rng.random(feed_agents) < 0.1, -opinion, opinion)
            total = np.zeros(feed_agents)
            count = np.zeros(feed_agents)
            for v in range(feed_agents):
                d = deg[v]
                w = np.exp(1.0 * pred[v, :d])
                k = min(feed_size, d)
                slots = rng.choice(d, size=k, replace=False, p=w / w.sum())
                for s in slots:
                    a = nbr[v, s]
                    liked = said[a] == opinion[v]
                    total[a] += 1.0 if liked else -1.0
                    count[a] += 1.0
                    pred[v, s] += 0.1 * (float(liked) - pred[v, s])
            heard = count > 0
            mean = np.where(heard, total / np.maximum(count, 1), 0.0)
            col = (said + 1) // 2
            rows = np.flatnonzero(heard)
            q[rows, col[rows]] = 0.5 * q[rows, col[rows]] + 0.5 * mean[rows]
            opinion = np.where(heard, np.where(q[:, 1] > q[:, 0], 1, np.where(q[:, 1] < q[:, 0], -1, opinion)), opinion)
    feed_wall = time.perf_counter() - wall
    return {"sequential_seconds": seq_wall, "interactions_per_s": taken / seq_wall, "reached": reached,
            "note": "a loop run stops at consensus: the rate counts the interactions it took",
            "feed_seconds": feed_wall, "agent_steps_per_s": feed_agents * feed_steps / feed_wall}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runtimes", default="jax,tf")
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument("--feed-agents", default="1000000", help="comma-separated sizes (memory against agents)")
    parser.add_argument("--degree", type=int, default=20)
    parser.add_argument("--feed-size", type=int, default=10)
    parser.add_argument("--feed-steps", type=int, default=10)
    parser.add_argument("--loop-runs", type=int, default=20, help="runs of the NumPy loop baseline")
    parser.add_argument("--loop-agents", type=int, default=20000, help="agents of the NumPy loop's feed")
    parser.add_argument("--timeout", type=float, default=3600.0)
    parser.add_argument("--out", default="out/bench")
    args = parser.parse_args(argv)
    env = {"TF_CPP_MIN_LOG_LEVEL": "2"}
    logs = Path(args.out) / "logs"
    rows: list[dict[str, Any]] = []

    def record(kind: str, runtime: str, size: str, child: Any) -> None:
        row = {"workload": kind, "runtime": runtime, "size": size, "ok": child.ok, "error": child.error,
               "peak_rss_mib": child.peak_rss_mib, "load_before": child.load_before,
               "first_call_s": child.phases.get("first"), **child.result}  # fmt: skip
        rows.append(row)
        print(json.dumps({k: v for k, v in row.items() if k != "load_before"}), flush=True)

    for rt in args.runtimes.split(","):
        params = {"runtime": rt, "runs": args.runs, "agents": args.agents, "steps": args.steps}
        child = run_child("opinion", "sequential", params, env=env, timeout=args.timeout, log_dir=logs,
                          label=f"opinion-seq-{rt}")  # fmt: skip
        record("sequential", rt, f"{args.runs} runs x {args.agents} agents x {args.steps} steps", child)
        for n in (int(x) for x in args.feed_agents.split(",")):
            params = {"runtime": rt, "agents": n, "degree": args.degree, "feed_size": args.feed_size,
                      "steps": args.feed_steps}  # fmt: skip
            child = run_child("opinion", "feed", params, env=env, timeout=args.timeout, log_dir=logs,
                              label=f"opinion-feed-{rt}-{n}")  # fmt: skip
            record("feed", rt, f"{n:,} agents x {args.feed_steps} steps", child)
    params = {"runs": args.loop_runs, "agents": args.agents, "steps": args.steps, "feed_agents": args.loop_agents,
              "degree": args.degree, "feed_size": args.feed_size, "feed_steps": 2}  # fmt: skip
    child = run_child("opinion", "numpy_loop", params, env=env, timeout=args.timeout, log_dir=logs, label="loop")
    record("numpy-loop", "python+numpy", f"{args.loop_runs} runs; feed {args.loop_agents:,} agents x 2 steps", child)

    body = []
    for r in rows:
        rate = r.get("interactions_per_s") or r.get("agent_steps_per_s")
        extra = r.get("agent_steps_per_s") if r["workload"] == "numpy-loop" else None
        body.append([r["workload"], r["runtime"], r["size"], "" if not r["ok"] else f"{rate:,.0f}",
                     "" if extra is None else f"{extra:,.0f}", fmt_mib(r["peak_rss_mib"]),
                     "" if r["ok"] else f"failed: {r['error']}"])  # fmt: skip
    header = ["workload", "runtime", "size", "interactions or agent-steps /s", "loop feed agent-steps /s",
              "peak memory", "note"]  # fmt: skip
    machine = machine_description()
    warning = quiet_warning(machine.get("load_average"), machine.get("usable_cores"))
    table = markdown_table(header, body)
    text = f"{warning}\n\n{table}\n" if warning else f"{table}\n"
    md, js = write_report(Path(args.out), "opinion", "Opinion dynamics throughput", text,
                          {"machine": machine, "rows": rows})  # fmt: skip
    print(f"wrote {md} and {js}")
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

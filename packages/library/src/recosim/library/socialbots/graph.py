"""A follow graph with a heavy-tailed degree distribution (preferential attachment), drawn on the host.

Socialbots aim at influential accounts, so the graph they act on needs accounts
whose degree stands out: `preferential_attachment_graph` grows a graph by
preferential attachment (each new account joins ``m`` distinct earlier accounts
chosen with probability proportional to their degree), which gives a power-law
tail. It returns the opinion package's `OpinionGraph` (neighbour arrays), so the
social blocks' queries and `IndependentCascade` work on it.

>>> g = preferential_attachment_graph(100, 2, seed=0)
>>> g.num_agents, g.num_edges, g.is_connected(), int(g.degree.max()) > 4 * int(np.median(g.degree))
(100, 197, True, True)
"""

from __future__ import annotations

import numpy as np

from recosim.library.opinion.graphs import GraphError, OpinionGraph, from_edges

__all__ = ["preferential_attachment_graph", "top_degree"]


def preferential_attachment_graph(n: int, m: int, *, seed: int = 0) -> OpinionGraph:
    """``n`` accounts; the first ``m + 1`` form a clique, each later one joins ``m`` earlier ones by degree."""
    if isinstance(m, bool) or int(m) != m or int(m) < 1:
        raise GraphError(f"m (edges per new account) must be an integer >= 1, got {m!r}")
    if isinstance(n, bool) or int(n) != n or int(n) < int(m) + 2:
        raise GraphError(f"n must be an integer >= m + 2 = {int(m) + 2}, got {n!r}")
    n, m = int(n), int(m)
    rng = np.random.default_rng(int(seed))
    a = [i for i in range(m + 1) for j in range(i + 1, m + 1)]
    b = [j for i in range(m + 1) for j in range(i + 1, m + 1)]
    ends = a + b  # every edge end once: drawing from it is drawing by degree
    for new in range(m + 1, n):
        chosen: set[int] = set()
        while len(chosen) < m:
            chosen.add(int(ends[rng.integers(len(ends))]))
        for old in sorted(chosen):
            a.append(new)
            b.append(old)
            ends += [new, old]
    return from_edges(n, a, b, kind="preferential_attachment", meta={"m": m, "seed": int(seed)})


def top_degree(graph: OpinionGraph, k: int) -> np.ndarray:
    """The ``k`` accounts of highest degree, highest first (ties to the lower id)."""
    order = np.lexsort((np.arange(graph.num_agents), -graph.degree.astype(np.int64)))
    return order[: int(k)].astype(np.int32)

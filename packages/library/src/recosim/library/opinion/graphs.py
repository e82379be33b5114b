"""Interaction graphs for opinion dynamics, built on the host and held as neighbour arrays.

Every generator returns an `OpinionGraph`: undirected, without self-loops, in the
representation of `recosim.library.social.SparseSocialGraph` (``neighbours[i,
:degree[i]]`` are agent ``i``'s neighbours in increasing order, the other slots
``-1``; capacity = the largest degree), so `SparseSocialGraph`'s queries work on
``graph.state()``. Graphs are drawn with NumPy from an explicit seed; the
geometric and block-model graphs are drawn again (a new derived seed each time)
until they are connected, at most ``max_tries`` times, else a `GraphError`.

>>> g = complete_graph(4)
>>> g.neighbours.tolist(), g.degree.tolist()
([[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]], [3, 3, 3, 3])
>>> g = geometric_graph(50, 0.3, seed=1)
>>> g.num_agents, g.is_connected()
(50, True)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from recosim.core import Value

__all__ = [
    "GraphError",
    "OpinionGraph",
    "complete_graph",
    "geometric_graph",
    "sbm_graph",
    "read_edge_list",
    "from_edges",
    "connected_components",
]

MAX_TRIES = 100
"""Draws of a random graph before giving up on a connected one."""


class GraphError(ValueError):
    """A graph cannot be built as asked (disconnected after every try, a malformed edge file)."""


@dataclass(frozen=True)
class OpinionGraph:
    """An undirected graph as neighbour arrays (``int32[N, capacity]``, ``int32[N]``).

    ``positions`` (geometric graphs: ``float32[N, 2]``) and ``community``
    (block models: ``int32[N]``) are kept for plots; ``kind`` names the generator.
    """

    neighbours: np.ndarray
    degree: np.ndarray
    kind: str = "edges"
    positions: np.ndarray | None = None
    community: np.ndarray | None = None
    attempts: int = 1
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def num_agents(self) -> int:
        return int(self.degree.shape[0])

    @property
    def capacity(self) -> int:
        return int(self.neighbours.shape[1])

    @property
    def num_edges(self) -> int:
        return int(self.degree.sum()) // 2

    def state(self) -> Value:
        """``Value(neighbours=..., degree=...)``, the state of ``SparseSocialGraph(N, capacity)``."""
        return Value(neighbours=self.neighbours, degree=self.degree)

    def edges(self) -> tuple[np.ndarray, np.ndarray]:
        """Each edge once, ``a < b``."""
        rows = np.repeat(np.arange(self.num_agents, dtype=np.int32), self.degree)
        cols = self.neighbours[self.neighbours >= 0]
        keep = rows < cols
        return rows[keep], cols[keep]

    def is_connected(self) -> bool:
        return bool(connected_components(self.num_agents, *self.edges()).max(initial=0) == 0)


def connected_components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A component label per node (the smallest node id of its component), by label propagation."""
    labels = np.arange(n, dtype=np.int64)
    a = np.asarray(a, np.int64)
    b = np.asarray(b, np.int64)
    while True:
        old = labels
        lab = labels.copy()
        np.minimum.at(lab, a, labels[b])
        np.minimum.at(lab, b, labels[a])
        lab = lab[lab]  # pointer jumping
        labels = lab
        if np.array_equal(labels, old):
            return labels


def from_edges(n: int, a: Any, b: Any, *, kind: str = "edges", **extra: Any) -> OpinionGraph:
    """The graph on ``n`` agents with edges ``a[i] - b[i]`` (self-loops and repeats dropped)."""
    a = np.asarray(a, np.int64).ravel()
    b = np.asarray(b, np.int64).ravel()
    if a.shape != b.shape:
        raise GraphError(f"edge endpoints differ in length: {a.shape[0]} and {b.shape[0]}")
    if a.size and (min(a.min(), b.min()) < 0 or max(a.max(), b.max()) >= n):
        raise GraphError(f"edge endpoints must be agent ids in [0, {n})")
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    keep = lo != hi
    pairs = np.unique(lo[keep] * n + hi[keep])
    lo, hi = pairs // n, pairs % n
    owner = np.concatenate([lo, hi])
    other = np.concatenate([hi, lo])
    order = np.lexsort((other, owner))
    owner, other = owner[order], other[order]
    degree = np.bincount(owner, minlength=n).astype(np.int32)
    capacity = max(1, int(degree.max(initial=0)))
    start = np.concatenate([[0], np.cumsum(degree)[:-1]])
    slot = np.arange(owner.size) - start[owner]
    neighbours = np.full((n, capacity), -1, np.int32)
    neighbours[owner, slot] = other
    return OpinionGraph(neighbours=neighbours, degree=degree, kind=kind, **extra)


def complete_graph(n: int) -> OpinionGraph:
    """Every pair of the ``n`` agents joined (``n >= 2``)."""
    n = _agents(n)
    ids = np.arange(n, dtype=np.int32)
    full = np.broadcast_to(ids, (n, n))
    neighbours = np.where(ids[:, None] > np.arange(n - 1)[None, :], full[:, : n - 1], full[:, 1:])
    return OpinionGraph(neighbours=neighbours.astype(np.int32), degree=np.full(n, n - 1, np.int32), kind="complete")


def _agents(n: Any) -> int:
    if isinstance(n, bool) or int(n) != n or int(n) < 2:
        raise GraphError(f"a graph needs at least 2 agents, got {n!r}")
    return int(n)


def _retry(kind: str, seed: int, max_tries: int, draw: Any, why: str) -> OpinionGraph:
    if int(max_tries) < 1:
        raise GraphError(f"max_tries must be >= 1, got {max_tries}")
    for attempt in range(int(max_tries)):
        rng = np.random.default_rng([int(seed), attempt])
        graph: OpinionGraph = draw(rng)
        if graph.is_connected():
            return OpinionGraph(**{**graph.__dict__, "attempts": attempt + 1})
    raise GraphError(f"{kind} graph: still disconnected after {max_tries} draws ({why})")


def _geometric_pairs(points: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Pairs closer than ``radius``, found cell by cell (cells of side ``radius``): linear in the pairs."""
    n = points.shape[0]
    cells = max(1, int(np.floor(1.0 / radius)))
    cx = np.minimum((points[:, 0] * cells).astype(np.int64), cells - 1)
    cy = np.minimum((points[:, 1] * cells).astype(np.int64), cells - 1)
    cell = cx * cells + cy
    order = np.argsort(cell, kind="stable")
    counts = np.bincount(cell, minlength=cells * cells)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    out_a, out_b = [], []
    for dx, dy in ((0, 0), (1, -1), (1, 0), (1, 1), (0, 1)):  # each neighbouring cell pair once
        nx, ny = cx + dx, cy + dy
        ok = (nx >= 0) & (nx < cells) & (ny >= 0) & (ny < cells)
        src = np.nonzero(ok)[0]
        target = nx[src] * cells + ny[src]
        k = counts[target]
        rep = np.repeat(src, k)
        offset = np.arange(k.sum()) - np.repeat(np.cumsum(k) - k, k)
        dst = order[np.repeat(starts[target], k) + offset]
        if (dx, dy) == (0, 0):
            keep = rep < dst
            rep, dst = rep[keep], dst[keep]
        d2 = np.sum((points[rep] - points[dst]) ** 2, axis=1)
        close = d2 < radius * radius
        out_a.append(rep[close])
        out_b.append(dst[close])
    del n
    return np.concatenate(out_a), np.concatenate(out_b)


def geometric_graph(n: int, radius: float, *, seed: int = 0, max_tries: int = MAX_TRIES) -> OpinionGraph:
    """``n`` points uniform in the unit square, joined when closer than ``radius``; drawn until connected."""
    n = _agents(n)
    radius = float(radius)
    if not 0 < radius <= 2**0.5:
        raise GraphError(f"radius must be in (0, sqrt 2], got {radius}")

    def draw(rng: np.random.Generator) -> OpinionGraph:
        points = rng.random((n, 2))
        a, b = _geometric_pairs(points, radius)
        return from_edges(n, a, b, kind="geometric", positions=points.astype(np.float32), meta={"radius": radius})

    return _retry("geometric", seed, max_tries, draw, f"{n} agents, radius {radius:g}: use a larger radius")


def sbm_graph(n: int, p_in: float, p_out: float, *, seed: int = 0, max_tries: int = MAX_TRIES) -> OpinionGraph:
    """Two communities (agents ``0..n//2-1`` and the rest), edges with probability ``p_in`` within and
    ``p_out`` across; drawn until connected.

    Up to 4000 agents every pair is drawn; beyond, each block's edge count is drawn
    (binomial) and its edges placed uniformly, repeats dropped (a sparse graph loses a
    fraction of about ``p`` of its edges that way).
    """
    n = _agents(n)
    for name, p in (("p_in", p_in), ("p_out", p_out)):
        if not 0.0 <= float(p) <= 1.0:
            raise GraphError(f"{name} must be in [0, 1], got {p}")
    half = n // 2
    community = (np.arange(n) >= half).astype(np.int32)

    def draw(rng: np.random.Generator) -> OpinionGraph:
        if n <= 4000:
            a, b = np.triu_indices(n, 1)
            p = np.where(community[a] == community[b], p_in, p_out)
            keep = rng.random(a.size) < p
            a, b = a[keep], b[keep]
        else:
            parts_a, parts_b = [], []
            blocks = ((0, half, 0, half, p_in), (half, n, half, n, p_in), (0, half, half, n, p_out))
            for a0, a1, b0, b1, p_block in blocks:
                same = a0 == b0
                size = (a1 - a0) * (a1 - a0 - 1) // 2 if same else (a1 - a0) * (b1 - b0)
                m = rng.binomial(size, p_block)
                parts_a.append(rng.integers(a0, a1, m))
                parts_b.append(rng.integers(b0, b1, m))
            a, b = np.concatenate(parts_a), np.concatenate(parts_b)
        return from_edges(n, a, b, kind="sbm", community=community, meta={"p_in": p_in, "p_out": p_out})

    return _retry("sbm", seed, max_tries, draw, f"{n} agents, p_in {p_in:g}, p_out {p_out:g}: raise p_in or p_out")


def read_edge_list(path: str | Path, num_agents: int | None = None) -> OpinionGraph:
    """An edge list file: one edge ``i j`` (0-based agent ids, spaces or a comma) per line.

    Blank lines and ``#`` comments are skipped. The graph has ``num_agents`` agents
    (default: the largest id + 1); it must be connected and every agent needs a
    neighbour. A malformed line is refused naming the file and line.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise GraphError(f"{path}: cannot read the edge list ({err})") from None
    a, b = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        body = line.split("#", 1)[0].replace(",", " ").split()
        if not body:
            continue
        if len(body) != 2:
            raise GraphError(f"{path}:{number}: expected two agent ids 'i j', got {line.strip()!r}")
        try:
            i, j = int(body[0]), int(body[1])
        except ValueError:
            raise GraphError(f"{path}:{number}: agent ids must be integers, got {line.strip()!r}") from None
        if i < 0 or j < 0:
            raise GraphError(f"{path}:{number}: agent ids must be >= 0, got {line.strip()!r}")
        if num_agents is not None and max(i, j) >= num_agents:
            raise GraphError(f"{path}:{number}: agent id {max(i, j)} is not below the {num_agents} agents")
        if i == j:
            raise GraphError(f"{path}:{number}: self-loop {i} - {j}")
        a.append(i)
        b.append(j)
    if not a:
        raise GraphError(f"{path}: no edges")
    n = int(num_agents) if num_agents is not None else max(max(a), max(b)) + 1
    graph = from_edges(_agents(n), a, b, kind="file", meta={"file": str(path)})
    lonely = np.nonzero(graph.degree == 0)[0]
    if lonely.size:
        raise GraphError(f"{path}: agent {int(lonely[0])} has no neighbour ({lonely.size} such agents)")
    if not graph.is_connected():
        parts = np.unique(connected_components(n, *graph.edges())).size
        raise GraphError(f"{path}: the graph is not connected ({parts} components); consensus needs one")
    return graph

"""The independent cascade: content spreads along each edge with a fixed probability, once.

A cascade starts from a set of *seed* accounts (active with certainty). Each
account that becomes active gets one chance to activate each of its
neighbours, succeeding with probability ``p_spread`` independently. The set of
accounts reached has the same law as the set reachable from the seeds over the
*live* edges, where each directed edge ``u -> v`` is live with probability
``p_spread`` independently (the live-edge form). `IndependentCascade` draws the
live edges as one field (`IndependentCascade.live_edges`, a Bernoulli per slot
of the neighbour array ``[..., N, capacity]``) and computes the reach from them
deterministically (`IndependentCascade.reach`), ``max_hops`` rounds of
spreading: exact when ``max_hops >= N - 1``; a smaller bound truncates cascades
at that depth (cheaper, and nearly exact when ``p_spread`` times the mean
degree is well below one).

Closed forms (used by the tests): on a path ``0 - 1 - ... - (L-1)`` seeded at
``0`` the expected reach is ``sum_{k=0}^{L-1} p^k`` (``sum_{k=0}^{h} p^k`` with
``max_hops = h``); on a star with ``m`` leaves seeded at the centre it is
``1 + m p``, seeded at a leaf ``1 + p (1 + (m - 1) p)``.

>>> import numpy as np
>>> path = np.array([[1, -1], [0, 2], [1, -1]], np.int32)   # 0 - 1 - 2
>>> ic = IndependentCascade(3, 2, p_spread=0.5, max_hops=2)
>>> live = np.array([[1, 0], [0, 1], [0, 0]], np.int32)      # 0 -> 1 and 1 -> 2 are live
>>> ic.reach(path, np.array([True, False, False]), live).tolist()
[True, True, True]
>>> live[1, 1] = 0
>>> ic.reach(path, np.array([True, False, False]), live).tolist()
[True, True, False]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from recosim.core import Entity, get_backend, numpy_backend, using_backend
from recosim.library.params import as_float_param, known_shape, positive_int

__all__ = ["IndependentCascade", "expected_reach"]


def _int32(x: Any) -> Any:
    B = get_backend()
    return B.cast(B.asarray(x), "int32")


class IndependentCascade(Entity):
    """Independent-cascade spread over a graph held as neighbour arrays (``int32[N, capacity]``, ``-1`` = empty).

    Args:
      num_nodes: ``N``, the accounts of the graph.
      capacity: slots per row of the neighbour array.
      p_spread: the probability that an active account activates a neighbour
        (a scalar; a setting or parameter array is accepted).
      max_hops: rounds of spreading computed; ``None`` means ``N - 1`` (exact).
    """

    block_name = "independent_cascade"
    block_kind = "social"

    def __init__(
        self, num_nodes: int, capacity: int, *, p_spread: Any, max_hops: int | None = None, name: str | None = None
    ) -> None:
        super().__init__(name=name)
        self.num_nodes = positive_int(num_nodes, "num_nodes")
        self.capacity = positive_int(capacity, "capacity")
        if isinstance(p_spread, (int, float, np.floating)) and not 0.0 <= float(p_spread) <= 1.0:
            raise ValueError(f"p_spread must be in [0, 1], got {p_spread!r}")
        self.p_spread = as_float_param(p_spread, "p_spread")
        hops = self.num_nodes - 1 if max_hops is None else int(max_hops)
        if isinstance(max_hops, bool) or hops < 0 or (max_hops is not None and int(max_hops) != max_hops):
            raise ValueError(f"max_hops must be a whole number >= 0, got {max_hops!r}")
        self.max_hops = hops

    def live_edges(self, batch_shape: Sequence[int] = ()) -> Any:
        """The distribution of the live edges: Bernoulli(``p_spread``) per slot, ``int32[*batch_shape, N, capacity]``.

        Draw it as a field (``rv("live", ic.live_edges((num_bots,)))``): one independent cascade per batch entry.
        """
        B = get_backend()
        shape = (*tuple(int(s) for s in batch_shape), self.num_nodes, self.capacity)
        probs = B.np.zeros(shape, dtype="float32") + B.cast(B.asarray(self.p_spread), "float32")
        return B.tfd.Bernoulli(probs=probs, dtype="int32")

    def reach(self, neighbours: Any, seeds: Any, live: Any) -> Any:
        """The accounts reached (bool ``[..., N]``) from ``seeds`` (bool ``[..., N]``) over ``live`` edges.

        ``live`` is ``[..., N, capacity]`` (the batch shape of ``seeds``); ``neighbours``
        is the graph's ``int32[N, capacity]``, shared by the batch. Seeds count as reached.
        """
        B = get_backend()
        np_ = B.np
        n, k = self.num_nodes, self.capacity
        nbr = _int32(neighbours)
        if known_shape(nbr, "neighbours") != (n, k):
            raise ValueError(f"{self.name}: neighbours has shape {known_shape(nbr, 'neighbours')}, expected {(n, k)}")
        seeds = B.asarray(seeds) != 0
        shape = known_shape(seeds, "seeds")
        if not shape or shape[-1] != n:
            raise ValueError(f"{self.name}: seeds has shape {shape}; its last axis must be the {n} accounts")
        batch = shape[:-1]
        rows = int(np.prod(batch, dtype=np.int64))
        live = B.asarray(live) != 0
        if known_shape(live, "live") != (*batch, n, k):
            raise ValueError(f"{self.name}: live has shape {known_shape(live, 'live')}, expected {(*batch, n, k)}")
        reached = np_.reshape(seeds, (rows, n))
        open_edge = np_.reshape(live, (rows, n, k)) & (nbr >= 0)[None]
        target = np_.arange(rows, dtype="int32")[:, None, None] * n + np_.clip(nbr, 0, n - 1)[None]
        index = np_.reshape(target, (-1,))
        for _ in range(self.max_hops):
            push = _int32(np_.reshape(reached[:, :, None] & open_edge, (-1,)))
            hits = B.scatter_add(np_.zeros((rows * n,), dtype="int32"), index, push)
            reached = reached | np_.reshape(hits > 0, (rows, n))
        return np_.reshape(reached, (*batch, n))

    def reach_count(self, neighbours: Any, seeds: Any, live: Any) -> Any:
        """The number of accounts reached (float32 ``[...]``)."""
        B = get_backend()
        return B.np.sum(B.cast(self.reach(neighbours, seeds, live), "float32"), axis=-1)


def expected_reach(
    neighbours: np.ndarray,
    seeds: np.ndarray,
    p_spread: float,
    *,
    draws: int = 1000,
    seed: int = 0,
    max_hops: int | None = None,
    chunk: int = 250,
) -> tuple[np.ndarray, np.ndarray]:
    """Monte-Carlo mean and standard error of the reach from each row of ``seeds`` (bool ``[S, N]``), on the host.

    Computed with NumPy (`IndependentCascade.reach` under the NumPy backend, live edges
    drawn from ``numpy.random.default_rng(seed)``), ``draws`` cascades per row.
    """
    neighbours = np.asarray(neighbours, np.int32)
    seeds = np.atleast_2d(np.asarray(seeds, bool))
    n, k = neighbours.shape
    if seeds.shape[1] != n:
        raise ValueError(f"seeds has {seeds.shape[1]} columns; the graph has {n} accounts")
    ic = IndependentCascade(n, k, p_spread=float(p_spread), max_hops=max_hops)
    rng = np.random.default_rng(int(seed))
    total = np.zeros(seeds.shape[0])
    square = np.zeros(seeds.shape[0])
    done = 0
    with using_backend(numpy_backend()):
        while done < draws:
            m = min(chunk, draws - done)
            live = rng.random((m, seeds.shape[0], n, k)) < p_spread
            batch_seeds = np.broadcast_to(seeds, (m, *seeds.shape))
            counts = np.asarray(ic.reach_count(neighbours, batch_seeds, live), np.float64)
            total += counts.sum(axis=0)
            square += np.square(counts).sum(axis=0)
            done += m
    mean = total / draws
    var = np.maximum(square / draws - mean**2, 0.0) * draws / max(draws - 1, 1)
    return mean, np.sqrt(var / draws)

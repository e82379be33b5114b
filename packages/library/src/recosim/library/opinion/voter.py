"""The voter model on the complete graph, exactly: a birth-death chain on the number of ``+1`` agents.

With ``k`` of ``N`` agents at ``+1``, one interaction (a uniform agent hears a
uniform other agent and adopts its opinion) moves ``k`` up or down by one, each
with probability ``p_k = k (N - k) / (N (N - 1))``. The probability of ending at
all ``+1`` solves ``E(k) = (E(k+1) + E(k-1)) / 2`` (so ``E(k) = k / N``); the
mean number of interactions to consensus solves ``T(k+1) - 2 T(k) + T(k-1) = -1 /
p_k`` with ``T(0) = T(N) = 0``. Both are solved here as the tridiagonal linear
systems they are (float64), not taken from a formula.

>>> t, e = voter_exact(4)
>>> [round(float(x), 6) for x in t], [round(float(x), 6) for x in e]
([0.0, 5.5, 7.0, 5.5, 0.0], [0.0, 0.25, 0.5, 0.75, 1.0])
"""

from __future__ import annotations

from itertools import product

import numpy as np

__all__ = ["voter_exact", "voter_brute_force", "voter_large_n_time"]


def _solve_tridiagonal(lower: np.ndarray, diag: np.ndarray, upper: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """The solution of a tridiagonal system (Thomas algorithm; the chain's systems are diagonally dominant)."""
    n = diag.size
    c = np.zeros(n)
    d = np.zeros(n)
    c[0] = upper[0] / diag[0] if n > 1 else 0.0
    d[0] = rhs[0] / diag[0]
    for i in range(1, n):
        m = diag[i] - lower[i] * c[i - 1]
        c[i] = upper[i] / m if i < n - 1 else 0.0
        d[i] = (rhs[i] - lower[i] * d[i - 1]) / m
    x = np.zeros(n)
    x[-1] = d[-1]
    for i in range(n - 2, -1, -1):
        x[i] = d[i] - c[i] * x[i + 1]
    return x


def voter_exact(n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(T, E)`` for ``k = 0..n``: mean interactions to consensus and probability of ending at all ``+1``."""
    n = int(n)
    if n < 2:
        raise ValueError(f"the voter model needs n >= 2 agents, got {n}")
    k = np.arange(1, n, dtype=np.float64)
    p = k * (n - k) / (n * (n - 1.0))  # up = down probability from each transient state
    # T(k) = 1 + p T(k+1) + p T(k-1) + (1 - 2p) T(k)  <=>  2p T(k) - p T(k-1) - p T(k+1) = 1
    lower, upper, diag = -p, -p, 2.0 * p
    times = _solve_tridiagonal(lower, diag, upper, np.ones(n - 1))
    # E(k) = p E(k+1) + p E(k-1) + (1 - 2p) E(k), E(0) = 0, E(n) = 1
    rhs = np.zeros(n - 1)
    rhs[-1] = p[-1]
    exits = _solve_tridiagonal(lower, diag, upper, rhs)
    return np.concatenate([[0.0], times, [0.0]]), np.concatenate([[0.0], exits, [1.0]])


def voter_large_n_time(n: int, k: int) -> float:
    """The large-``n`` approximation ``-n (n - 1) [rho ln rho + (1 - rho) ln(1 - rho)]``, ``rho = k / n``."""
    rho = k / n
    if rho in (0.0, 1.0):
        return 0.0
    return float(-n * (n - 1) * (rho * np.log(rho) + (1 - rho) * np.log(1 - rho)))


def voter_brute_force(n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(T, E)`` per configuration (``2**n`` of them, bit ``i`` = agent ``i`` at ``+1``) from the full chain.

    Every ordered pair (speaker ``i``, neighbour ``j``) has probability ``1 / (n (n - 1))``;
    ``i`` takes ``j``'s opinion. Solves the absorbing chain's linear systems directly:
    a check of :func:`voter_exact` that does not lump configurations by ``k``.
    """
    n = int(n)
    if not 2 <= n <= 10:
        raise ValueError(f"brute force needs 2 <= n <= 10, got {n}")
    states = np.array(list(product((0, 1), repeat=n)))[:, ::-1]  # row s: bits of s, agent 0 first
    size = states.shape[0]
    moves = np.zeros((size, size))
    weight = 1.0 / (n * (n - 1))
    for s in range(size):
        for i in range(n):
            for j in range(n):
                if i != j:
                    t = s & ~(1 << i) | (int(states[s, j]) << i)
                    moves[s, t] += weight
    absorbing = np.array([0, size - 1])
    transient = np.setdiff1d(np.arange(size), absorbing)
    q = moves[np.ix_(transient, transient)]
    eye = np.eye(transient.size)
    times = np.zeros(size)
    times[transient] = np.linalg.solve(eye - q, np.ones(transient.size))
    exits = np.zeros(size)
    exits[size - 1] = 1.0
    exits[transient] = np.linalg.solve(eye - q, moves[transient, size - 1])
    return times, exits

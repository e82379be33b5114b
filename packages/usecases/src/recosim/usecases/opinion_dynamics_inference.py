"""Learning the learners' ``alpha`` and ``eps`` from a logged opinion trajectory.

The data are what a platform logs of random sequential interactions: at each
step who spoke (``speaker``), to whom (``listener``), which opinion was expressed
(``expressed``) and whether it was approved (``reward``), plus the agents' initial
state (``q``, ``opinion``). The agents' action values after the start are not
logged: for a given ``alpha`` they follow from the data by replaying the learners'
update (`recosim.library.opinion.learn`, the model's own rule). Then

* an expression is explained with probability ``1 - eps`` when it equals the
  opinion the speaker held under that replay, ``eps`` otherwise;
* a reward must be what the listener's replayed opinion gives (the approval is
  deterministic): a value of ``alpha`` contradicting one logged reward has
  likelihood 0.

So ``log L(alpha, eps) = (T - m) log(1 - eps) + m log(eps)`` where ``alpha`` is
consistent with every reward, ``m(alpha)`` being the number of expressions that
differ from the replayed opinion. ``L`` is piecewise constant in ``alpha`` (the
replay changes only when a switch moves), so gradient-based fits and samplers
have nothing to follow; the likelihood is evaluated exactly on a grid of
``alpha`` instead, with ``eps`` maximised (``m / T``) or integrated (a uniform
prior on ``eps`` gives ``B(m + 1, T - m + 1)``) in closed form. Returns the
maximum-likelihood pair and the grid posterior of ``alpha`` and ``eps``.

>>> from recosim.core.runtime import NumpyRuntime
>>> from recosim.library.opinion import OpinionConfig, OpinionModel, complete_graph
>>> model = OpinionModel(complete_graph(8), OpinionConfig(alpha=0.4, epsilon=0.1))
>>> traj = NumpyRuntime(model.variables(), seed=1, settings=model.settings).trajectory(300)
>>> fit = fit_learners(logged_interactions(traj))
>>> fit.interval("alpha")[0] <= 0.4 <= fit.interval("alpha")[1]
True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from math import lgamma
from typing import Any

import numpy as np

from recosim.library.opinion import learn

__all__ = ["LearnerFit", "fit_learners", "logged_interactions", "replay"]


def logged_interactions(trajectory: Mapping[str, Any], replica: int = 0) -> dict[str, np.ndarray]:
    """The logged data of one replica of a sequential-model trajectory (what `fit_learners` reads)."""
    act, agents = trajectory["interaction"], trajectory["agents"]
    return {
        "speaker": np.asarray(act.get("speaker"))[1:, replica],
        "listener": np.asarray(act.get("listener"))[1:, replica],
        "expressed": np.asarray(act.get("expressed"))[1:, replica],
        "reward": np.asarray(act.get("reward"))[1:, replica],
        "q": np.asarray(agents.get("q"))[0, replica],
        "opinion": np.asarray(agents.get("opinion"))[0, replica],
    }


def replay(data: Mapping[str, np.ndarray], alphas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each ``alpha``: whether it explains every logged reward, and the number ``m`` of expressions
    that differ from the opinion the speaker held."""
    alphas = np.asarray(alphas, np.float32)
    g = alphas.size
    speaker, listener = np.asarray(data["speaker"]), np.asarray(data["listener"])
    expressed, reward = np.asarray(data["expressed"]), np.asarray(data["reward"], np.float32)
    steps = speaker.shape[0]
    n = np.asarray(data["opinion"]).shape[0]
    for name in ("listener", "expressed", "reward"):
        if np.asarray(data[name]).shape != (steps,):
            raise ValueError(f"logged {name} has shape {np.asarray(data[name]).shape}, expected ({steps},)")
    if steps and (speaker.min() < 0 or max(speaker.max(), listener.max()) >= n):
        raise ValueError(f"logged speakers and listeners must be agent ids in [0, {n})")
    q = np.broadcast_to(np.asarray(data["q"], np.float32), (g, n, 2)).copy()
    opinion = np.broadcast_to(np.asarray(data["opinion"], np.int32), (g, n)).copy()
    consistent = np.ones(g, bool)
    mismatches = np.zeros(g, np.int64)
    rows = np.arange(g)
    on = np.ones(g, bool)
    for t in range(steps):
        s, j, e, r = speaker[t], listener[t], expressed[t], reward[t]
        mismatches += opinion[:, s] != e
        consistent &= np.where(opinion[:, j] == e, 1.0, -1.0) == r
        new_q, new_o = learn(q[rows, s], opinion[:, s], np.full(g, e), np.full(g, r), on, alphas[:, None])
        q[:, s] = np.asarray(new_q)
        opinion[:, s] = np.asarray(new_o)
    return consistent, mismatches


@dataclass(frozen=True)
class LearnerFit:
    """The maximum-likelihood ``alpha, eps`` and the grid posterior (uniform priors on both)."""

    alphas: np.ndarray
    log_likelihood: np.ndarray  # profile log-likelihood (eps at its maximum) per alpha
    posterior: np.ndarray  # p(alpha | data) on the grid (eps integrated)
    mismatches: np.ndarray
    steps: int
    ml_alpha: float
    ml_alpha_range: tuple[float, float]
    ml_epsilon: float

    def mean(self, name: str) -> float:
        return float(self._moments(name)[0])

    def sd(self, name: str) -> float:
        return float(np.sqrt(self._moments(name)[1]))

    def _moments(self, name: str) -> tuple[float, float]:
        if name == "alpha":
            m = float(np.sum(self.posterior * self.alphas))
            return m, float(np.sum(self.posterior * (self.alphas - m) ** 2))
        a, b = self.mismatches + 1.0, self.steps - self.mismatches + 1.0  # eps | alpha ~ Beta(a, b)
        means = a / (a + b)
        m = float(np.sum(self.posterior * means))
        second = np.sum(self.posterior * (means**2 + a * b / ((a + b) ** 2 * (a + b + 1))))
        return m, float(second - m * m)

    def interval(self, name: str, level: float = 0.95) -> tuple[float, float]:
        """The central posterior interval of ``alpha`` (on the grid) or ``eps`` (the Beta mixture)."""
        lo, hi = (1 - level) / 2, (1 + level) / 2
        if name == "alpha":
            cdf = np.cumsum(self.posterior)
            i_lo, i_hi = int(np.searchsorted(cdf, lo)), min(int(np.searchsorted(cdf, hi)), self.alphas.size - 1)
            return float(self.alphas[i_lo]), float(self.alphas[i_hi])
        grid = np.linspace(0.0, 1.0, 4001)[1:-1]
        dens = np.zeros_like(grid)
        for w, m in zip(self.posterior, self.mismatches):
            if w > 0:
                a, b = m + 1.0, self.steps - m + 1.0
                logc = lgamma(a + b) - lgamma(a) - lgamma(b)
                dens += w * np.exp(logc + (a - 1) * np.log(grid) + (b - 1) * np.log1p(-grid))
        cdf = np.cumsum(dens)
        cdf /= cdf[-1]
        return float(grid[np.searchsorted(cdf, lo)]), float(grid[np.searchsorted(cdf, hi)])

    def summary(self) -> dict[str, Any]:
        return {
            "steps": self.steps,
            "ml": {"alpha": self.ml_alpha, "alpha_range": list(self.ml_alpha_range), "epsilon": self.ml_epsilon},
            "posterior": {name: {"mean": self.mean(name), "sd": self.sd(name), "interval95": list(self.interval(name))}
                          for name in ("alpha", "epsilon")},
        }  # fmt: skip


def fit_learners(data: Mapping[str, np.ndarray], alphas: np.ndarray | None = None) -> LearnerFit:
    """ML and grid-posterior ``alpha`` (in ``(0, 1]``) and ``eps`` for logged interactions ``data``."""
    alphas = np.linspace(0.0025, 1.0, 400) if alphas is None else np.asarray(alphas, np.float64)
    if alphas.ndim != 1 or alphas.size < 2 or alphas.min() <= 0 or alphas.max() > 1:
        raise ValueError("alphas must be a 1-D grid of at least 2 values in (0, 1]")
    consistent, m = replay(data, alphas)
    steps = int(np.asarray(data["speaker"]).shape[0])
    if steps < 1:
        raise ValueError("the logged trajectory has no interactions")
    if not consistent.any():
        raise ValueError("no alpha on the grid explains the logged rewards: is this a sequential-model log?")
    mf = m.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        eps_hat = mf / steps
        profile = np.where(mf > 0, mf * np.log(eps_hat), 0.0) + np.where(
            steps - mf > 0, (steps - mf) * np.log1p(-eps_hat), 0.0
        )
    profile = np.where(consistent, profile, -np.inf)
    log_marginal = np.where(consistent, [lgamma(k + 1) + lgamma(steps - k + 1) - lgamma(steps + 2) for k in m], -np.inf)
    post = np.exp(log_marginal - log_marginal.max())
    post /= post.sum()
    best = np.flatnonzero(profile == profile.max())
    return LearnerFit(
        alphas=alphas, log_likelihood=profile, posterior=post, mismatches=m, steps=steps,
        ml_alpha=float(np.median(alphas[best])), ml_alpha_range=(float(alphas[best].min()), float(alphas[best].max())),
        ml_epsilon=float(eps_hat[best[0]]),
    )  # fmt: skip

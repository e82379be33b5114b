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
cannot move ``alpha``. Two fits:

* `fit_learners`, the exact grid (the oracle): the likelihood is evaluated on a
  grid of ``alpha``, with ``eps`` maximised (``m / T``) or integrated (a uniform
  prior on ``eps`` gives ``B(m + 1, T - m + 1)``) in closed form; it returns the
  maximum-likelihood pair and the grid posterior of ``alpha`` and ``eps``.
* `fit_learners_inference`, with recosim-inference: ``alpha`` is profiled over
  the same grid (the outer step; a smooth relaxation of the opinion switch would
  be another model), and for each class of ``alpha`` values that replay the log
  alike the log is completed into the model's full trajectory
  (`completed_trajectory`: every draw, ``flip`` included, is then a logged field,
  so the model's log-probability scores it). ``eps`` is fitted by
  ``recosim.inference.fit_mle`` on that log-probability (the profile then picks
  the ML ``alpha``) and sampled by ``recosim.inference.sample_posterior`` (NUTS)
  under a uniform prior, given each of the heaviest classes; its posterior is their
  mixture, weighted by the grid's posterior of ``alpha``.

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

from recosim.library.opinion import OpinionConfig, OpinionGraph, OpinionModel, learn

__all__ = [
    "InferenceFit",
    "LearnerFit",
    "completed_trajectory",
    "fit_learners",
    "fit_learners_inference",
    "logged_interactions",
    "replay",
]


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
    consistent, mismatches, _ = _replay(data, alphas, record=False)
    return consistent, mismatches


def _replay(
    data: Mapping[str, np.ndarray], alphas: np.ndarray, *, record: bool
) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
    """`replay`, and with ``record`` the replayed ``q`` ``[T + 1, G, N, 2]`` and ``opinion`` ``[T + 1, G, N]``."""
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
    history = ([q.copy()], [opinion.copy()]) if record else None
    for t in range(steps):
        s, j, e, r = speaker[t], listener[t], expressed[t], reward[t]
        mismatches += opinion[:, s] != e
        consistent &= np.where(opinion[:, j] == e, 1.0, -1.0) == r
        new_q, new_o = learn(q[rows, s], opinion[:, s], np.full(g, e), np.full(g, r), on, alphas[:, None])
        q[:, s] = np.asarray(new_q)
        opinion[:, s] = np.asarray(new_o)
        if history is not None:
            history[0].append(q.copy())
            history[1].append(opinion.copy())
    states = None if history is None else (np.stack(history[0]), np.stack(history[1]))
    return consistent, mismatches, states


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


# -- the same fit through recosim-inference --------------------------------------------------------
def completed_trajectory(
    data: Mapping[str, np.ndarray], graph: OpinionGraph, alphas: Any
) -> dict[str, dict[str, np.ndarray]]:
    """The model's full trajectory that the logged interactions imply at each of ``alphas`` (one replica each).

    The agents' action values and opinions are replayed with the model's update
    (`recosim.library.opinion.learn`); the exploration draw ``flip`` is whether the
    expression differs from the replayed opinion; the neighbour ``slot`` is found in
    ``graph``; the initial draws are set to values in their support (their
    densities do not depend on ``alpha`` or ``eps``). Fields have the axes
    ``[T + 1, len(alphas), ...]``, as an `OpinionModel` of ``len(alphas)`` replicas
    logs them, so `recosim.core.runtime.Runtime.log_probability` and
    recosim-inference score it. A ValueError names an ``alpha`` that contradicts a
    logged reward, or a step whose listener is not the speaker's neighbour.
    """
    alphas = np.atleast_1d(np.asarray(alphas, np.float32))
    n, c = graph.num_agents, alphas.size
    shape = np.asarray(data["opinion"]).shape
    if shape != (n,):
        raise ValueError(f"the logged initial opinions have shape {shape}; the graph has {n} agents")
    speaker, listener = np.asarray(data["speaker"], np.int32), np.asarray(data["listener"], np.int32)
    expressed, reward = np.asarray(data["expressed"], np.int32), np.asarray(data["reward"], np.float32)
    hit = graph.neighbours[np.clip(speaker, 0, n - 1)] == listener[:, None]
    missing = np.flatnonzero(~hit.any(axis=1) | (speaker < 0) | (speaker >= n))
    if missing.size:
        t = int(missing[0])
        raise ValueError(f"logged step {t + 1}: listener {listener[t]} is not a neighbour of speaker {speaker[t]}")
    slot = np.argmax(hit, axis=1).astype(np.int32)
    consistent, _, states = _replay(data, alphas, record=True)
    if not consistent.all():
        raise ValueError(f"alpha = {float(alphas[~consistent][0]):g} contradicts a logged reward")
    assert states is not None
    q, opinion = states
    held = opinion[:-1, :, :][np.arange(speaker.size), :, speaker]  # [T, C]: the speaker's replayed opinion
    flip = (held != expressed[:, None]).astype(np.int32)

    def steps(first: float, xs: np.ndarray, dtype: Any) -> np.ndarray:
        xs = np.broadcast_to(xs.reshape(xs.shape[0], -1), (xs.shape[0], c))
        return np.concatenate([np.full((1, c), first), xs]).astype(dtype)

    num_plus = (opinion > 0).sum(-1).astype(np.int32)
    reached = (num_plus == 0) | (num_plus == n)
    first = np.where(reached.any(0), np.argmax(reached, axis=0), -1)
    now = np.arange(num_plus.shape[0])[:, None]
    consensus = np.where((first[None] >= 0) & (now >= first[None]), first[None], -1).astype(np.int32)
    length = num_plus.shape[0]
    return {
        "agents": {
            "q": q.astype(np.float32),
            "opinion": opinion.astype(np.int32),
            "num_plus": num_plus,
            "placement": np.broadcast_to(np.where(opinion[0] > 0, 0.25, 0.75), opinion.shape).astype(np.float32),
            "q_draw": np.broadcast_to(q[0], q.shape).astype(np.float32),
        },
        "interaction": {
            "speaker": steps(-1, speaker, np.int32),
            "slot": steps(-1, slot, np.int32),
            "flip": np.concatenate([np.zeros((1, c), np.int32), flip]),
            "listener": steps(-1, listener, np.int32),
            "expressed": steps(0, expressed, np.int32),
            "reward": steps(0.0, reward, np.float32),
        },
        "stats": {"step": np.arange(length, dtype=np.int32), "consensus_step": consensus},
    }


def _sigmoid(x: Any) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


@dataclass(frozen=True)
class InferenceFit:
    """``alpha`` and ``eps`` learnt with recosim-inference, beside the exact grid (`LearnerFit`) of its outer step.

    ``classes``: per set of grid ``alpha`` values that replay the log alike (the same
    mismatches ``m``), its alphas, grid posterior weight, ``eps`` fitted by
    ``fit_mle`` and the model's log-likelihood there. ``epsilon_samples``
    ``[K, draws]``: NUTS draws of ``eps`` given each of the ``K`` heaviest classes
    (``weights``, summing to 1), the posterior of ``eps`` being their mixture.
    """

    exact: LearnerFit
    classes: list[dict[str, Any]]
    ml_alpha: float
    ml_alpha_range: tuple[float, float]
    ml_epsilon: float
    epsilon_samples: np.ndarray
    weights: np.ndarray
    diagnostics: dict[str, Any]

    def mean(self, name: str) -> float:
        if name == "alpha":
            return self.exact.mean("alpha")
        return float(np.sum(self.weights * self.epsilon_samples.mean(axis=1)))

    def sd(self, name: str) -> float:
        if name == "alpha":
            return self.exact.sd("alpha")
        second = np.sum(self.weights * (self.epsilon_samples**2).mean(axis=1))
        return float(np.sqrt(max(second - self.mean("epsilon") ** 2, 0.0)))

    def interval(self, name: str, level: float = 0.95) -> tuple[float, float]:
        """``alpha``: the grid's; ``eps``: weighted quantiles of the pooled draws."""
        if name == "alpha":
            return self.exact.interval("alpha", level)
        x = self.epsilon_samples.reshape(-1)
        w = np.repeat(self.weights / self.epsilon_samples.shape[1], self.epsilon_samples.shape[1])
        order = np.argsort(x)
        cdf = np.cumsum(w[order])
        lo, hi = (1 - level) / 2, (1 + level) / 2
        i_lo, i_hi = int(np.searchsorted(cdf, lo)), min(int(np.searchsorted(cdf, hi)), x.size - 1)
        return float(x[order][i_lo]), float(x[order][i_hi])

    def summary(self) -> dict[str, Any]:
        return {
            "ml": {"alpha": self.ml_alpha, "alpha_range": list(self.ml_alpha_range), "epsilon": self.ml_epsilon},
            "posterior": {name: {"mean": self.mean(name), "sd": self.sd(name), "interval95": list(self.interval(name))}
                          for name in ("alpha", "epsilon")},
            "classes_sampled": int(self.weights.size),
            "diagnostics": self.diagnostics,
        }  # fmt: skip


def fit_learners_inference(
    data: Mapping[str, np.ndarray],
    graph: OpinionGraph,
    *,
    runtime: str = "jax",
    alphas: np.ndarray | None = None,
    ml_steps: int = 300,
    learning_rate: float = 0.05,
    posterior_mass: float = 0.999,
    max_classes: int = 8,
    num_chains: int = 2,
    num_warmup: int = 300,
    num_samples: int = 500,
    seed: int = 0,
) -> InferenceFit:
    """ML and posterior ``alpha, eps`` with recosim-inference's ``fit_mle`` and NUTS, ``alpha`` profiled on a grid.

    The outer step is `fit_learners` (the exact grid): it groups the grid's
    ``alpha`` values into classes that replay the log alike. For each class the
    log is completed into the model's trajectory (`completed_trajectory`, one
    replica per class), ``eps = sigmoid(logit_epsilon)`` is fitted by
    ``recosim.inference.fit_mle`` (every class at once: one parameter per replica),
    and the model's log-probability (the runtime's, at that ``eps``) gives the
    profile; the ML ``alpha`` is the best class's. The posterior of ``eps`` is
    sampled by ``recosim.inference.sample_posterior`` (NUTS) with a static latent
    ``logit_epsilon ~ Logistic(0, 1)`` per class (a uniform prior on ``eps``), for
    the classes holding ``posterior_mass`` of the grid posterior (at most
    ``max_classes``), mixed by those weights; ``alpha``'s posterior is the grid's.
    ``runtime`` is ``"jax"`` or ``"tf"``.
    """
    from recosim.core import FieldSpec, Value, ValueSpec, Variable, get_backend, value
    from recosim.core.plugins import get_plugins
    from recosim.inference import fit_mle, sample_posterior

    if not 0.0 < posterior_mass <= 1.0:
        raise ValueError(f"posterior_mass must be in (0, 1], got {posterior_mass}")
    exact = fit_learners(data, alphas)
    ok = np.isfinite(exact.log_likelihood)
    classes = []
    for m in sorted(set(exact.mismatches[ok].tolist())):
        members = exact.alphas[ok & (exact.mismatches == m)]
        weight = float(exact.posterior[ok & (exact.mismatches == m)].sum())
        classes.append({"m": int(m), "alphas": members, "alpha": float(np.median(members)), "weight": weight})
    reps = np.asarray([c["alpha"] for c in classes], np.float32)
    traj = completed_trajectory(data, graph, reps)
    cfg = OpinionConfig(alpha=float(reps[0]), epsilon=0.5)

    # ML: eps per class by fit_mle, then the profile by the model's log-probability
    model = OpinionModel(graph, cfg, replicas=len(classes))
    fit = fit_mle(lambda params: model.variables(logit_epsilon=params["logit_epsilon"]),
                  {"logit_epsilon": np.zeros(len(classes), np.float32)}, [traj], runtime=runtime,
                  num_steps=ml_steps, learning_rate=learning_rate, seed=seed, quiet=True)  # fmt: skip
    eps_ml = _sigmoid(fit.params["logit_epsilon"])
    one = OpinionModel(graph, cfg, replicas=1)
    rt = get_plugins().get_runtime(runtime)(one.variables(), seed=seed, settings=one.settings)
    for k, entry in enumerate(classes):
        single = {v: Value({f: x[:, k : k + 1] if x.ndim > 1 else x for f, x in fields.items()})
                  for v, fields in traj.items()}  # fmt: skip
        entry["ml_epsilon"] = float(eps_ml[k])
        at = {"epsilon": np.float32(eps_ml[k])}
        entry["log_likelihood"] = float(np.asarray(rt.log_probability(single, settings=at)))
    best = max(range(len(classes)), key=lambda k: classes[k]["log_likelihood"])

    # the posterior of eps given each heavy class, by NUTS
    order = sorted(range(len(classes)), key=lambda k: -classes[k]["weight"])
    chosen: list[int] = []
    for k in order:
        if len(chosen) >= max_classes or sum(classes[j]["weight"] for j in chosen) >= posterior_mass:
            break
        chosen.append(k)
    size = len(chosen)
    learners = Variable("learners", ValueSpec(logit_epsilon=FieldSpec((size,), "float32")))

    def prior() -> Value:
        B = get_backend()
        return Value(logit_epsilon=B.tfd.Logistic(B.np.zeros((size,), dtype="float32"), 1.0))

    learners.initial_value = value(prior)
    picked = {v: {f: x[:, chosen] if x.ndim > 1 else x for f, x in fields.items()} for v, fields in traj.items()}
    variables = [learners, *OpinionModel(graph, cfg, replicas=size).variables(logit_epsilon=learners)]
    post = sample_posterior(variables, {"learners": {}, **picked}, ["learners/logit_epsilon"], runtime=runtime,
                            num_chains=num_chains, num_warmup=num_warmup, num_samples=num_samples, seed=seed,
                            quiet=True)  # fmt: skip
    draws = _sigmoid(post.samples["learners/logit_epsilon"])  # [chains, draws, K]
    weights = np.asarray([classes[k]["weight"] for k in chosen])
    for j, k in enumerate(chosen):
        classes[k]["posterior_epsilon"] = {"mean": float(draws[..., j].mean()), "sd": float(draws[..., j].std())}
    members = classes[best]["alphas"]
    return InferenceFit(
        exact=exact,
        classes=[{**c, "alphas": [float(c["alphas"].min()), float(c["alphas"].max())]} for c in classes],
        ml_alpha=float(np.median(members)),
        ml_alpha_range=(float(members.min()), float(members.max())),
        ml_epsilon=float(eps_ml[best]),
        epsilon_samples=np.moveaxis(draws, -1, 0).reshape(size, -1),
        weights=weights / weights.sum(),
        diagnostics=post.diagnostics,
    )

"""The inference algorithms, written once: posterior sampling, Monte-Carlo EM, VI, ML/MAP fits, REINFORCE.

Every engine here is framework-free (NumPy on the host) and is driven by
`recosim.inference.loop.run`. What differs between JAX and TensorFlow (gradients,
compilation, optimiser steps, sampler kernels) is reached through a `Framework`
object from the runtime's module (``recosim.inference._jax`` or ``._tf``), whose
parts are the operations listed in `Framework`, `Trainable`, `ChainOps`, `VIOps`,
`FitOps` and `ReinforceOps`. The engines own the rest: keys per unit, starting
points and their checks, the EM iteration, iterate averaging and the convergence
diagnostic of VI, baselines and advantages, records, checkpoints, and the check
that a run's parameters and objective stay finite.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from recosim.inference.loop import LeafState, NpzStore, StateStore
from recosim.inference.options import OptimizerOptions, SamplerOptions
from recosim.inference.policy import ReinforceSpec
from recosim.inference.problem import InferenceError, LatentProblem, explain_non_finite, unflatten_params

__all__ = [
    "Framework",
    "NonFiniteError",
    "PosteriorEngine",
    "MCEMEngine",
    "VIEngine",
    "FitEngine",
    "ReinforceEngine",
    "GRPOEngine",
    "Rollouts",
    "vi_diagnostics",
]

Builder = Callable[[Any], Any]
"""``make_model``: parameters -> model."""
Batch = Mapping[str, Mapping[str, np.ndarray]]
"""Fully observed trajectories: variable -> field -> ``[trajectories, steps, ...]``."""
LogPrior = Callable[[Any], Any] | None
"""A MAP fit's ``log_prior(params)``, or ``None`` for maximum likelihood."""


# -- what a framework provides -------
class Trainable(Protocol):
    """Parameters and optimiser state (JAX: a pytree and optax state; TF: ``tf.Variable`` s and Keras)."""

    def start(self) -> None:
        """Set the parameters to their initial values and reset the optimiser."""

    def tree(self) -> Any:
        """The parameters and optimiser state as a nest (for checkpoints)."""

    def set_tree(self, tree: Any) -> None:
        """Take a restored `tree`."""

    def flat_numpy(self) -> dict[str, np.ndarray]:
        """The parameters as NumPy arrays, by flat name (``"a/b"``)."""


class ChainOps(Protocol):
    """Vectorised HMC or NUTS chains over a `LatentProblem` (at a `Trainable`'s parameters for EM)."""

    def log_density(self, positions: Mapping[str, np.ndarray]) -> np.ndarray:
        """The log-density of each chain's position ``[chains]``."""

    def network(self) -> Any:
        """The model at the current parameters (to explain a non-finite density)."""

    def start(self, positions: Mapping[str, np.ndarray]) -> None:
        """Posterior sampling: chains at ``positions``, adaptation not begun."""

    def advance(self, key: Any, done: int, n: int) -> dict[str, np.ndarray]:
        """Posterior sampling: steps ``done .. done + n - 1`` (warm-up records nothing)."""

    def start_em(self, positions: Mapping[str, np.ndarray]) -> None:
        """Monte-Carlo EM: chains at ``positions``, with the initial step size."""

    def e_step(self, key: Any, iteration: int) -> dict[str, np.ndarray]:
        """Warm up (``num_warmup`` steps first, then ``num_warmup_per_iteration``) and draw ``num_samples``."""

    def m_step(self) -> Any:
        """One ascent step on the mean log-density of the last E-step's draws; the value before it."""

    def step_size(self) -> np.ndarray:
        """The step size in use, averaged over chains."""

    def tree(self) -> Any:
        """The chains' state as a nest."""

    def set_tree(self, tree: Any) -> None:
        """Take a restored `tree`."""


class VIOps(Protocol):
    """A Gaussian surrogate over the flattened latents and its optimiser."""

    def log_density(self, positions: Mapping[str, np.ndarray]) -> np.ndarray: ...

    def network(self) -> Any: ...

    def start(self, loc: np.ndarray) -> None:
        """The surrogate at ``loc`` with scale ``init_scale``; the optimiser reset."""

    def advance(self, key: Any, done: int, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``len(weights)`` steps: the ELBO per step, and per averaging window (columns of ``weights``
        ``[n, windows]``) the weighted sums of the iterates' means ``[windows, d]`` and scales
        (``[windows, d]`` mean-field, ``[windows, d, d]`` lower-triangular full-rank)."""

    def fitted(self) -> tuple[np.ndarray, np.ndarray]:
        """The last iterate: mean and lower-triangular scale."""

    def tree(self) -> Any: ...

    def set_tree(self, tree: Any) -> None: ...


class FitOps(Protocol):
    """The mean log-probability of a batch of fully observed trajectories, and ascent steps on it."""

    def per_trajectory(self) -> np.ndarray:
        """Each trajectory's log-probability at the current parameters."""

    def trajectory(self, i: int) -> dict[str, dict[str, np.ndarray]]: ...

    def network(self) -> Any: ...

    def advance(self, key: Any, done: int, n: int) -> np.ndarray:
        """``n`` ascent steps; the objective before each."""


@dataclass(frozen=True)
class Rollouts:
    """A batch of rollouts: the trajectories, and what a framework keeps to differentiate them.

    ``trajectories`` is a nest whose fields have leading axes ``[rollouts, steps]``.
    A framework that records the policy's log-probabilities while it draws
    (``[rollouts, steps, ...]``) gives them as ``log_probs``, with ``pullback``, what
    it needs to differentiate them without evaluating the policy again.
    """

    trajectories: Any
    log_probs: Any = None
    pullback: Any = None


class ReinforceOps(Protocol):
    """Rollouts at the current parameters and steps on the policy's log-probability."""

    def rollouts(self, pop_keys: Sequence[Any], run_keys: Sequence[Any], *, differentiable: bool = False) -> Rollouts:
        """One rollout per pair of keys; ``differentiable``: ready for `step` and `gradient`."""

    def log_probs(self, trajectories: Any) -> np.ndarray:
        """The policy's log-probabilities of the trajectories' draws ``[rollouts, steps, ...]``, evaluated anew."""

    def step(self, batch: Rollouts, advantages: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One ascent step on the surrogate; its loss and the gradient's norm."""

    def gradient(self, batch: Rollouts, advantages: np.ndarray) -> np.ndarray:
        """The surrogate's gradient at the current parameters, flattened."""

    def log_probs_at(self, params: Mapping[str, np.ndarray], trajectories: Any) -> np.ndarray:
        """The policy's log-probabilities at other (flat, NumPy) parameters."""

    def clipped_step(
        self, trajectories: Any, advantages: np.ndarray, old: np.ndarray, ref: np.ndarray, clip: float, beta: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """One ascent step on GRPO's clipped-ratio objective with a KL penalty; its loss and gradient norm."""


class Framework:
    """The per-framework operations the engines run on.

    A framework module subclasses it once: its operation classes as the class
    attributes ``trainable_ops``, ``chain_ops``, ``vi_ops``, ``fit_ops`` and
    ``reinforce_ops`` (built with the arguments of `trainable`, `chains`, `vi`,
    `fit` and `reinforce`), and the primitives below that raise
    ``NotImplementedError`` here. Checkpoints go through ``store`` (``.npz`` files).
    """

    name: str = ""
    store: StateStore = NpzStore()
    trainable_ops: Callable[..., Trainable]
    chain_ops: Callable[..., ChainOps]
    vi_ops: Callable[..., VIOps]
    fit_ops: Callable[..., FitOps]
    reinforce_ops: Callable[..., ReinforceOps]

    def backend(self) -> Any:
        """The runtime's `recosim.core.backend.Backend`."""
        raise NotImplementedError

    def distributions(self) -> Any:
        """The runtime's TFP distributions module."""
        raise NotImplementedError

    def key(self, seed: int) -> Any:
        """The framework's random key for ``seed``."""
        raise NotImplementedError

    def fold(self, key: Any, data: int) -> Any:
        """A new key: ``data`` folded into ``key``."""
        raise NotImplementedError

    def flatten(self, tree: Any) -> tuple[list[Any], Callable[[Sequence[Any]], Any]]:
        """A nest's leaves and the function that rebuilds the nest from new leaves."""
        raise NotImplementedError

    def restored_array(self, saved: np.ndarray, like: Any) -> Any:
        """A checkpoint's leaf ``saved`` as the framework holds ``like`` (a TF variable is assigned in place)."""
        raise NotImplementedError

    def restored_leaf(self, saved: np.ndarray, like: Any) -> Any:
        """``saved`` as a NumPy array where ``like`` is one, else as the framework holds ``like``."""
        if isinstance(like, np.ndarray):
            return np.asarray(saved, dtype=like.dtype)
        return self.restored_array(saved, like)

    def trainable(self, init_params: Mapping[str, np.ndarray], optim: OptimizerOptions) -> Trainable:
        return self.trainable_ops(init_params, optim)

    def chains(
        self,
        problem: LatentProblem,
        sampler: SamplerOptions,
        *,
        make_model: Builder | None = None,
        trainable: Trainable | None = None,
        num_warmup_per_iteration: int = 0,
    ) -> ChainOps:
        return self.chain_ops(problem, sampler, make_model, trainable, num_warmup_per_iteration)

    def vi(
        self, problem: LatentProblem, family: str, num_draws: int, init_scale: float, optim: OptimizerOptions
    ) -> VIOps:
        return self.vi_ops(problem, family, num_draws, init_scale, optim)

    def fit(
        self, make_model: Builder, trainable: Trainable, batch: Batch, batch_size: int, log_prior: LogPrior
    ) -> FitOps:
        return self.fit_ops(make_model, trainable, batch, batch_size, log_prior)

    def reinforce(self, make_model: Builder, trainable: Trainable, spec: ReinforceSpec, horizon: int) -> ReinforceOps:
        return self.reinforce_ops(make_model, trainable, spec, horizon)


# -- shared pieces -------
class NonFiniteError(InferenceError):
    """A training run's objective or parameters stopped being finite (the message names the step)."""

    def __init__(self, message: str, step: int) -> None:
        super().__init__(message)
        self.step = step


class _Engine(LeafState):
    """Checkpoint support through the framework's nests."""

    fw: Framework

    def _flatten(self, tree: Any) -> tuple[list[Any], Callable[[Sequence[Any]], Any]]:
        return self.fw.flatten(tree)

    def _restored_leaf(self, saved: np.ndarray, like: Any) -> Any:
        return self.fw.restored_leaf(saved, like)


def check_start(ops: Any, problem: LatentProblem, positions: Mapping[str, np.ndarray], what: str, fw: Any) -> None:
    """Refuse to start from a point of zero density, naming the chain, variable and step."""
    lps = np.asarray(ops.log_density(positions))
    bad = np.flatnonzero(~np.isfinite(lps))
    if bad.size:
        c = int(bad[0])
        point = {k: np.asarray(v[c]) for k, v in positions.items()}
        raise InferenceError(
            f"{what}: the log-probability at the starting point of chain {c} is {lps[c]}; "
            + explain_non_finite(ops.network(), problem.trajectory_with(point), fw.backend())
        )


def check_finite(what: str, done: int, records: Mapping[str, np.ndarray], names: Sequence[str]) -> None:
    """Stop at the first unit of a chunk whose recorded ``names`` are not finite."""
    for name in names:
        values = np.asarray(records[name])
        bad = ~np.isfinite(values.reshape(values.shape[0], -1)).all(axis=1)
        if bad.any():
            step = done + int(np.flatnonzero(bad)[0])
            raise NonFiniteError(f"{what}: {name} is not finite at step {step}", step)


def check_finite_params(what: str, step: int, params: Mapping[str, np.ndarray]) -> None:
    """Stop when a parameter is not finite after ``step``."""
    for name, value in params.items():
        if not np.all(np.isfinite(np.asarray(value))):
            raise NonFiniteError(f"{what}: parameter {name!r} is not finite after step {step}", step)


def _stack_rows(rows: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    return {k: np.stack([np.asarray(r[k]) for r in rows]) for k in rows[0]}


# -- posterior sampling -------
class PosteriorEngine(_Engine):
    """HMC or NUTS over the latents: ``num_warmup`` adaptation steps, then ``num_samples`` draws."""

    def __init__(self, fw: Framework, problem: LatentProblem, sampler: SamplerOptions, seed: int) -> None:
        self.fw = fw
        self.problem = problem
        self.sampler = sampler
        self.seed = int(seed)
        self.chains = fw.chains(problem, sampler)
        self.key = fw.key(self.seed)

    def start(self) -> None:
        s = self.sampler
        positions = self.problem.chain_inits(s.num_chains, s.init_spread, self.seed)
        check_start(self.chains, self.problem, positions, f"{s.method} on {self.fw.name}", self.fw)
        self.chains.start(positions)

    def _tree(self) -> Any:
        return self.chains.tree()

    def _set_tree(self, tree: Any) -> None:
        self.chains.set_tree(tree)

    def advance(self, done: int, n: int) -> dict[str, np.ndarray]:
        return self.chains.advance(self.key, done, n)


# -- Monte-Carlo EM -------
class MCEMEngine(_Engine):
    """One unit is one EM iteration: an E-step with warm-started chains, then ``m_steps`` optimiser steps."""

    def __init__(
        self,
        fw: Framework,
        make_model: Builder,
        init_params: Mapping[str, np.ndarray],
        problem: LatentProblem,
        sampler: SamplerOptions,
        optim: OptimizerOptions,
        *,
        num_warmup_per_iteration: int,
        m_steps: int,
        seed: int,
    ) -> None:
        self.fw = fw
        self.problem = problem
        self.sampler = sampler
        self.m_steps = m_steps
        self.seed = int(seed)
        self.trainable = fw.trainable(init_params, optim)
        self.chains = fw.chains(
            problem,
            sampler,
            make_model=make_model,
            trainable=self.trainable,
            num_warmup_per_iteration=num_warmup_per_iteration,
        )
        self.key = fw.key(self.seed)
        self.last_samples: dict[str, np.ndarray] = {}

    def start(self) -> None:
        s = self.sampler
        self.trainable.start()
        positions = self.problem.chain_inits(s.num_chains, s.init_spread, self.seed)
        check_start(self.chains, self.problem, positions, f"mcem on {self.fw.name}", self.fw)
        self.chains.start_em(positions)

    def _tree(self) -> Any:
        return (self.trainable.tree(), self.chains.tree())

    def _set_tree(self, tree: Any) -> None:
        self.trainable.set_tree(tree[0])
        self.chains.set_tree(tree[1])

    def params_numpy(self) -> dict[str, Any]:
        return unflatten_params(self.trainable.flat_numpy())

    def advance(self, done: int, n: int) -> dict[str, np.ndarray]:
        rows = []
        for it in range(done, done + n):
            rec = self.chains.e_step(self.fw.fold(self.key, it), it)
            objective = None
            for _ in range(self.m_steps):
                value = self.chains.m_step()
                objective = value if objective is None else objective
            self.last_samples = {
                k[len("position/") :]: np.swapaxes(v, 0, 1) for k, v in rec.items() if k.startswith("position/")
            }
            row = {
                "objective": np.asarray(objective),
                "acceptance_rate": np.mean(rec["acceptance_rate"]),
                "divergences": np.sum(rec["diverging"]),
                "step_size": np.asarray(self.chains.step_size()),
            }
            params = self.trainable.flat_numpy()
            row.update({f"params/{k}": v for k, v in params.items()})
            check_finite("mcem", it, {"objective": row["objective"][None]}, ["objective"])
            check_finite_params("mcem", it, params)
            rows.append(row)
        return _stack_rows(rows)


# -- variational inference -------
def vi_diagnostics(elbo: np.ndarray, sums: Mapping[str, np.ndarray], scale: np.ndarray, family: str) -> dict[str, Any]:
    """Convergence of a VI run, from the ELBO trace and the iterates averaged over the last two quarters.

    ``elbo_z``: the change of the mean ELBO from the third quarter of the steps to
    the fourth, in standard errors of that difference (steps taken as independent);
    ``loc_drift``: the largest change of a latent's averaged mean between those
    quarters, in units of its fitted standard deviation. A run counts as
    ``converged`` when ``|elbo_z| < 3`` and ``loc_drift < 0.1``.
    """
    n = elbo.shape[0]
    q3, q4 = elbo[n // 2 : (3 * n) // 4], elbo[(3 * n) // 4 :]
    out: dict[str, Any] = {"elbo_z": float("nan"), "loc_drift": float("nan"), "converged": False}
    if q3.size >= 2 and q4.size >= 2:
        se = np.sqrt(q3.var(ddof=1) / q3.size + q4.var(ddof=1) / q4.size)
        diff = q4.mean() - q3.mean()
        out["elbo_z"] = float(diff / se) if se > 0 else (0.0 if diff == 0 else float("inf"))
    w = sums["weight"]
    if np.all(w > 0):
        means = sums["loc"] / w[:, None]
        out["loc_drift"] = float(np.max(np.abs(means[1] - means[0]) / np.maximum(scale, 1e-12)))
    out["converged"] = bool(abs(out["elbo_z"]) < 3.0 and out["loc_drift"] < 0.1)
    out["averaged_steps"] = int(np.sum(w))
    out["family"] = family
    return out


class VIEngine(_Engine):
    """A Gaussian surrogate over the flattened latents; the result is its iterates averaged over the last half.

    Averaging the iterates of the second half of the steps (Polyak-Ruppert) removes
    most of the noise that stochastic ELBO gradients leave in the last iterate; the
    two quarters of that half are kept apart for the convergence diagnostic.
    """

    def __init__(
        self,
        fw: Framework,
        problem: LatentProblem,
        *,
        family: str,
        num_steps: int,
        num_draws: int,
        init_scale: float,
        optim: OptimizerOptions,
        seed: int,
    ) -> None:
        self.fw = fw
        self.problem = problem
        self.family = family
        self.num_steps = num_steps
        self.ops = fw.vi(problem, family, num_draws, init_scale, optim)
        self.key = fw.key(int(seed))
        d = problem.dimension
        self.scale_shape = (d,) if family == "meanfield" else (d, d)

    def start(self) -> None:
        loc = np.concatenate([np.asarray(self.problem.init[s.name]).ravel() for s in self.problem.slots])
        positions = {s.name: np.asarray(self.problem.init[s.name])[None] for s in self.problem.slots}
        check_start(self.ops, self.problem, positions, f"vi on {self.fw.name}", self.fw)
        self.ops.start(loc.astype(np.float32))
        d = loc.shape[0]
        self.sum_loc = np.zeros((2, d), np.float64)
        self.sum_scale = np.zeros((2, *self.scale_shape), np.float64)
        self.sum_weight = np.zeros((2,), np.float64)

    def _tree(self) -> Any:
        return (self.ops.tree(), self.sum_loc, self.sum_scale, self.sum_weight)

    def _set_tree(self, tree: Any) -> None:
        self.ops.set_tree(tree[0])
        self.sum_loc, self.sum_scale, self.sum_weight = (np.asarray(x, np.float64) for x in tree[1:])

    def windows(self, done: int, n: int) -> np.ndarray:
        """Per step of ``done .. done + n - 1``: 1 in the column of its averaging quarter (3rd or 4th)."""
        steps = np.arange(done, done + n)
        half, three = self.num_steps // 2, (3 * self.num_steps) // 4
        w = np.zeros((n, 2), np.float32)
        w[:, 0] = (steps >= half) & (steps < three)
        w[:, 1] = steps >= three
        return w

    def advance(self, done: int, n: int) -> dict[str, np.ndarray]:
        w = self.windows(done, n)
        elbo, loc, scale = self.ops.advance(self.key, done, w)
        check_finite("vi", done, {"elbo": elbo}, ["elbo"])
        if not (np.all(np.isfinite(loc)) and np.all(np.isfinite(scale))):
            raise NonFiniteError(f"vi: the surrogate's parameters are not finite after step {done + n - 1}", done)
        self.sum_loc = np.asarray(self.sum_loc) + loc
        self.sum_scale = np.asarray(self.sum_scale) + scale
        self.sum_weight = np.asarray(self.sum_weight) + w.sum(axis=0)
        return {"elbo": np.asarray(elbo)}

    def fitted(self) -> tuple[np.ndarray, np.ndarray]:
        """The averaged mean and lower-triangular scale (the last iterate if nothing was averaged)."""
        total = float(np.sum(self.sum_weight))
        if total == 0:
            return self.ops.fitted()
        loc = np.asarray(self.sum_loc).sum(axis=0) / total
        scale = np.asarray(self.sum_scale).sum(axis=0) / total
        tril = np.diag(scale) if self.family == "meanfield" else np.tril(scale)
        return loc, tril

    def sums(self) -> dict[str, np.ndarray]:
        return {"loc": np.asarray(self.sum_loc), "weight": np.asarray(self.sum_weight)}


# -- maximum likelihood / MAP -------
class FitEngine(_Engine):
    """Mean log-probability of a batch of fully observed trajectories (plus a log prior / N for MAP)."""

    def __init__(
        self,
        fw: Framework,
        make_model: Builder,
        init_params: Mapping[str, np.ndarray],
        batch: Batch,
        optim: OptimizerOptions,
        *,
        batch_size: int,
        log_prior: LogPrior,
        seed: int,
        label: str,
    ) -> None:
        self.fw = fw
        self.label = label
        self.trainable = fw.trainable(init_params, optim)
        self.ops = fw.fit(make_model, self.trainable, batch, batch_size, log_prior)
        self.key = fw.key(int(seed))

    def start(self) -> None:
        self.trainable.start()
        lps = np.asarray(self.ops.per_trajectory())
        bad = np.flatnonzero(~np.isfinite(lps))
        if bad.size:
            i = int(bad[0])
            raise InferenceError(
                f"trajectory {i} has log-probability {lps[i]} at the initial parameters; "
                + explain_non_finite(self.ops.network(), self.ops.trajectory(i), self.fw.backend())
            )

    def _tree(self) -> Any:
        return self.trainable.tree()

    def _set_tree(self, tree: Any) -> None:
        self.trainable.set_tree(tree)

    def params_numpy(self) -> dict[str, Any]:
        return unflatten_params(self.trainable.flat_numpy())

    def advance(self, done: int, n: int) -> dict[str, np.ndarray]:
        records = {"objective": np.asarray(self.ops.advance(self.key, done, n))}
        check_finite(self.label, done, records, ["objective"])
        check_finite_params(self.label, done + n - 1, self.trainable.flat_numpy())
        return records


# -- REINFORCE -------
class ReinforceEngine(_Engine):
    """Rollouts with the current parameters, advantages on the host, a gradient step on the policy's log-probability."""

    def __init__(
        self,
        fw: Framework,
        make_model: Builder,
        init_params: Mapping[str, np.ndarray],
        spec: ReinforceSpec,
        optim: OptimizerOptions,
        *,
        horizon: int,
        seed: int,
    ) -> None:
        self.fw = fw
        self.spec = spec
        self.horizon = horizon
        self.trainable = fw.trainable(init_params, optim)
        self.ops = fw.reinforce(make_model, self.trainable, spec, horizon)
        self.key = fw.key(int(seed))

    def start(self) -> None:
        self.trainable.start()
        self.running = np.zeros((self.horizon,), np.float32)
        self.has_running = np.zeros((), np.bool_)

    def _tree(self) -> Any:
        return (self.trainable.tree(), self.running, self.has_running)

    def _set_tree(self, tree: Any) -> None:
        self.trainable.set_tree(tree[0])
        self.running = np.asarray(tree[1], np.float32)
        self.has_running = np.asarray(tree[2], np.bool_)

    def params_numpy(self) -> dict[str, Any]:
        return unflatten_params(self.trainable.flat_numpy())

    def sample(self, update: int, differentiable: bool = True) -> tuple[Rollouts, np.ndarray]:
        """The rollouts of ``update`` (their keys derived from the seed and ``update``) and their rewards."""
        key = self.fw.fold(self.key, update)
        pop, run = self.spec.keys_for(key, self.fw.fold)
        batch = self.ops.rollouts(pop, run, differentiable=differentiable)
        return batch, self.spec.rewards(batch.trajectories)

    def log_probs(self, batch: Rollouts) -> np.ndarray:
        """The policy's log-probabilities of the batch's draws (scored during the rollouts, or evaluated now)."""
        if batch.log_probs is not None:
            return np.asarray(batch.log_probs)
        return np.asarray(self.ops.log_probs(batch.trajectories))

    def advance(self, done: int, n: int) -> dict[str, np.ndarray]:
        rows = []
        for update in range(done, done + n):
            batch, rewards = self.sample(update)
            if not self.spec.checked:
                self.spec.check_first(rewards, self.log_probs(batch), fresh=update == 0)
            running = np.asarray(self.running) if bool(self.has_running) else None
            adv, new_running = self.spec.advantages(rewards, running)
            if new_running is not None:
                self.running, self.has_running = np.asarray(new_running, np.float32), np.ones((), np.bool_)
            loss, norm = self.ops.step(batch, adv)
            row = {
                "mean_return": self.spec.mean_return(rewards),
                "loss": np.asarray(loss),
                "grad_norm": np.asarray(norm),
            }
            check_finite("reinforce", update, {k: np.asarray(v)[None] for k, v in row.items()}, ["loss", "grad_norm"])
            check_finite_params("reinforce", update, self.trainable.flat_numpy())
            rows.append(row)
        return _stack_rows(rows)

    def gradient_estimates(self, num_estimates: int) -> np.ndarray:
        """Independent gradient estimates at the initial parameters, flattened: ``[num_estimates, P]``."""
        self.start()
        out = []
        for k in range(num_estimates):
            batch, rewards = self.sample(k)
            if not self.spec.checked:
                self.spec.check_first(rewards, self.log_probs(batch))
            adv, _ = self.spec.advantages(rewards, None)
            out.append(self.ops.gradient(batch, adv))
        return np.stack(out)


class GRPOEngine(ReinforceEngine):
    """GRPO: group-relative advantages, ``epochs`` clipped-ratio steps per batch of rollouts, a KL penalty.

    Each update draws the rollouts with the current parameters (whose policy
    log-probabilities are the ratio's denominator), normalises the reward-to-go
    within groups of rollouts sharing a population, and takes ``epochs`` optimiser
    steps on ``mean min(r A, clip(r, 1 - clip, 1 + clip) A) - kl * KL`` with ``r``
    the probability ratio to the sampling policy and ``KL`` the k3 estimate of the
    divergence from the reference policy (the initial parameters).
    """

    def __init__(self, *args: Any, epochs: int, clip: float, kl: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.epochs, self.clip, self.kl = epochs, clip, kl

    def start(self) -> None:
        super().start()
        self.reference = self.trainable.flat_numpy()

    def advance(self, done: int, n: int) -> dict[str, np.ndarray]:
        rows = []
        for update in range(done, done + n):
            batch, rewards = self.sample(update, differentiable=False)
            trajectories = batch.trajectories
            old = self.log_probs(batch)
            if not self.spec.checked:
                self.spec.check_first(rewards, old, fresh=update == 0)
            adv, _ = self.spec.advantages(rewards, None)
            old = np.broadcast_to(old, adv.shape).astype(np.float32)
            ref = (
                old if self.kl == 0 else np.broadcast_to(self.ops.log_probs_at(self.reference, trajectories), adv.shape)
            )
            losses, norms = [], []
            for _ in range(self.epochs):
                loss, norm = self.ops.clipped_step(
                    trajectories, adv, old, np.asarray(ref, np.float32), self.clip, self.kl
                )
                losses.append(loss)
                norms.append(norm)
            row = {
                "mean_return": self.spec.mean_return(rewards),
                "loss": np.asarray(losses[-1]),
                "grad_norm": np.asarray(norms[0]),
            }
            check_finite("grpo", update, {k: np.asarray(v)[None] for k, v in row.items()}, ["loss", "grad_norm"])
            check_finite_params("grpo", update, self.trainable.flat_numpy())
            rows.append(row)
        return _stack_rows(rows)

"""What the inference methods return: NumPy arrays, histories and diagnostics.

Posterior draws convert to ArviZ ``InferenceData`` (:meth:`Posterior.to_arviz`),
so ``arviz.summary`` and ``arviz.plot_trace`` work on them; the diagnostics
(effective sample size, split R-hat) are ArviZ's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Posterior", "EMFit", "VIFit", "ParameterFit", "TrainingResult", "mcmc_diagnostics"]


def _arviz() -> Any:
    try:
        import arviz
    except ImportError as err:  # pragma: no cover - the runtime extras declare it
        raise ImportError("ArviZ is needed here; install recosim-inference[jax] or [tf]") from err
    return arviz


def _reduce(dataset: Any, fn: Any) -> dict[str, float]:
    return {str(name): float(fn(np.asarray(dataset[name].values))) for name in dataset.data_vars}


def mcmc_diagnostics(samples: Mapping[str, np.ndarray], stats: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Acceptance rate, divergences, step sizes, and per latent the smallest bulk ESS and largest split R-hat."""
    az = _arviz()
    posterior = az.convert_to_dataset({k: np.asarray(v) for k, v in samples.items()})
    num_chains = next(iter(samples.values())).shape[0]
    out: dict[str, Any] = {
        "acceptance_rate": float(np.mean(stats["acceptance_rate"])),
        "divergences": int(np.sum(stats["diverging"])),
        "step_size": [float(s) for s in np.asarray(stats["step_size"])[:, -1]],
        "ess": _reduce(az.ess(posterior, method="bulk"), np.min),
    }
    out["r_hat"] = _reduce(az.rhat(posterior, method="split"), np.max) if num_chains > 1 else {}
    if "n_steps" in stats:
        out["mean_leapfrog_steps"] = float(np.mean(stats["n_steps"]))
    return out


@dataclass
class Posterior:
    """Draws of held-out latent fields from their posterior given a logged trajectory.

    ``samples[name]`` has shape ``[chains, draws, ...]`` (static latents without a
    time axis); ``sample_stats`` holds per-draw ``lp`` (log joint),
    ``acceptance_rate``, ``diverging``, ``step_size`` and, for NUTS, ``n_steps``.
    """

    samples: dict[str, np.ndarray]
    sample_stats: dict[str, np.ndarray]
    diagnostics: dict[str, Any]
    method: str
    runtime: str
    sampling_seconds: float = float("nan")
    chunk_seconds: list[tuple[int, float]] = field(default_factory=list)

    def mean(self, name: str) -> np.ndarray:
        return np.asarray(self.samples[name]).mean(axis=(0, 1))

    def std(self, name: str) -> np.ndarray:
        return np.asarray(self.samples[name]).std(axis=(0, 1))

    def to_arviz(self) -> Any:
        """The draws as ``arviz.InferenceData`` (groups ``posterior`` and ``sample_stats``)."""
        az = _arviz()
        stats = dict(self.sample_stats)
        return az.from_dict(posterior=dict(self.samples), sample_stats=stats)

    def ess_per_second(self, *, steady: bool = False) -> dict[str, float]:
        """Smallest bulk effective sample size per latent, per second of sampling (warm-up excluded).

        ``steady=True`` times the draws from the second chunk on (``checkpoint_every``
        draws per chunk), leaving out the first chunk's compilation, and scales that
        rate to all draws.
        """
        seconds = self.sampling_seconds
        if steady and len(self.chunk_seconds) > 1:
            later = self.chunk_seconds[1:]
            draws = sum(n for n, _ in self.chunk_seconds)
            seconds = sum(s for _, s in later) / sum(n for n, _ in later) * draws
        return {k: v / seconds for k, v in self.diagnostics["ess"].items()}


@dataclass
class EMFit:
    """Monte-Carlo EM: final parameters and a per-iteration history.

    ``history`` holds, per iteration, ``objective`` (the mean completed-data
    log-probability over the E-step's draws, at the parameters the M-step
    started from: the Monte-Carlo estimate of the ELBO's energy term), the
    parameters after the M-step (``params/<name>``) and the sampler's
    ``acceptance_rate``, ``divergences`` and ``step_size``.
    """

    params: dict[str, Any]
    history: dict[str, np.ndarray]
    last_samples: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def objective(self) -> np.ndarray:
        return self.history["objective"]


@dataclass
class VIFit:
    """A Gaussian surrogate posterior over the latents, fitted by maximising the ELBO.

    ``loc`` and ``scale`` hold each latent's mean and marginal standard deviation;
    ``covariance`` is over the latents flattened and concatenated in ``names``
    order (diagonal for the mean-field family). ``elbo`` is the ELBO estimate per
    optimiser step. ``surrogate`` is the TFP distribution over that flat vector on
    the runtime's substrate.
    """

    loc: dict[str, np.ndarray]
    scale: dict[str, np.ndarray]
    covariance: np.ndarray
    elbo: np.ndarray
    family: str
    runtime: str
    names: list[str]
    shapes: list[tuple[int, ...]]
    scale_tril: np.ndarray

    def sample(self, n: int, seed: int = 0) -> dict[str, np.ndarray]:
        """``n`` draws from the surrogate, per latent ``[n, ...]`` (NumPy)."""
        rng = np.random.default_rng(seed)
        flat_loc = np.concatenate([self.loc[k].ravel() for k in self.names])
        z = flat_loc + rng.standard_normal((int(n), flat_loc.size)) @ self.scale_tril.T
        out, start = {}, 0
        for name, shape in zip(self.names, self.shapes):
            size = int(np.prod(shape, dtype=np.int64))
            out[name] = z[:, start : start + size].reshape((int(n), *shape))
            start += size
        return out

    @property
    def surrogate(self) -> Any:
        """``MultivariateNormalTriL`` over the flattened latents, on the runtime's TFP substrate."""
        if self.runtime == "jax":
            from recosim.core.backend import import_substrate_without_tensorflow

            tfd = import_substrate_without_tensorflow("jax").distributions
        else:
            import tensorflow_probability as tfp

            tfd = tfp.distributions
        loc = np.concatenate([self.loc[k].ravel() for k in self.names]).astype(np.float32)
        return tfd.MultivariateNormalTriL(loc=loc, scale_tril=self.scale_tril.astype(np.float32))


@dataclass
class ParameterFit:
    """Maximum-likelihood or MAP parameters; ``history['objective']`` per optimiser step.

    The objective is the mean log-probability per trajectory (plus, for MAP, the
    log prior divided by the number of trajectories).
    """

    params: dict[str, Any]
    history: dict[str, np.ndarray]

    @property
    def objective(self) -> np.ndarray:
        return self.history["objective"]


@dataclass
class TrainingResult:
    """REINFORCE training: final parameters and the learning curve.

    ``history`` holds per update ``mean_return`` (the reward summed over the
    horizon, averaged over users and rollouts: the learning curve), ``loss`` and
    ``grad_norm``.
    """

    params: dict[str, Any]
    history: dict[str, np.ndarray]

    @property
    def learning_curve(self) -> np.ndarray:
        return self.history["mean_return"]

"""What the inference methods return: NumPy arrays, histories and diagnostics.

Posterior draws convert to ArviZ ``InferenceData`` (:meth:`Posterior.to_arviz`),
so ``arviz.summary`` and ``arviz.plot_trace`` work on them; the diagnostics
(effective sample size, split R-hat) are ArviZ's.

ArviZ writes netCDF, where a variable's name may not hold ``/``; a latent
``"user/intent"`` is therefore named ``"user.intent"`` in ArviZ (`arviz_name`),
and the mapping back is kept in the posterior group's attribute
``recosim_names`` (JSON), which `Posterior.from_arviz` and `load_posterior` read:
``post.to_arviz().to_netcdf(path)`` and ``load_posterior(path)`` round-trip.

>>> arviz_name("user/intent")
'user.intent'
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "Posterior",
    "EMFit",
    "VIFit",
    "ParameterFit",
    "TrainingResult",
    "mcmc_diagnostics",
    "arviz_name",
    "load_posterior",
]

NAMES_ATTRIBUTE = "recosim_names"
"""The posterior group's attribute that maps ArviZ names back to latent names (JSON)."""


def arviz_name(name: str) -> str:
    """A latent's name in ArviZ and netCDF: ``"variable/field"`` becomes ``"variable.field"``."""
    return name.replace("/", ".")


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
        """The draws as ``arviz.InferenceData`` (groups ``posterior`` and ``sample_stats``), netCDF-safe.

        Latents are named by `arviz_name` (``"user.intent"``); the posterior group's
        attribute ``recosim_names`` maps those names back, with the method and runtime.
        """
        az = _arviz()
        names = {arviz_name(k): k for k in self.samples}
        if len(names) != len(self.samples):
            clash = sorted(k for k in self.samples if list(map(arviz_name, self.samples)).count(arviz_name(k)) > 1)
            raise ValueError(f"the latents {clash} have the same ArviZ name; rename one of them")
        posterior = {arviz_name(k): np.asarray(v) for k, v in self.samples.items()}
        stats = {k: np.asarray(v) for k, v in self.sample_stats.items()}
        attrs = {
            NAMES_ATTRIBUTE: json.dumps(names, sort_keys=True),
            "recosim_method": self.method,
            "recosim_runtime": self.runtime,
        }
        idata = az.from_dict(posterior=posterior, sample_stats=stats)
        idata.posterior.attrs.update(attrs)
        return idata

    @classmethod
    def from_arviz(cls, idata: Any) -> Posterior:
        """The `Posterior` that `to_arviz` (or a netCDF file it wrote) holds; diagnostics recomputed."""
        posterior = idata.posterior
        names = json.loads(posterior.attrs.get(NAMES_ATTRIBUTE, "{}"))
        samples = {names.get(str(k), str(k)): np.asarray(posterior[k].values) for k in posterior.data_vars}
        stats = {}
        if "sample_stats" in idata.groups():
            stats = {str(k): np.asarray(idata.sample_stats[k].values) for k in idata.sample_stats.data_vars}
        diagnostics = mcmc_diagnostics(samples, stats) if "acceptance_rate" in stats else {}
        method = str(posterior.attrs.get("recosim_method", ""))
        runtime = str(posterior.attrs.get("recosim_runtime", ""))
        return cls(samples, stats, diagnostics, method, runtime)

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


def load_posterior(path: str | os.PathLike[str]) -> Posterior:
    """The `Posterior` saved with ``post.to_arviz().to_netcdf(path)``."""
    idata = _arviz().from_netcdf(os.fspath(path))
    return Posterior.from_arviz(idata)


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
    the runtime's substrate. The fitted values are the iterates averaged over the
    second half of the steps. ``diagnostics``: ``elbo_z`` (the change of the mean
    ELBO from the third quarter of the steps to the fourth, in standard errors),
    ``loc_drift`` (the largest change of a latent's averaged mean between those
    quarters, in fitted standard deviations) and ``converged`` (``|elbo_z| < 3``
    and ``loc_drift < 0.1``); when it is false, run more steps.
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
    diagnostics: dict[str, Any] = field(default_factory=dict)

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
        from recosim.inference.frameworks import framework

        tfd = framework(self.runtime, "the VI surrogate").distributions()
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

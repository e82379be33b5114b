"""``recosim run calibration``: fit a user population to MovieLens 100K, validate it, simulate it.

The log is read from ``--data PATH`` (a GroupLens ``ml-100k/`` folder or recbole's
copy; without ``--data`` the copy inside an installed recbole 1.2.1 is used), split
by time (each user's last 20% held out), and the model of
`recosim.usecases.calibration.model` is fitted to the training part by MAP
(`recosim.inference.fit_map` on JAX). Under ``--out`` the job writes

* ``summary.json``: ``held_out.log_likelihood_per_interaction.{model,popularity,uniform}``
  (and the ratings' held-out log-likelihood), ``checks.<name>`` (each predictive
  check's distance), the fit's objective and time, the NUTS diagnostics;
* ``calibrated_model.npz`` (`recosim.usecases.calibration.saved`, no pickle);
* ``fit_objective.png``, ``predictive_checks.png``, ``posterior_interests.png``;
  ``posterior_interests.nc`` (ArviZ data, when h5netcdf is installed, else
  ``posterior_interests.npz``);
* ``checkpoint/``: the fit's optimiser state every ``--checkpoint-every`` steps; a
  rerun with the same options and ``--out`` resumes from it.

With ``--simulate`` the saved model then runs as a story whose recommender is a slot
(`recosim.usecases.calibration.simulate`): popularity, random and REINFORCE-trained
recommenders, written to ``simulation.json`` and ``recommenders.png``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from recosim.core.errors import RecosimError, UsageError
from recosim.core.plugins import DIFFERENTIABLE
from recosim.core.usecase import Parameter, Progress, RunSetup, UseCase, check_runtime
from recosim.usecases.calibration.checks import CheckResult
from recosim.usecases.calibration.data import GENRES, InteractionLog, find_data, read_movielens, time_split
from recosim.usecases.calibration.saved import CalibratedModel

__all__ = ["CalibrationUseCase"]

MODEL_FILE = "calibrated_model.npz"
CHECKPOINT_DIR = "checkpoint"
FIGURES = {"objective": "fit_objective.png", "checks": "predictive_checks.png", "interests": "posterior_interests.png"}


class CalibrationUseCase(UseCase):
    name = "calibration"
    summary = "a user population fitted to MovieLens 100K, validated on a time split, simulated with recommenders"
    summary_metadata = ("data", "files")
    needs = (DIFFERENTIABLE,)  # the fit follows gradients: the default runtime is one that differentiates
    parameters = (
        Parameter("data", str, "", "MovieLens 100K folder (GroupLens ml-100k/ or recbole's copy; default: recbole's)"),
        Parameter("dim", int, 8, "dimensions of the users' interests and the movies' features", minimum=1),
        Parameter("num_steps", int, 600, "Adam steps of the MAP fit", minimum=1),
        Parameter("learning_rate", float, 0.05, "Adam learning rate of the MAP fit"),
        Parameter("checkpoint_every", int, 50, "fit steps between checkpoints", minimum=1),
        Parameter("replicates", int, 5, "simulated replicates per predictive check", minimum=1),
        Parameter("posterior_users", int, 3, "users whose interests NUTS samples (0: none)", minimum=0),
        Parameter("num_warmup", int, 200, "NUTS warm-up steps", minimum=1),
        Parameter("num_samples", int, 200, "NUTS draws per chain", minimum=1),
        Parameter("num_chains", int, 2, "NUTS chains", minimum=1),
        Parameter(
            "simulate", bool, False, "also run the saved model with popularity, random and REINFORCE recommenders"
        ),
        Parameter("sim_users", int, 200, "users drawn from the fitted population per simulated run", minimum=1),
        Parameter("horizon", int, 20, "steps of each simulated run", minimum=1),
        Parameter("slate_size", int, 5, "movies per recommended slate", minimum=1),
        Parameter(
            "reinforce_steps", int, 200, "REINFORCE updates of the learnt recommender (0: leave it out)", minimum=0
        ),
    )

    def check(self, params: dict[str, Any]) -> dict[str, Any]:
        params["data"] = str(find_data(params["data"] or None))
        if not params["learning_rate"] > 0:
            raise UsageError(f"--learning-rate must be > 0, got {params['learning_rate']:g}")
        return params

    def setup(
        self, *, runtime: str, seed: Any, out: Path | str | None, validate: bool = False, **params: Any
    ) -> RunSetup:
        checked = self.validate(params)
        check_runtime(runtime, needs=self.needs)  # the fit follows gradients: refused before any work otherwise
        return super().setup(runtime=runtime, seed=seed, out=out, validate=validate, **checked)

    def simulate(self, setup: RunSetup, progress: Progress | None = None) -> dict[str, Any]:
        from recosim.usecases.calibration import checks as ck
        from recosim.usecases.calibration.fit import fit_population, sample_interests, training_data

        p = setup.params
        log = read_movielens(p["data"])
        split = time_split(log)
        data = training_data(log, split, p["dim"])
        total = p["num_steps"]

        def report(done: int, _records: Any) -> None:
            if progress is not None:
                progress(done, total)

        started = time.perf_counter()
        try:
            fit = fit_population(
                data,
                num_steps=total,
                learning_rate=p["learning_rate"],
                seed=setup.seed,
                checkpoint=None if setup.out is None else setup.out / CHECKPOINT_DIR,
                checkpoint_every=p["checkpoint_every"],
                callback=report,
                runtime=setup.runtime,
            )
        except Exception as err:
            if "cannot resume" in str(err):
                raise UsageError(f"--out {setup.out}: {err}; give another --out to start afresh") from None
            raise
        fit_seconds = time.perf_counter() - started
        params_np = {k: np.asarray(v, np.float32) for k, v in fit.params.items()}
        model = CalibratedModel(
            params_np,
            log.genres,
            log.movie_ids,
            np.bincount(log.movies[split.train], minlength=log.num_movies),
            data.shape.min_length,
        )
        lls = ck.held_out_log_likelihoods(log, split, params_np)
        rating_ll = ck.held_out_rating_log_likelihood(log, split, params_np)
        checks = ck.predictive_checks(
            log, split, params_np, min_length=data.shape.min_length, replicates=p["replicates"], seed=setup.seed
        )
        objective = np.asarray(fit.history["objective"], np.float64)
        summary: dict[str, Any] = {
            "log": {
                "users": log.num_users,
                "movies": log.num_movies,
                "interactions": len(log),
                "held_out_interactions": int(split.test.sum()),
            },
            "held_out": {
                "log_likelihood_per_interaction": lls,
                "rating_log_likelihood_per_interaction": rating_ll,
            },
            "checks": {name: c.distance for name, c in checks.items()},
            "check_statistics": {
                "gini": {
                    "held_out": float(checks["gini"].observed[0]),
                    "simulated": float(checks["gini"].simulated.mean()),
                },
                "genres": {
                    "held_out": dict(zip(GENRES, checks["genres"].observed.tolist())),
                    "simulated": dict(zip(GENRES, checks["genres"].simulated.mean(0).tolist())),
                },
                "ratings": {
                    "held_out": checks["ratings"].observed.tolist(),
                    "simulated": checks["ratings"].simulated.mean(0).tolist(),
                },
            },
            "fit": {
                "method": "map",
                "steps": len(objective),
                "objective_first": float(objective[0]),
                "objective_last": float(objective[-1]),
                "seconds": fit_seconds,
            },
        }
        posterior = None
        if p["posterior_users"] > 0:
            rng = np.random.default_rng([setup.seed, 0x9057])
            users = np.sort(rng.choice(log.num_users, size=min(p["posterior_users"], log.num_users), replace=False))
            started = time.perf_counter()
            try:
                posterior = sample_interests(
                    data, params_np, users, num_chains=p["num_chains"], num_warmup=p["num_warmup"],
                    num_samples=p["num_samples"], seed=setup.seed, runtime=setup.runtime,
                )  # fmt: skip
            except Exception as err:
                raise RecosimError(f"calibration: NUTS over the interests of users {users.tolist()}: {err}") from None
            d = posterior.diagnostics
            summary["posterior"] = {
                "users": log.user_ids[users].tolist(),
                "seconds": time.perf_counter() - started,
                "min_ess": float(np.min(d["ess"]["user/interest"])),
                "max_r_hat": _largest(d.get("r_hat", {}).get("user/interest")),
                "divergences": int(np.sum(d["divergences"])),
                "acceptance_rate": float(np.mean(d["acceptance_rate"])),
            }
        if setup.out is not None:
            files = self._write(setup.out, model, fit, checks, lls, posterior, summary, log)
            summary["files"] = files
        else:
            summary["files"] = None
        if p["simulate"]:
            from recosim.usecases.calibration.saved import load_model
            from recosim.usecases.calibration.simulate import compare_recommenders

            if setup.out is not None:  # the simulation runs what was saved, as any later user would
                model = load_model(setup.out / MODEL_FILE)
            sim = compare_recommenders(
                model,
                num_users=p["sim_users"],
                horizon=p["horizon"],
                slate_size=p["slate_size"],
                reinforce_steps=p["reinforce_steps"],
                seed=setup.seed,
                runtime=setup.runtime,
            )
            summary["simulation"] = sim
            if setup.out is not None:
                from recosim.core.results import write_json_atomic

                write_json_atomic(setup.out / "simulation.json", sim)
                from recosim.usecases.calibration.plots import plot_recommenders

                plot_recommenders(
                    sim["recommenders"],
                    setup.out / "recommenders.png",
                    title=f"Calibrated MovieLens population: {p['sim_users']} users, {p['horizon']} steps, "
                    f"slates of {p['slate_size']}",
                )
                summary["files"]["simulation"] = ["simulation.json", "recommenders.png"]
        return summary

    def _write(
        self,
        out: Path,
        model: CalibratedModel,
        fit: Any,
        checks: Mapping[str, CheckResult],
        lls: Mapping[str, float],
        posterior: Any,
        summary: Mapping[str, Any],
        log: InteractionLog,
    ) -> dict[str, Any]:
        """The model file, the figures and the posterior draws under ``out``; returns their names."""
        from recosim.usecases.calibration.plots import plot_checks, plot_interests, plot_objective
        from recosim.usecases.calibration.saved import save_model

        save_model(out / MODEL_FILE, model)
        files: dict[str, Any] = {"model": MODEL_FILE, "checkpoint": CHECKPOINT_DIR + "/"}
        plot_objective(
            fit.history["objective"],
            out / FIGURES["objective"],
            title=f"MAP fit on the training part of {log.num_users} users' logs (dim {model.dim})",
        )
        plot_checks(checks, lls, out / FIGURES["checks"], title="MovieLens predictive checks: simulated vs held out")
        files["figures"] = [FIGURES["objective"], FIGURES["checks"]]
        if posterior is not None:
            users = summary["posterior"]["users"]
            idx = np.searchsorted(log.user_ids, users)
            plot_interests(
                np.asarray(posterior.samples["user/interest"]),
                model.params["interest"][idx],
                users,
                out / FIGURES["interests"],
                title="Posterior interests (NUTS, movie side fixed at MAP)",
            )
            files["figures"].append(FIGURES["interests"])
            files["posterior"] = _write_posterior(out, posterior, users)
        return files


def _largest(x: Any) -> float | None:
    """The largest entry, or None where the diagnostic was not computed (split R-hat needs two chains)."""
    return None if x is None else float(np.max(x))


def _write_posterior(out: Path, posterior: Any, users: list[int]) -> str:
    """The NUTS draws as ArviZ data (NetCDF through h5netcdf), else the raw draws as ``.npz``."""
    draws = np.asarray(posterior.samples["user/interest"])  # [chains, draws, users, dim]
    try:
        import arviz
        import h5netcdf  # noqa: F401
    except ImportError:
        np.savez(out / "posterior_interests.npz", interest=draws, users=np.asarray(users))
        return "posterior_interests.npz"
    idata = arviz.from_dict(
        posterior={"interest": draws},
        sample_stats={k: np.asarray(v) for k, v in posterior.sample_stats.items()},
        coords={"user": users, "dim": np.arange(draws.shape[-1])},
        dims={"interest": ["user", "dim"]},
    )
    idata.to_netcdf(str(out / "posterior_interests.nc"), engine="h5netcdf")
    return "posterior_interests.nc"

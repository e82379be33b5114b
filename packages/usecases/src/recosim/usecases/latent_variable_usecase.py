"""``recosim run latent-variable``: learn the users' satisfaction sensitivities by Monte-Carlo EM (paper 4.2, figure 2).

One trajectory of the latent-variable model (`recosim.usecases.latent_variable`)
is simulated at the true sensitivities ``alpha = 0.8``; the users' intents are
then held out and ``alpha`` is learnt back from the slates, satisfactions and
choices alone, by Monte-Carlo EM (`recosim.inference.fit_mcem`): each iteration's
E-step draws the intents from their posterior with HMC (chains warm-started from
the previous iteration, step size adapted during each burn-in), and its M-step
takes one Adam step on ``alpha`` (started evenly on ``[0, 1]``, clipped to
``[0, 1]``) to raise the mean log-probability of the completed trajectories.
Under ``--out`` the job writes

* ``history.csv`` and ``history.json``: per EM iteration the sensitivity
  estimates, their mean absolute error against the truth, the ELBO estimate, the
  sampler's acceptance rate, step size and divergences;
* ``summary.json``: the options, the final estimates and errors, the first and
  last ELBO; ``figure2.png``: the estimates against the iteration with the true
  value, and the ELBO;
* ``checkpoint/``: after every finished EM iteration the parameters, the Adam
  state, the chains' positions and step size (``.npz`` files, ``meta.json``
  replaced atomically); a rerun with the same options and ``--out`` resumes
  after the last finished iteration.

The ELBO reported is the Monte-Carlo EM objective: the mean log-probability of
the trajectory completed with each posterior draw of the intents, at the
parameters the M-step starts from. It is the ELBO of the posterior draws up to
their entropy, which does not depend on ``alpha``.

Needs a differentiable runtime (``jax`` or ``tf``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from recosim.core.errors import RecosimError, UsageError
from recosim.core.plugins import DIFFERENTIABLE, get_plugins
from recosim.core.results import write_bytes_atomic, write_json_atomic
from recosim.core.usecase import HORIZON, NUM_USERS, Parameter, Progress, RunSetup, UseCase
from recosim.usecases.latent_variable import (
    DEFAULT_HORIZON,
    LATENT,
    TRUE_ALPHA,
    LatentVariableConfig,
    init_params,
    make_model,
    true_params,
)

__all__ = ["DIFFERENTIABLE_RUNTIMES", "LatentVariableUseCase", "plot_figure2"]

DIFFERENTIABLE_RUNTIMES = tuple(get_plugins().runtimes_with(DIFFERENTIABLE))
"""The runtimes Monte-Carlo EM runs on (it needs gradients of the log-probability)."""

FIGURE_FILE = "figure2.png"
HISTORY_CSV = "history.csv"
HISTORY_JSON = "history.json"
CHECKPOINT_DIR = "checkpoint"
POSTERIOR_FILE = "posterior.nc"
"""The last E-step's draws of the users' intents (ArviZ netCDF; ``recosim.inference.load_posterior`` reads it)."""
OBSERVED = ("slate", "user state/satisfaction", "user response")
PAPER_SIZES = {"num_users": 5, "horizon": DEFAULT_HORIZON, "num_topics": 3, "slate_size": 4}
"""The sizes of the paper's figure 2 (the figure says "paper figure 2" only at them)."""


class LatentVariableUseCase(UseCase):
    name = "latent-variable"
    summary = "latent-variable user model (paper 4.2): satisfaction sensitivities learnt by Monte-Carlo EM with HMC"
    summary_metadata = ("true_alpha", "initial_alpha", "files")
    needs = ("differentiable",)
    parameters = (
        NUM_USERS.with_default(5),
        HORIZON.with_default(DEFAULT_HORIZON),
        Parameter("num_topics", int, 3, "topics: the intent mixture has one component per topic", minimum=1),
        Parameter("slate_size", int, 4, "documents per slate", minimum=1),
        Parameter("num_iterations", int, 100, "Monte-Carlo EM iterations", minimum=1),
        Parameter("num_chains", int, 4, "HMC chains per E-step (warm-started from the previous iteration)", minimum=1),
        Parameter("num_burnin_steps", int, 500, "HMC burn-in steps per E-step, adapting the step size", minimum=0),
        Parameter("num_samples", int, 1000, "HMC draws per chain kept per E-step", minimum=1),
        Parameter("step_size", float, 0.01, "initial HMC step size (then adapted during burn-in)"),
        Parameter("num_leapfrog_steps", int, 5, "leapfrog steps per HMC proposal", minimum=1),
        Parameter("target_accept", float, 0.8, "acceptance rate the step-size adaptation aims at"),
        Parameter("learning_rate", float, 0.02, "Adam learning rate of the M-step on alpha"),
    )

    def check(self, params: dict[str, Any]) -> dict[str, Any]:
        if not params["step_size"] > 0:
            raise UsageError(f"--step-size must be > 0, got {params['step_size']:g}")
        if not 0 < params["target_accept"] < 1:
            raise UsageError(f"--target-accept must be strictly between 0 and 1, got {params['target_accept']:g}")
        if not params["learning_rate"] > 0:
            raise UsageError(f"--learning-rate must be > 0, got {params['learning_rate']:g}")
        return params

    def setup(
        self, *, runtime: str, seed: Any, out: Path | str | None, validate: bool = False, **params: Any
    ) -> RunSetup:
        """The base checks, and a runtime that can differentiate (before the output directory is made)."""
        checked = self.validate(params)
        differentiable = get_plugins().runtimes_with(DIFFERENTIABLE)
        if runtime not in differentiable:
            raise UsageError(
                f"--runtime {runtime}: Monte-Carlo EM needs gradients of the log-probability, which the "
                f"{runtime!r} runtime cannot compute; use --runtime {' or --runtime '.join(differentiable)}"
            )
        try:
            _inference()
        except ImportError as err:
            raise UsageError(
                f"--runtime {runtime}: the latent-variable use case needs recosim-inference ({err}); "
                f"pip install 'recosim-usecases[{runtime}]'"
            ) from None
        return super().setup(runtime=runtime, seed=seed, out=out, validate=validate, **checked)

    def simulate(self, setup: RunSetup, progress: Progress | None = None) -> Mapping[str, Any]:
        p = setup.params
        cfg = LatentVariableConfig(num_users=p["num_users"], num_topics=p["num_topics"], slate_size=p["slate_size"])
        logged = self._observe(setup, cfg)
        fit = self._fit(setup, cfg, logged, progress)
        history = _history(fit.history, cfg.num_users)
        figures = self._summarise(setup, cfg, history)
        if setup.out is not None:
            write_history(setup.out, history)
            plot_figure2({**setup.header(), **figures}, history, setup.out / FIGURE_FILE)
            if fit.last_samples:  # a run resumed after its last iteration drew nothing new: the file stands
                write_posterior(setup.out / POSTERIOR_FILE, fit.last_samples, setup.runtime)
        return figures

    def run_rows(self, setup: RunSetup, summary: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        """One run: each user's final sensitivity (with its truth), then the run's own figures."""
        for user, alpha in enumerate(summary["final_alpha"]):
            yield {"run": 0, "user": user, "metric": "final_alpha", "value": float(alpha)}
        for metric in ("final_mae", "elbo_first", "elbo_last", "elbo_rise", "mean_acceptance_rate", "divergences"):
            yield {"run": 0, "user": None, "metric": metric, "value": float(summary[metric])}

    def headline(self, summary: Mapping[str, Any]) -> list[tuple[str, float, float | None]]:
        alpha = np.asarray(summary["final_alpha"], np.float64)
        se = float(alpha.std(ddof=1) / np.sqrt(alpha.size)) if alpha.size > 1 else None
        return [
            (f"final alpha, mean over {alpha.size} users (truth {TRUE_ALPHA:g})", float(alpha.mean()), se),
            ("mean absolute error of alpha", float(summary["final_mae"]), None),
            ("ELBO, first -> last iteration rise", float(summary["elbo_rise"]), None),
            ("HMC acceptance rate (mean)", float(summary["mean_acceptance_rate"]), None),
            ("divergences", float(summary["divergences"]), None),
        ]

    def _observe(self, setup: RunSetup, cfg: LatentVariableConfig) -> dict[str, Any]:
        """One trajectory at the true ``alpha`` on the chosen runtime, as NumPy, intents removed."""
        rt = setup.make_runtime(make_model(true_params(cfg), cfg))
        variable, _, field = LATENT.partition("/")
        traj = rt.trajectory(setup.params["horizon"])
        return {
            name: {k: np.asarray(x) for k, x in value.as_dict.items() if (name, k) != (variable, field)}
            for name, value in traj.items()
        }

    def _fit(
        self, setup: RunSetup, cfg: LatentVariableConfig, logged: dict[str, Any], progress: Progress | None
    ) -> Any:
        inference = _inference()
        p = setup.params
        total = p["num_iterations"]

        def report(done: int, _records: Any) -> None:
            if progress is not None:
                progress(done, total)

        try:
            return inference.fit_mcem(
                lambda params: make_model(params, cfg),
                init_params(cfg),
                logged,
                LATENT,
                static=LATENT,
                runtime=setup.runtime,
                method="hmc",
                num_iterations=total,
                num_chains=p["num_chains"],
                num_warmup=p["num_burnin_steps"],
                num_warmup_per_iteration=p["num_burnin_steps"],
                num_samples=p["num_samples"],
                learning_rate=p["learning_rate"],
                bounds={"alpha": (0.0, 1.0)},
                step_size=p["step_size"],
                num_leapfrog_steps=p["num_leapfrog_steps"],
                target_accept=p["target_accept"],
                seed=setup.seed,
                checkpoint=None if setup.out is None else setup.out / CHECKPOINT_DIR,
                checkpoint_every=1,
                resume=setup.out is not None,
                quiet=True,
                callback=report,
            )
        except inference.InferenceError as err:
            if "cannot resume" in str(err):
                raise UsageError(f"--out {setup.out}: {err}; give another --out to start afresh") from None
            raise RecosimError(f"latent-variable Monte-Carlo EM on {setup.runtime}: {err}") from None

    def _summarise(self, setup: RunSetup, cfg: LatentVariableConfig, history: dict[str, Any]) -> dict[str, Any]:
        alpha = history["alpha"]
        elbo = history["elbo"]
        return {
            "true_alpha": TRUE_ALPHA,
            "initial_alpha": init_params(cfg)["alpha"].tolist(),
            "final_alpha": alpha[-1],
            "final_mae": history["mae"][-1],
            "elbo_first": elbo[0],
            "elbo_last": elbo[-1],
            "elbo_rise": elbo[-1] - elbo[0],
            "mean_acceptance_rate": float(np.mean(history["acceptance_rate"])),
            "divergences": int(np.sum(history["divergences"])),
            "files": None
            if setup.out is None
            else {"history": [HISTORY_CSV, HISTORY_JSON], "figure": FIGURE_FILE, "checkpoint": CHECKPOINT_DIR + "/",
                  "posterior": POSTERIOR_FILE},
        }


def _inference() -> Any:
    import recosim.inference as inference

    return inference


def write_posterior(path: Path, samples: Mapping[str, np.ndarray], runtime: str) -> None:
    """The E-step's draws (``[chains, draws, ...]`` per latent) as an ArviZ netCDF file, written atomically."""
    posterior = _inference().Posterior(
        samples=dict(samples), sample_stats={}, diagnostics={}, method="hmc", runtime=runtime
    )
    tmp = path.with_name(f".{path.name}.tmp")
    posterior.to_arviz().to_netcdf(str(tmp))
    tmp.replace(path)


def _history(records: Mapping[str, np.ndarray], num_users: int) -> dict[str, Any]:
    """Per-iteration lists from `fit_mcem`'s records (``alpha`` after each M-step, one list per iteration)."""
    alpha = np.asarray(records["params/alpha"], dtype=np.float64).reshape(-1, num_users)
    return {
        "iteration": list(range(1, alpha.shape[0] + 1)),
        "alpha": alpha.tolist(),
        "mae": np.abs(alpha - TRUE_ALPHA).mean(axis=1).tolist(),
        "elbo": np.asarray(records["objective"], dtype=np.float64).tolist(),
        "acceptance_rate": np.asarray(records["acceptance_rate"], dtype=np.float64).tolist(),
        "step_size": np.asarray(records["step_size"], dtype=np.float64).reshape(alpha.shape[0], -1)[:, 0].tolist(),
        "divergences": np.asarray(records["divergences"]).astype(int).tolist(),
    }


def write_history(out: Path, history: Mapping[str, Any]) -> None:
    """``history.json`` and ``history.csv`` (one row per EM iteration, ``alpha_<user>`` columns), atomically."""
    write_json_atomic(out / HISTORY_JSON, history)
    num_users = len(history["alpha"][0])
    columns = [
        "iteration",
        "elbo",
        "mae",
        *(f"alpha_{u}" for u in range(num_users)),
        "acceptance_rate",
        "step_size",
        "divergences",
    ]
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(columns)
    for i, it in enumerate(history["iteration"]):
        writer.writerow(
            [
                it,
                repr(history["elbo"][i]),
                repr(history["mae"][i]),
                *map(repr, history["alpha"][i]),
                repr(history["acceptance_rate"][i]),
                repr(history["step_size"][i]),
                history["divergences"][i],
            ]
        )
    write_bytes_atomic(out / HISTORY_CSV, text.getvalue().encode())


def plot_figure2(summary: Mapping[str, Any], history: Mapping[str, Any], path: Path | str) -> Path:
    """Figure 2: each user's sensitivity estimate per EM iteration with the true value, and the ELBO.

    Drawn with matplotlib's Agg canvas (no display needed) and written atomically.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    iterations = np.asarray([0, *history["iteration"]])  # iteration 0: the starting values
    alpha = np.asarray([summary["initial_alpha"], *history["alpha"]])
    fig = Figure(figsize=(11, 4.4), layout="constrained")
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2)
    for u in range(alpha.shape[1]):
        left.plot(iterations, alpha[:, u], color=f"C{u % 10}", linewidth=1.2, label=f"user {u}")
    left.axhline(
        summary["true_alpha"], color="k", linestyle="--", linewidth=1.2, label=f"true {summary['true_alpha']:g}"
    )
    left.set_ylim(-0.05, 1.05)
    left.set_xlabel("EM iteration")
    left.set_ylabel("satisfaction sensitivity alpha")
    left.set_title(f"Estimates (final mean absolute error {summary['final_mae']:.3f})")
    if alpha.shape[1] <= 10:
        left.legend(loc="lower right", fontsize="small", ncol=2)
    right.plot(iterations[1:], history["elbo"], color="C3", linewidth=1.2)
    right.set_xlabel("EM iteration")
    right.set_ylabel("ELBO (mean completed-data log-probability)")
    right.set_title("ELBO")
    for ax in (left, right):
        ax.grid(True, alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # iterations are whole numbers
    paper = all(summary.get(k) == v for k, v in PAPER_SIZES.items())
    fig.suptitle(
        f"Latent-variable model{' (paper figure 2)' if paper else ''}: {summary['num_users']} users, "
        f"horizon {summary['horizon']}, "
        f"HMC with {summary['num_chains']} chain{'s' * (summary['num_chains'] != 1)} on {summary['runtime']}"
    )
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return write_bytes_atomic(path, buf.getvalue())
